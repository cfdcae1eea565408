/**
 * Credential ids: stable for one credential, different for others, in the documented format, and
 * holding nothing of the credential.
 */
import test from 'ava';
import { CREDENTIAL_ID, credentialId } from '../../src/util/credential-id.js';

test('a credential id is stable, distinct per credential and reveals nothing of it', (t) => {
  const token = 'Bearer wallet_dev_token_12345';
  const id = credentialId(token);
  t.regex(id, CREDENTIAL_ID);
  t.is(credentialId(token), id, 'stable');
  t.not(credentialId('Bearer wallet_dev_token_12346'), id, 'another credential, another id');
  for (const part of [
    'wallet',
    'dev',
    'token',
    '12345',
    Buffer.from(token).toString('base64url').slice(0, 8),
    Buffer.from(token).toString('hex').slice(0, 8),
  ]) {
    t.false(id.slice(5).includes(part));
  }
  t.throws(() => credentialId(''), { instanceOf: RangeError });
});
