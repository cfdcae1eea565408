/**
 * Independent verification of a signature the wallet API returned: OpenSSL (node:crypto) on the
 * DER form, @noble/curves on r‖s with low-s enforced, and public-key recovery from v.
 * @module
 */
import type { ExecutionContext } from 'ava';
import { createHash, createPublicKey, verify as nodeVerify } from 'node:crypto';
import { secp256k1 } from '@noble/curves/secp256k1.js';

export interface SignAnswer {
  r: string;
  s: string;
  v: 0 | 1;
  der: string;
  signature: string;
  signers: string[];
}

/** Check a signature over sha256(message) under the compressed public key `publicKeyHex`. */
export function checkSignature(t: ExecutionContext, message: Buffer, sig: SignAnswer, publicKeyHex: string): void {
  const digest = createHash('sha256').update(message).digest();
  const P = secp256k1.Point.fromHex(publicKeyHex);
  const { x, y } = P.toAffine();
  const b64 = (v: bigint) => Buffer.from(v.toString(16).padStart(64, '0'), 'hex').toString('base64url');
  const key = createPublicKey({ key: { kty: 'EC', crv: 'secp256k1', x: b64(x), y: b64(y) }, format: 'jwk' });
  t.true(nodeVerify('sha256', message, key, Buffer.from(sig.der, 'hex')), 'OpenSSL verifies the DER signature');
  const rsv = Buffer.from(sig.signature, 'hex');
  t.is(rsv.length, 65);
  t.true(
    secp256k1.verify(rsv.subarray(0, 64), digest, Buffer.from(publicKeyHex, 'hex'), { prehash: false, lowS: true }),
    'noble verifies it, low-s',
  );
  const recovered = secp256k1.Signature.fromBytes(rsv.subarray(0, 64), 'compact')
    .addRecoveryBit(sig.v)
    .recoverPublicKey(digest);
  t.is(recovered.toHex(true), publicKeyHex, 'v recovers the wallet key');
}
