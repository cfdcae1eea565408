/**
 * What a wallet request can run into beyond bad input, each with the HTTP status the API answers
 * it with. Messages are for the coordinator's log: they name nodes and reasons, never key
 * material or tokens. What the client is told is `publicDetail`: for failures inside the node
 * group it is a fixed sentence, because a reason may be text a node sent (an abort reason, an
 * error message) and a node's text is never passed on to API clients — a compromised node could
 * otherwise speak to the wallet server through the coordinator, or learn what it answered.
 * @module
 */

/** A failure the API turns into a problem+json answer with this status. */
export abstract class ServiceError extends Error {
  abstract readonly status: number;
  /** the problem type's slug */
  abstract readonly problem: string;
  /** seconds a client should wait before retrying (Retry-After), if it makes sense */
  readonly retryAfterS: number | undefined = undefined;
  /** what the API answers as the problem's detail (default: the message) */
  get publicDetail(): string {
    return this.message;
  }
}

/** A wallet label the API refuses (see `labelIssue` in wallets.ts). */
export class InvalidLabelError extends ServiceError {
  override readonly name = 'InvalidLabelError';
  readonly status = 400;
  readonly problem = 'invalid-body';
}

export class WalletNotFoundError extends ServiceError {
  override readonly name = 'WalletNotFoundError';
  readonly status = 404;
  readonly problem = 'wallet-not-found';
  constructor(walletId: string) {
    super(`no wallet ${walletId}`);
  }
}

/** The wallet is archived: it neither signs nor is refreshed until it is restored. */
export class WalletArchivedError extends ServiceError {
  override readonly name = 'WalletArchivedError';
  readonly status = 409;
  readonly problem = 'wallet-archived';
  constructor(walletId: string, what: string) {
    super(
      `wallet ${walletId} is archived: ${what}; an administrator can restore it (POST /v1/wallets/${walletId}/restore)`,
    );
  }
}

/** The wallet was purged: its shares are destroyed at the nodes, so it can never be restored. */
export class WalletPurgedError extends ServiceError {
  override readonly name = 'WalletPurgedError';
  readonly status = 409;
  readonly problem = 'wallet-purged';
  constructor(walletId: string) {
    super(`wallet ${walletId} was purged: its key shares are destroyed and it can never be restored`);
  }
}

/** Not enough nodes connected (or the node group not set up yet) for what was asked. */
export class NodesUnavailableError extends ServiceError {
  override readonly name = 'NodesUnavailableError';
  readonly status = 503;
  readonly problem = 'nodes-unavailable';
  override readonly retryAfterS = 5;
}

/**
 * A wallet read from the shared database whose public key the nodes have not (yet) confirmed: not
 * enough of them answered, or they hold another key (the row was changed). Its key is withheld.
 */
export class WalletKeyUnverifiedError extends ServiceError {
  override readonly name = 'WalletKeyUnverifiedError';
  readonly status = 503;
  readonly problem = 'wallet-key-unverified';
  override readonly retryAfterS = 5;
  override get publicDetail(): string {
    return 'the wallet’s public key could not be confirmed by the nodes; try again later';
  }
}

/** The Idempotency-Key was used for a different request, or its first request is still running. */
export class IdempotencyConflictError extends ServiceError {
  override readonly name = 'IdempotencyConflictError';
  readonly status = 409;
  readonly problem = 'idempotency-conflict';
}

/**
 * A protocol run of the node group (key generation, refresh) did not finish: 502 when a node
 * misbehaved (protocol abort), 503 when one failed or was too slow. Each kind says what the client
 * is told for either status; the message (which may quote a node) is only logged.
 */
export abstract class RunFailedError extends ServiceError {
  override readonly retryAfterS = 5;
  /** the public detail after a protocol abort (502) */
  protected abstract readonly abortedDetail: string;
  /** the public detail after a failure or a timeout (503) */
  protected abstract readonly incompleteDetail: string;
  constructor(
    message: string,
    /** 502 when a node misbehaved (protocol abort), 503 when one failed or was too slow */
    readonly status: 502 | 503,
  ) {
    super(message);
  }

  override get publicDetail(): string {
    return this.status === 502 ? this.abortedDetail : this.incompleteDetail;
  }
}

/** Key generation did not finish: no wallet was created. */
export class KeygenFailedError extends RunFailedError {
  override readonly name = 'KeygenFailedError';
  readonly problem = 'keygen-failed';
  protected readonly abortedDetail = 'key generation was aborted by the node group; no wallet was created';
  protected readonly incompleteDetail = 'key generation did not complete; no wallet was created';
}

/** Every usable signer pair was tried and none produced a valid signature. */
export class SigningFailedError extends ServiceError {
  override readonly name = 'SigningFailedError';
  readonly status = 503;
  readonly problem = 'signing-failed';
  override readonly retryAfterS = 5;

  override get publicDetail(): string {
    return 'no signer set produced a valid signature';
  }
}

/** A refresh of a wallet's key shares did not finish: the wallet keeps its committed shares. */
export class RefreshFailedError extends RunFailedError {
  override readonly name = 'RefreshFailedError';
  readonly problem = 'refresh-failed';
  protected readonly abortedDetail =
    'the refresh was aborted by the node group; the wallet keeps its current key shares';
  protected readonly incompleteDetail = 'the refresh did not complete; the wallet keeps its current key shares';
}

/** A rotation was asked for while another one runs. */
export class RotationRunningError extends ServiceError {
  override readonly name = 'RotationRunningError';
  readonly status = 409;
  readonly problem = 'rotation-running';
}
