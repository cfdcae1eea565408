/**
 * The KMS interface: envelope encryption of node secrets. Each record is encrypted under a fresh
 * data key; the KMS wraps that data key under a master key it never hands out and binds an
 * encryption context (who owns the secret, what it is) as associated data, so a wrapped key unwraps
 * only for the context it was wrapped with. Providers: local file-based (./local.ts, the default);
 * AWS KMS, Azure Key Vault, IBM and PKCS#11 implement the same interface later. A provider that
 * cannot bind associated data natively must bind the canonical context some other way (e.g. inside
 * the wrapped plaintext): it must never fall back to an unbound wrap.
 * @module
 */

/**
 * Public strings bound to a wrapped key: node id, record kind, record id or wallet id, format.
 * Keys are lower-case identifiers, values printable ASCII, so the encoding below is canonical.
 * Never put a secret here: cloud KMSs log encryption contexts.
 */
export type EncryptionContext = Readonly<Record<string, string>>;

export interface Kms {
  /** Provider name, recorded in each envelope: "local", "aws", … */
  readonly name: string;
  /** Id of the master key new wraps use. Each wrapped blob names its own key, so rotation can re-wrap. */
  readonly keyId: string;
  /** Wrap a data key under the master key, bound to the context. */
  wrapKey(dataKey: Uint8Array, context: EncryptionContext): Promise<Uint8Array>;
  /** Unwrap; throws KmsError if the blob is malformed, tampered, or the context differs. The caller zeroises the result. */
  unwrapKey(wrapped: Uint8Array, context: EncryptionContext): Promise<Uint8Array>;
  /**
   * The id of the master key a wrapped blob was made under (same form as `keyId`), read from the
   * blob without unwrapping: re-wrapping after a rotation skips blobs already under `keyId`.
   * Throws KmsError 'malformed' for bytes that are not this provider's blob.
   */
  keyIdOf(wrapped: Uint8Array): string;
  /** Forget key material held in memory; later calls throw. */
  close(): Promise<void>;
}

/**
 * malformed: not a blob of this provider · unwrap-failed: wrong context, wrong key or tampered ·
 * unknown-key: the blob's key is not available · unavailable: the provider did not answer, or kept
 * throttling, after bounded retries · denied: the provider refused our credentials or permissions ·
 * config: the provider's settings are wrong · bad-key-file / insecure-key-file: local key files.
 */
export type KmsErrorCode =
  | 'malformed'
  | 'unwrap-failed'
  | 'unknown-key'
  | 'unavailable'
  | 'denied'
  | 'config'
  | 'bad-key-file'
  | 'insecure-key-file'
  | 'bad-context'
  | 'closed';

/** A KMS failure. Messages name keys and contexts by public ids only, never key material. */
export class KmsError extends Error {
  override readonly name = 'KmsError';
  constructor(
    readonly code: KmsErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

const CONTEXT_TAG = 'mpc-engine/v1/kms/context';
const KEY_RE = /^[a-z][a-z0-9-]{0,31}$/;
const VALUE_RE = /^[\x20-\x7e]{0,256}$/;
const MAX_ENTRIES = 16;

/**
 * The canonical encoding of a context, used as AAD: tag, entry count, then each entry as
 * length-prefixed key and value in key order. Injective: one context, one byte string.
 */
export function encodeContext(context: EncryptionContext): Uint8Array {
  const keys = Object.keys(context).sort();
  if (keys.length > MAX_ENTRIES)
    throw new KmsError('bad-context', `encryption context has more than ${MAX_ENTRIES} entries`);
  const parts: Uint8Array[] = [];
  const te = new TextEncoder();
  const field = (s: string): void => {
    const b = te.encode(s);
    parts.push(Uint8Array.of(b.length >> 8, b.length & 0xff), b);
  };
  field(CONTEXT_TAG);
  parts.push(Uint8Array.of(keys.length));
  for (const k of keys) {
    const v = context[k];
    if (!KEY_RE.test(k)) throw new KmsError('bad-context', 'encryption context key must match [a-z][a-z0-9-]{0,31}');
    if (typeof v !== 'string' || !VALUE_RE.test(v))
      throw new KmsError(
        'bad-context',
        `encryption context value of "${k}" must be printable ASCII, at most 256 characters`,
      );
    field(k);
    field(v);
  }
  return Buffer.concat(parts);
}
