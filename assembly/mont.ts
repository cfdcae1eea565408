// Montgomery arithmetic modulo an odd N with R = 2^(28·n), n a multiple of 4 and R > 4N.
//
// Values in Montgomery form are kept in [0, 2N) ("lazy" reduction): with R > 4N,
// a·b·R⁻¹ + m·N stays below 2N for a, b < 2N, so the kernels never branch on data and
// the final subtraction happens once, in constant time, when leaving Montgomery form.
//
// Kernels: coarsely-integrated operand scanning, two rows per pass. Each pass adds
//   a_i·b[k] + m_i·N[k] + a_{i+1}·b[k−1] + m_{i+1}·N[k−1]
// to accumulator position i+k with i64x2.extmul_{low,high}_i32x4_u (2 products per op),
// where b[k−1], N[k−1] come from copies shifted by one limb so every vector load is aligned.
// Accumulators are u64; a row pair adds less than 1.5·2^58 to a position (squaring's doubled
// operand is < 2^29), so carries are propagated only every 64 rows: 32·1.5·2^58 < 2^64. Timing depends only on n: no branch or address depends on values.
//
// Aliasing: the result may alias any input (it is written after the last read).

import { W, MASK, MASK64, limb, setLimb, condSubN, addN } from "./limbs";

@unmanaged
export class Ctx {
  /** limbs per value, a multiple of 4, with 2^(28n) > 4N */
  n: i32;
  /** n0' = −N⁻¹ mod 2^28 */
  n0inv: u32;
  /** N, n + 8 limbs (zero padded) */
  N: usize;
  /** N shifted up one limb: Ns[k] = N[k−1], n + 8 limbs */
  Ns: usize;
  /** R² mod N (written by the host) */
  R2: usize;
  /** R³ mod N (written by the host) */
  R3: usize;
  /** R mod N = Montgomery form of 1 */
  one: usize;
  /** plain 1 */
  unit: usize;
  /** u64 accumulator, 2n + 8 entries */
  T: usize;
  /** multiplicand copy b (padded), n + 8 limbs */
  b0: usize;
  /** multiplicand copy shifted by one limb, n + 8 limbs */
  b1: usize;
  /** block holding b0, b1, N, Ns at fixed STRIDE offsets (one pointer addresses all four) */
  blk: usize;
  /** general scratch, n + 8 limbs each */
  s0: usize;
  s1: usize;
  s2: usize;
}

// The operand arrays of the inner loops sit at fixed distances in one block, so a single induction
// pointer with constant offsets addresses all four (fewer address computations per iteration).
/** Most limbs per value: 8192-bit moduli need 296. */
export const MAX_LIMBS: i32 = 296;
const STRIDE: usize = 1216; // (MAX_LIMBS + 8) · 4 bytes, a multiple of 16
const OFF_B1: usize = 1216;
const OFF_N: usize = 2432;
const OFF_NS: usize = 3648;

@inline function limbBytes(n: i32): usize {
  return <usize>(n + 8) << 2;
}

function allocLimbs(n: i32): usize {
  let p = heap.alloc(limbBytes(n));
  memory.fill(p, 0, limbBytes(n));
  return p;
}

/** Allocate a context for n limbs; the host then writes N, R2 and R3 and calls ctxInit. */
export function ctxNew(n: i32): usize {
  let c = changetype<Ctx>(heap.alloc(offsetof<Ctx>()));
  c.n = n;
  c.n0inv = 0;
  if (n > MAX_LIMBS || n < 4 || (n & 3) != 0) unreachable();
  c.blk = heap.alloc(4 * STRIDE);
  memory.fill(c.blk, 0, 4 * STRIDE);
  c.b0 = c.blk;
  c.b1 = c.blk + OFF_B1;
  c.N = c.blk + OFF_N;
  c.Ns = c.blk + OFF_NS;
  c.R2 = allocLimbs(n);
  c.R3 = allocLimbs(n);
  c.one = allocLimbs(n);
  c.unit = allocLimbs(n);
  c.T = heap.alloc(<usize>(2 * n + 8) << 3);
  c.s0 = allocLimbs(n);
  c.s1 = allocLimbs(n);
  c.s2 = allocLimbs(n);
  return changetype<usize>(c);
}

