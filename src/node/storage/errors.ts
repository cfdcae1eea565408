/**
 * Errors of the node's secret storage. Each carries a stable code; messages name records by node,
 * kind and id (public) and never include key material or plaintext.
 * @module
 */

export type StorageErrorCode =
  | 'invalid-id'
  | 'invalid-kind'
  | 'too-large'
  | 'not-found'
  | 'malformed'
  | 'unsupported-version'
  | 'context-mismatch'
  | 'authentication'
  | 'wrong-provider'
  | 'locked';

/** A record could not be stored or read as asked. */
export class StorageError extends Error {
  override readonly name: string = 'StorageError';
  constructor(
    readonly code: StorageErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** markUsed, consume or load of a presignature already marked used (docs/security.md A9, A10). */
export class PresignatureUsedError extends Error {
  override readonly name = 'PresignatureUsedError';
  readonly code = 'presignature-used';
  constructor() {
    super('presignature already used');
  }
}

/** A session id this node has seen before (docs/security.md, transcript rule 6; docs/security.md A7). */
export class SessionReplayError extends Error {
  override readonly name = 'SessionReplayError';
  readonly code = 'session-replay';
  constructor() {
    super('session id already seen');
  }
}
