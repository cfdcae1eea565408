/**
 * A stable, public name for a credential (an API token, an Authorization value), for audit
 * records and logs that must say *which* credential acted without holding it.
 *
 * The id is `cred_` + 16 bytes of scrypt(value, fixed salt), base64url. Stable across restarts
 * and processes (the same credential always gets the same id, so audit lines from different days
 * can be matched), and one-way. scrypt rather than a plain hash because tokens are not always
 * long random strings: a weak token whose id sits in an audit log must not be recoverable by
 * hashing guesses at billions per second. It costs tens of milliseconds, so compute it once per
 * configured credential (at start) and reuse it, never per request.
 * @module
 */
import { scryptSync } from 'node:crypto';

const SALT = 'mpc-engine/v1/credential-id';
/** 2^14 · 8 · 128 B = 16 MiB of memory per evaluation */
const COST = { N: 1 << 14, r: 8, p: 1, maxmem: 64 * 1024 * 1024 };

export const CREDENTIAL_ID = /^cred_[A-Za-z0-9_-]{22}$/;

/** The credential's public id. @throws RangeError for an empty credential */
export function credentialId(credential: string): string {
  if (typeof credential !== 'string' || credential.length === 0) throw new RangeError('empty credential');
  return `cred_${scryptSync(credential.normalize('NFC'), SALT, 16, COST).toString('base64url')}`;
}