export function ctxFree(cp: usize): void {
  let c = changetype<Ctx>(cp);
  heap.free(c.blk); heap.free(c.R2); heap.free(c.R3); heap.free(c.one); heap.free(c.unit);
  heap.free(c.T); heap.free(c.s0); heap.free(c.s1); heap.free(c.s2);
  heap.free(cp);
}

export function ctxN(cp: usize): usize { return changetype<Ctx>(cp).N; }
export function ctxR2(cp: usize): usize { return changetype<Ctx>(cp).R2; }
export function ctxR3(cp: usize): usize { return changetype<Ctx>(cp).R3; }

/** Derive n0', the shifted modulus and R mod N once N and R² mod N are in place. */
export function ctxInit(cp: usize): void {
  let c = changetype<Ctx>(cp);
  let n = c.n;
  let n0 = limb(c.N, 0);
  // Newton iteration for n0⁻¹ mod 2^32: x·n0 ≡ 1 (mod 8) initially, precision doubles per step.
  let x = n0;
  for (let i = 0; i < 4; i++) x = x * (2 - n0 * x);
  c.n0inv = (0 - x) & MASK;
  store<u32>(c.Ns, 0);
  memory.copy(c.Ns + 4, c.N, <usize>n << 2);
  memory.fill(c.unit, 0, limbBytes(n));
  setLimb(c.unit, 0, 1);
  mulK(c, c.one, c.R2, c.unit);
}

/** Propagate carries over accumulator positions [from, to), pushing the last carry into `to`. */
@inline function normalize(T: usize, from: i32, to: i32): void {
  let c: u64 = 0;
  for (let k = from; k < to; k++) {
    let p = T + (<usize>k << 3);
    let v = load<u64>(p) + c;
    store<u64>(p, v & MASK64);
    c = v >> W;
  }
  let p = T + (<usize>to << 3);
  store<u64>(p, load<u64>(p) + c);
}

/** Write accumulator positions [n, 2n) as limbs to r (the value is below 2N < R). */
@inline function finish(c: Ctx, r: usize): void {
  let n = c.n, T = c.T;
  let cy: u64 = 0;
  for (let k = 0; k < n; k++) {
    let v = load<u64>(T + (<usize>(k + n) << 3)) + cy;
    setLimb(r, k, <u32>(v & MASK64));
    cy = v >> W;
  }
}

/**
 * Quotients m_i, m_{i+1} of a row pair (packed as m_i | m_{i+1} << 32). extra0/extra1 are the
 * product terms of this pair that land on positions i and i+1 but are not yet in T.
 */
@inline function quotients(c: Ctx, p: usize, extra0: u64, extra1: u64): u64 {
  let n0inv = c.n0inv;
  let N0 = <u64>limb(c.N, 0), N1 = <u64>limb(c.N, 1);
  let t0 = load<u64>(p) + extra0;
  let m0 = (<u32>t0 * n0inv) & MASK;
  let t1 = load<u64>(p, 8) + extra1 + <u64>m0 * N1 + ((t0 + <u64>m0 * N0) >> W);
  let m1 = (<u32>t1 * n0inv) & MASK;
  return <u64>m0 | (<u64>m1 << 32);
}

/** After a row pair, positions i and i+1 are ≡ 0 mod 2^28: move their carries to i+2. */
@inline function carryPair(p: usize): void {
  let c0 = load<u64>(p) >> W;
  let c1 = (load<u64>(p, 8) + c0) >> W;
  store<u64>(p, load<u64>(p, 16) + c1, 16);
}

/** One 4-limb block at q (block pointer) / pp (accumulator): += m0·N + m1·Ns. */
@inline function reduceStep(q: usize, pp: usize, M0: v128, M1: v128): void {
  let V0 = v128.load(q, OFF_N), V1 = v128.load(q, OFF_NS);
  let lo = v128.load(pp), hi = v128.load(pp, 16);
  lo = i64x2.add(lo, i64x2.add(i64x2.extmul_low_i32x4_u(V0, M0), i64x2.extmul_low_i32x4_u(V1, M1)));
  hi = i64x2.add(hi, i64x2.add(i64x2.extmul_high_i32x4_u(V0, M0), i64x2.extmul_high_i32x4_u(V1, M1)));
  v128.store(pp, lo);
  v128.store(pp, hi, 16);
}

