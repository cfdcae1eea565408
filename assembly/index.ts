// The flat WASM boundary. Everything is pointers into this module's memory, owned by the host
// wrapper in src/wasm/. No I/O, no clock, no randomness: the host passes every value in.
//
// Plain values are n-limb arrays (25-bit limbs) below N; functions taking a context `cp` use
// its n. The host validates ranges before calling (see src/wasm/core.ts).

import { Ctx, ctxNew, ctxFree, ctxInit, ctxN, ctxR2, ctxR3, mulK, toMontK, fromMontK, wideToMontK } from "./mont";
import { powVarK, powCTK, multiPowK, combNew, combPowK, combMaxBits } from "./pow";
import { jacobi, invMod } from "./gcd";
import { condSubN, fromBytes, toBytes } from "./limbs";

export { fromBytes, toBytes };
export { ctxNew, ctxFree, ctxInit, ctxN, ctxR2, ctxR3, combMaxBits, jacobi, invMod };

export function alloc(bytes: usize): usize {
  return heap.alloc(bytes);
}

export function free(p: usize): void {
  heap.free(p);
}

@inline function ctx(cp: usize): Ctx {
  return changetype<Ctx>(cp);
}

/** r = a·b mod N (a, b < N). */
export function mulMod(cp: usize, r: usize, a: usize, b: usize): void {
  let c = ctx(cp);
  toMontK(c, c.s2, a);
  mulK(c, r, c.s2, b); // a·R · b · R⁻¹ = a·b, in [0, 2N)
  condSubN(r, r, c.N, c.s1, c.n);
}

/** r = x^e mod N, variable time in e (public exponents). */
export function powMod(cp: usize, r: usize, x: usize, e: usize, en: i32, ebits: i32): void {
  let c = ctx(cp);
  toMontK(c, r, x);
  powVarK(c, r, r, e, en, ebits);
  fromMontK(c, r, r);
}

/** r = x^e mod N over exactly `ebits` exponent bits, constant time in x and e. */
export function powModCT(cp: usize, r: usize, x: usize, e: usize, en: i32, ebits: i32): void {
  let c = ctx(cp);
  toMontK(c, r, x);
  powCTK(c, r, r, e, en, ebits);
  fromMontK(c, r, r);
}

/** r = ∏ x_j^e_j mod N (see multiPowK for the argument layout); the x_j are converted in place. */
export function multiPowMod(cp: usize, r: usize, xs: usize, es: usize, ens: usize, ebitss: usize, count: i32): void {
  let c = ctx(cp);
  for (let j = 0; j < count; j++) {
    let x = load<usize>(xs + (<usize>j << 2));
    toMontK(c, x, x);
  }
  multiPowK(c, r, xs, es, ens, ebitss, count);
  fromMontK(c, r, r);
}

/** Comb table for base x (plain, < N) and exponents up to maxBits bits, h teeth. */
export function combCreate(cp: usize, x: usize, maxBits: i32, h: i32): usize {
  let c = ctx(cp);
  toMontK(c, c.s1, x);
  return combNew(c, c.s1, maxBits, h);
}

/** r = g^e mod N from a comb table; ct selects the constant-time walk. */
export function combPowMod(cp: usize, tbl: usize, r: usize, e: usize, en: i32, ct: bool): void {
  let c = ctx(cp);
  combPowK(c, tbl, r, e, en, ct);
  fromMontK(c, r, r);
}

/** r = x mod N for a 2n-limb x. */
export function reduceWide(cp: usize, r: usize, x: usize): void {
  let c = ctx(cp);
  wideToMontK(c, r, x);
  fromMontK(c, r, r);
}
