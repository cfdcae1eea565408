/** A14: only canonical, on-curve, non-identity points and canonical scalars are accepted. */
import test from 'ava';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { pointFromBytes, pointToBytes, scalarFromBytes, mulG, q } from '../../src/curve/secp256k1.js';
import { Reader } from '../../src/protocol/codec.js';

const P_FIELD = 2n ** 256n - 2n ** 32n - 977n;
const hex32 = (x: bigint) => x.toString(16).padStart(64, '0');
const bytes = (h: string) => Uint8Array.from(Buffer.from(h, 'hex'));

test('valid points round-trip; noble agrees on the encoding', (t) => {
  const P = mulG(123456789n);
  const b = pointToBytes(P);
  t.true(pointFromBytes(b).equals(P));
  t.is(secp256k1.Point.fromHex(Buffer.from(b).toString('hex')).toHex(true), Buffer.from(b).toString('hex'));
});

test('rejected points: x = 0, x ≥ p, off-curve x, bad prefix, uncompressed, wrong length, identity', (t) => {
  const cases: Uint8Array[] = [
    bytes('02' + hex32(0n)), // (0, y): 0³ + 7 = 7 is not a square mod p
    bytes('02' + hex32(P_FIELD)), // x = p
    bytes('03' + hex32(P_FIELD + 5n)), // x > p
    bytes('05' + hex32(1n)), // unknown prefix
    bytes('00'), // SEC1 identity encoding
    new Uint8Array(33), // all zeros
    Uint8Array.from(Buffer.from(mulG(7n).toHex(false), 'hex')), // 65-byte uncompressed
  ];
  // an x whose x³ + 7 is not a square: a point of y² = x³ + 5 or another curve does not decode
  for (let x = 1n; x < 50n; x++) {
    const b = bytes('02' + hex32(x));
    let onCurve = true;
    try {
      secp256k1.Point.fromHex(Buffer.from(b).toString('hex'));
    } catch {
      onCurve = false;
    }
    if (!onCurve) {
      cases.push(b);
      break;
    }
  }
  for (const b of cases) t.throws(() => pointFromBytes(b), { instanceOf: RangeError });
  t.throws(() => pointToBytes(mulG(0n)), { instanceOf: RangeError });
});

test('scalars: q and above are rejected, so each scalar has one encoding', (t) => {
  t.is(scalarFromBytes(bytes(hex32(q - 1n))), q - 1n);
  t.throws(() => scalarFromBytes(bytes(hex32(q))), { instanceOf: RangeError });
  t.throws(() => scalarFromBytes(bytes(hex32(2n ** 256n - 1n))), { instanceOf: RangeError });
  t.throws(() => new Reader(bytes(hex32(q))).scalar(), { message: /below the group order/ });
});