/** One 4-limb block: += a0·b0 + a1·b1 + m0·N + m1·Ns. */
@inline function mulReduceStep(q: usize, pp: usize, A0: v128, A1: v128, M0: v128, M1: v128): void {
  let X0 = v128.load(q), X1 = v128.load(q, OFF_B1);
  let V0 = v128.load(q, OFF_N), V1 = v128.load(q, OFF_NS);
  let lo = v128.load(pp), hi = v128.load(pp, 16);
  lo = i64x2.add(lo, i64x2.add(
    i64x2.add(i64x2.extmul_low_i32x4_u(X0, A0), i64x2.extmul_low_i32x4_u(V0, M0)),
    i64x2.add(i64x2.extmul_low_i32x4_u(X1, A1), i64x2.extmul_low_i32x4_u(V1, M1))));
  hi = i64x2.add(hi, i64x2.add(
    i64x2.add(i64x2.extmul_high_i32x4_u(X0, A0), i64x2.extmul_high_i32x4_u(V0, M0)),
    i64x2.add(i64x2.extmul_high_i32x4_u(X1, A1), i64x2.extmul_high_i32x4_u(V1, M1))));
  v128.store(pp, lo);
  v128.store(pp, hi, 16);
}

// The range loops run two blocks per iteration (half the loop overhead), then one odd block.

/** T[i+k] += m0·N[k] + m1·N[k−1] for k ∈ [k0, k1) (multiples of 4). */
@inline function reduceRange(c: Ctx, p: usize, M0: v128, M1: v128, k0: i32, k1: i32): void {
  let q = c.blk + (<usize>k0 << 2);
  let qe = c.blk + (<usize>k1 << 2);
  let pp = p + (<usize>k0 << 3);
  while (q + 32 <= qe) {
    reduceStep(q, pp, M0, M1);
    reduceStep(q + 16, pp + 32, M0, M1);
    q += 32;
    pp += 64;
  }
  if (q < qe) reduceStep(q, pp, M0, M1);
}

/** T[i+k] += a0·b0[k] + a1·b1[k] + m0·N[k] + m1·N[k−1] for k ∈ [k0, k1) (b0, b1 in the block). */
@inline function mulReduceRange(c: Ctx, p: usize, A0: v128, A1: v128, M0: v128, M1: v128, k0: i32, k1: i32): void {
  let q = c.blk + (<usize>k0 << 2);
  let qe = c.blk + (<usize>k1 << 2);
  let pp = p + (<usize>k0 << 3);
  while (q + 32 <= qe) {
    mulReduceStep(q, pp, A0, A1, M0, M1);
    mulReduceStep(q + 16, pp + 32, A0, A1, M0, M1);
    q += 32;
    pp += 64;
  }
  if (q < qe) mulReduceStep(q, pp, A0, A1, M0, M1);
}

/** r = a·b·R⁻¹ mod N, in [0, 2N) for a, b < 2N. */
export function mulK(c: Ctx, r: usize, a: usize, b: usize): void {
  let n = c.n, T = c.T;
  let B = c.b0, Bs = c.b1;
  memory.copy(B, b, <usize>n << 2);
  store<u32>(Bs, 0);
  memory.copy(Bs + 4, b, <usize>n << 2);
  memory.fill(T, 0, <usize>(2 * n + 8) << 3);
  let b0 = <u64>limb(b, 0), b1 = <u64>limb(b, 1);
  for (let i = 0; i < n; i += 2) {
    let a0 = limb(a, i), a1 = limb(a, i + 1);
    let p = T + (<usize>i << 3);
    let m = quotients(c, p, <u64>a0 * b0, <u64>a0 * b1 + <u64>a1 * b0);
    mulReduceRange(c, p, i32x4.splat(a0), i32x4.splat(a1),
      i32x4.splat(<u32>m), i32x4.splat(<u32>(m >> 32)), 0, n + 4);
    carryPair(p);
    if ((i & 63) == 62) normalize(T, i + 2, i + n + 2);
  }
  finish(c, r);
}

