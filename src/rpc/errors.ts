/**
 * The codes a node answers a refused request with (`{ ok: false, code, error }`): a closed list, so
 * a code is a contract between node and coordinator (the coordinator and tests match on it, the
 * response schema accepts no other) and a typo does not compile.
 * @module
 */
export const RPC_ERROR_CODES = [
  // the request itself
  'bad-request',
  'internal',
  'unavailable',
  // a node restored from a copy, not yet reconciled with its peers (src/node/restore.ts)
  'restored-unreconciled',
  // sessions: prepare, start, deliver, abort
  'aborted',
  'bad-nonces',
  'bad-parties',
  'bad-session-keys',
  'bad-signers',
  'busy',
  'duplicate-session',
  'other-coordinator',
  'no-aux',
  'not-a-participant',
  'primes-not-ready',
  'sid-replay',
  'state-mismatch',
  'unknown-session',
  // wallets and key shares
  'archive-refused',
  'bad-share',
  'share-stale',
  'unknown-wallet',
  'wallet-exists',
  // signing
  'presignature-used',
  'unknown-presignature',
  'wrong-wallet',
  // pending state: confirmation, commit, abandonment
  'abandoned',
  'abandoned-confirmed-run',
  'bad-abandonment',
  'bad-evidence',
  'confirmed',
  'epoch-moved',
  'no-confirmation',
  'no-evidence',
  'no-pending',
  'pending-unresolved',
] as const;
export type RpcErrorCode = (typeof RPC_ERROR_CODES)[number];

/** The body of a refusal, as a node sends it. */
export function rpcFailure(code: RpcErrorCode, error: string): { ok: false; code: RpcErrorCode; error: string } {
  return { ok: false, code, error };
}
