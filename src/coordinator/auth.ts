/**
 * Wallet server authentication: the `Authorization` header must equal WALLET_SERVER_AUTH_TOKEN's
 * whole value ("Bearer <token>"). Both sides are hashed first and the digests compared with
 * `timingSafeEqual`, so the comparison takes the same time whatever the header holds — its length
 * included — and reveals nothing about how much of the token a guess got right.
 * @module
 */
import { createHash, timingSafeEqual } from 'node:crypto';

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/** A checker for presented header values; the expected value is kept only as its digest. */
export function authorizationChecker(expected: string): (presented: string | undefined) => boolean {
  if (expected.length === 0) throw new RangeError('the expected Authorization value is empty');
  const want = digest(expected);
  return (presented) => {
    const match = timingSafeEqual(digest(presented ?? ''), want);
    return match && presented !== undefined;
  };
}

/** The secret part of an Authorization value: the token after the scheme (`Bearer abc` → `abc`). */
export function tokenOf(authorization: string): string {
  const m = /^[A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]*\s+(.+)$/.exec(authorization);
  return m ? m[1]! : authorization;
}