/** r = a²·R⁻¹ mod N, in [0, 2N) for a < 2N. About 3/4 of the products of mulK. */
export function sqrK(c: Ctx, r: usize, a: usize): void {
  let n = c.n, T = c.T;
  // D[k] = 2·a[k] (< 2^29), Ds[k] = D[k−1]
  let D = c.b0, Ds = c.b1;
  store<u32>(Ds, 0);
  for (let k = 0; k < n; k++) {
    let d = limb(a, k) << 1;
    setLimb(D, k, d);
    setLimb(Ds, k + 1, d);
  }
  memory.fill(T, 0, <usize>(2 * n + 8) << 3);
  for (let i = 0; i < n; i += 2) {
    let a0 = limb(a, i), a1 = limb(a, i + 1);
    let p = T + (<usize>i << 3);
    // Square terms of rows i and i+1 at offsets k < ks, where the vector loop cannot
    // start yet: a_i² at k = i, 2a_i·a_k for i < k; a_{i+1}² at k = i+2, 2a_{i+1}·a_{k−1} for k > i+2.
    let ks = (i + 6) & ~3; // first multiple of 4 that is ≥ i + 3
    let k = i;
    store<u64>(p + (<usize>k << 3), load<u64>(p + (<usize>k << 3)) + <u64>a0 * <u64>a0);
    for (k = i + 1; k < ks && k < n; k++) {
      let q = p + (<usize>k << 3);
      store<u64>(q, load<u64>(q) + <u64>a0 * <u64>limb(D, k));
    }
    if (i + 2 <= n) {
      let q = p + (<usize>(i + 2) << 3);
      store<u64>(q, load<u64>(q) + <u64>a1 * <u64>a1);
    }
    for (k = i + 3; k < ks && k <= n; k++) {
      let q = p + (<usize>k << 3);
      store<u64>(q, load<u64>(q) + <u64>a1 * <u64>limb(Ds, k));
    }
    let m = quotients(c, p, 0, 0);
    let M0 = i32x4.splat(<u32>m), M1 = i32x4.splat(<u32>(m >> 32));
    let kEnd = n + 4;
    if (ks > kEnd) ks = kEnd;
    reduceRange(c, p, M0, M1, 0, ks);
    mulReduceRange(c, p, i32x4.splat(a0), i32x4.splat(a1), M0, M1, ks, kEnd);
    carryPair(p);
    if ((i & 63) == 62) normalize(T, i + 2, i + n + 2);
  }
  finish(c, r);
}

/** r = x·R⁻¹ mod N for a 2n-limb x below N·R; result in [0, 2N). */
export function redcK(c: Ctx, r: usize, x: usize): void {
  let n = c.n, T = c.T;
  memory.fill(T, 0, <usize>(2 * n + 8) << 3);
  for (let k = 0; k < 2 * n; k++) store<u64>(T + (<usize>k << 3), <u64>limb(x, k));
  for (let i = 0; i < n; i += 2) {
    let p = T + (<usize>i << 3);
    let m = quotients(c, p, 0, 0);
    reduceRange(c, p, i32x4.splat(<u32>m), i32x4.splat(<u32>(m >> 32)), 0, n + 4);
    carryPair(p);
    if ((i & 63) == 62) normalize(T, i + 2, i + n + 2);
  }
  finish(c, r);
}

/** r = a + b mod 2N-lazy: inputs in [0, 2N), output in [0, 2N). */
export function addModK(c: Ctx, r: usize, a: usize, b: usize): void {
  let n = c.n;
  // 2N in s2
  addN(c.s2, c.N, c.N, n);
  addN(r, a, b, n);
  condSubN(r, r, c.s2, c.s1, n);
}

/** Montgomery form of a plain value x < 2N. */
export function toMontK(c: Ctx, r: usize, x: usize): void {
  mulK(c, r, x, c.R2);
}

/** Plain canonical value in [0, N) of a Montgomery-form x < 2N. Constant time. */
export function fromMontK(c: Ctx, r: usize, x: usize): void {
  mulK(c, r, x, c.unit);
  condSubN(r, r, c.N, c.s1, c.n);
}

/** Montgomery form of a 2n-limb x (x < R²): x_hi·R³·R⁻¹ + x_lo·R²·R⁻¹ = x·R mod N, in [0, 2N). */
export function wideToMontK(c: Ctx, r: usize, x: usize): void {
  let n = c.n;
  mulK(c, c.s0, x + (<usize>n << 2), c.R3);
  mulK(c, r, x, c.R2);
  addModK(c, r, r, c.s0);
}

// keep W referenced for readers of this module: limbs are W bits
export const LIMB_BITS: u32 = W;
