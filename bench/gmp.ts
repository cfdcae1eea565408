/**
 * gmp-wasm (GMP 6.3 compiled to WebAssembly) through its low-level binding, so that timed loops
 * call mpz_powm and friends on operands that already live in GMP's memory: bigint ↔ mpz
 * conversion happens once, when an operand is created or a result is read for checking.
 * @module
 */
import { init, type GMPFunctions } from 'gmp-wasm';

/** Pointer to an initialised mpz_t in GMP's memory. */
export type Mpz = number;

export class Gmp {
  private readonly owned: Mpz[] = [];

  private constructor(readonly z: GMPFunctions) {}

  static async load(): Promise<Gmp> {
    const { binding } = await init();
    return new Gmp(binding);
  }

  /** A new mpz holding v ≥ 0 (freed by dispose). */
  mpz(v = 0n): Mpz {
    if (v < 0n) throw new RangeError('only non-negative values are needed here');
    const ptr = this.z.mpz_t();
    this.z.mpz_init(ptr);
    this.z.mpz_set_string(ptr, v.toString(16), 16);
    this.owned.push(ptr);
    return ptr;
  }

  /** The value of an mpz as a bigint. */
  value(ptr: Mpz): bigint {
    return BigInt('0x' + this.z.mpz_to_string(ptr, 16));
  }

  /** r = x^e mod m (mpz_powm: GMP's variable-time sliding-window exponentiation). */
  powm(r: Mpz, x: Mpz, e: Mpz, m: Mpz): void {
    this.z.mpz_powm(r, x, e, m);
  }

  /** r = x^e mod m (mpz_powm_sec: GMP's side-channel-silent variant for odd m and e > 0). */
  powmSec(r: Mpz, x: Mpz, e: Mpz, m: Mpz): void {
    this.z.mpz_powm_sec(r, x, e, m);
  }

  dispose(): void {
    for (const ptr of this.owned.splice(0)) {
      this.z.mpz_clear(ptr);
      this.z.mpz_t_free(ptr);
    }
  }
}

/** x^e mod p·q in GMP by the CRT, all in mpz (same algorithm as CrtPow in js-bigint.ts). */
export class GmpCrt {
  private readonly p: Mpz;
  private readonly q: Mpz;
  private readonly pm1: Mpz;
  private readonly qm1: Mpz;
  private readonly pInvQ: Mpz;
  /** scratch: reduced bases, exponents, partial results */
  private readonly t: Mpz[];

  constructor(
    private readonly gmp: Gmp,
    p: bigint,
    q: bigint,
    pInvQ: bigint,
  ) {
    this.p = gmp.mpz(p);
    this.q = gmp.mpz(q);
    this.pm1 = gmp.mpz(p - 1n);
    this.qm1 = gmp.mpz(q - 1n);
    this.pInvQ = gmp.mpz(pInvQ);
    this.t = Array.from({ length: 6 }, () => gmp.mpz());
  }

  /** r = x^e mod p·q. */
  pow(r: Mpz, x: Mpz, e: Mpz): void {
    const z = this.gmp.z;
    const [xp, ep, yp, xq, eq, yq] = this.t as [Mpz, Mpz, Mpz, Mpz, Mpz, Mpz];
    z.mpz_mod(xp, x, this.p);
    z.mpz_mod(ep, e, this.pm1);
    z.mpz_powm(yp, xp, ep, this.p);
    z.mpz_mod(xq, x, this.q);
    z.mpz_mod(eq, e, this.qm1);
    z.mpz_powm(yq, xq, eq, this.q);
    // Garner: r = yp + p·((yq − yp)·p⁻¹ mod q)
    z.mpz_sub(yq, yq, yp);
    z.mpz_mul(yq, yq, this.pInvQ);
    z.mpz_mod(yq, yq, this.q);
    z.mpz_mul(r, yq, this.p);
    z.mpz_add(r, r, yp);
  }
}
