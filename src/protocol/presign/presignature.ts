/**
 * A presignature: the nonce point R = k⁻¹·G of one future signature, with this signer's secret
 * (k_i, χ_i) and the public (Δ̃_j = k_j·R, S̃_j = χ_j·R) that let anyone check each partial signature.
 *
 * Single use (docs/security.md A10): two signatures with one presignature reveal the key. The only way
 * to a partial signature is `consume()`, which takes the secret out of this object for good and
 * returns a `ConsumedPresignature`; its `id` is what the node must durably record as used before
 * it calls `sign` and releases σ_i. A consumed presignature cannot sign a second message.
 * @module
 */
import { type Point, modq, q } from '../../curve/secp256k1.js';

export interface PresignaturePublic {
  /** id: the presigning session hash (unique per presignature) */
  readonly id: Uint8Array;
  /** S: the signers' indices, sorted */
  readonly signers: readonly number[];
  /** Y: the public key it signs for */
  readonly Y: Point;
  /** R = δ⁻¹·Γ = k⁻¹·G */
  readonly R: Point;
  /** Δ̃_j = δ⁻¹·Δ_j = k_j·R, in signer order */
  readonly Delta: readonly Point[];
  /** S̃_j = δ⁻¹·S_j = χ_j·R, in signer order */
  readonly S: readonly Point[];
}

export interface PresignatureSecret {
  /** k_i */
  readonly k: bigint;
  /** χ_i, with Σ_j χ_j = k·x */
  readonly chi: bigint;
}

/** σ_i = k_i·m + r·χ_i mod q, from signer i over one digest. */
export interface PartialSignature {
  readonly presignatureId: Uint8Array;
  readonly signer: number;
  readonly sigma: bigint;
}

/** r = R.x mod q (the output checked R.x < q, so this is R.x). */
export function nonceR(pub: PresignaturePublic): bigint {
  return modq(pub.R.toAffine().x);
}

/** m: a 32-byte digest as a scalar (ECDSA's bits2int for a 256-bit order, then mod q). */
export function digestScalar(digest: Uint8Array): bigint {
  if (!(digest instanceof Uint8Array) || digest.length !== 32) throw new RangeError('digest must be 32 bytes');
  return modq(BigInt('0x' + Buffer.from(digest).toString('hex')));
}

function assertSecret(s: PresignatureSecret): void {
  if (typeof s.k !== 'bigint' || typeof s.chi !== 'bigint' || s.k <= 0n || s.k >= q || s.chi < 0n || s.chi >= q) {
    throw new RangeError('presignature secret out of range');
  }
}

export class Presignature {
  #secret: PresignatureSecret | undefined;

  private constructor(
    readonly pub: PresignaturePublic,
    /** own index */
    readonly i: number,
    secret: PresignatureSecret,
  ) {
    this.#secret = secret;
  }

  /** From presigning's output, or from storage (a presignature whose id is marked used must not be loaded). */
  static create(pub: PresignaturePublic, i: number, secret: PresignatureSecret): Presignature {
    if (!pub.signers.includes(i)) throw new RangeError('own index is not among the signers');
    if (pub.Delta.length !== pub.signers.length || pub.S.length !== pub.signers.length)
      throw new RangeError('presignature: one Δ̃_j and S̃_j per signer');
    assertSecret(secret);
    return new Presignature(pub, i, secret);
  }

  get id(): Uint8Array {
    return this.pub.id;
  }

  get consumed(): boolean {
    return this.#secret === undefined;
  }

  /** The secret, for encrypted storage of an unused presignature only. */
  exportSecret(): PresignatureSecret {
    if (!this.#secret) throw new Error('presignature already consumed');
    return this.#secret;
  }

  /**
   * Take the presignature for one signature. From now on this object is spent whatever happens:
   * persist `consumed.id` as used (durably), then call `consumed.sign(digest)`.
   */
  consume(): ConsumedPresignature {
    const s = this.#secret;
    if (!s) throw new Error('presignature already consumed');
    this.#secret = undefined;
    return new ConsumedPresignature(this.pub, this.i, s);
  }
}

export class ConsumedPresignature {
  #secret: PresignatureSecret | undefined;

  /** @internal made by Presignature.consume() */
  constructor(
    readonly pub: PresignaturePublic,
    readonly i: number,
    secret: PresignatureSecret,
  ) {
    this.#secret = secret;
  }

  /** What the node records as used before releasing σ_i. */
  get id(): Uint8Array {
    return this.pub.id;
  }

  /** σ_i = k_i·m + r·χ_i for one 32-byte digest; a second call throws (one message per presignature). */
  sign(digest: Uint8Array): PartialSignature {
    const m = digestScalar(digest);
    const s = this.#secret;
    if (!s) throw new Error('presignature already used for a signature');
    this.#secret = undefined;
    return { presignatureId: this.pub.id, signer: this.i, sigma: modq(s.k * m + nonceR(this.pub) * s.chi) };
  }
}
