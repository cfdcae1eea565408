/**
 * Standard ECDSA signatures as Bitcoin and Ethereum software expect them: low-s (s ≤ q/2, BIP-62 /
 * EIP-2), a recovery id v ∈ {0, 1} (parity of R.y, flipped when s is negated), strict DER, and the
 * 65-byte r‖s‖v form.
 * @module
 */
import { type Point, G, modq, mulPublic, q } from '../../curve/secp256k1.js';
import { modInv } from '../../wasm/index.js';

export interface EcdsaSignature {
  readonly r: bigint;
  readonly s: bigint;
  /** recovery id: parity of the y coordinate of the nonce point whose x is r */
  readonly v: 0 | 1;
}

const HALF_Q = q >> 1n;

/** (r, s) with the nonce point R = k⁻¹·G as computed: low-s form and recovery id. */
export function normalise(r: bigint, s: bigint, R: Point): EcdsaSignature {
  const odd = (R.toAffine().y & 1n) === 1n;
  if (s > HALF_Q) return { r, s: q - s, v: odd ? 0 : 1 };
  return { r, s, v: odd ? 1 : 0 };
}

/** ECDSA verification: R' = (m·s⁻¹)·G + (r·s⁻¹)·Y, valid iff R' ≠ O and R'.x ≡ r (mod q). */
export function verifyEcdsa(Y: Point, m: bigint, r: bigint, s: bigint): boolean {
  if (r <= 0n || r >= q || s <= 0n || s >= q) return false;
  const w = modInv(s, q);
  const Rp = mulPublic(G, modq(m * w)).add(mulPublic(Y, modq(r * w)));
  return !Rp.is0() && modq(Rp.toAffine().x) === r;
}

function hex32(x: bigint): string {
  return x.toString(16).padStart(64, '0');
}

/** 64-byte r‖s. */
export function toCompact(sig: EcdsaSignature): Uint8Array {
  return Uint8Array.from(Buffer.from(hex32(sig.r) + hex32(sig.s), 'hex'));
}

/** 65-byte r‖s‖v (v as 0 or 1; Ethereum transactions add 27 or the EIP-155 offset themselves). */
export function toRsv(sig: EcdsaSignature): Uint8Array {
  const out = new Uint8Array(65);
  out.set(toCompact(sig));
  out[64] = sig.v;
  return out;
}

/** Strict DER: SEQUENCE { INTEGER r, INTEGER s }, minimal positive integers. */
export function toDer(sig: EcdsaSignature): Uint8Array {
  const int = (x: bigint): number[] => {
    let bytes = [...Buffer.from(hex32(x), 'hex')];
    while (bytes.length > 1 && bytes[0] === 0) bytes = bytes.slice(1);
    if ((bytes[0] as number) & 0x80) bytes = [0, ...bytes];
    return [0x02, bytes.length, ...bytes];
  };
  const body = [...int(sig.r), ...int(sig.s)];
  return Uint8Array.from([0x30, body.length, ...body]);
}
