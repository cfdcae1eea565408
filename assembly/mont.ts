// Montgomery arithmetic modulo an odd N with R = 2^(25·n), n a multiple of 4 and R > 4N.
//
// Values in Montgomery form are kept in [0, 2N) ("lazy" reduction): with R > 4N,
// a·b·R⁻¹ + m·N stays below 2N for a, b < 2N, so the kernels never branch on data and
// the final subtraction happens once, in constant time, when leaving Montgomery form.
//
// Products are computed in double precision. Limbs are below 2^25, so a product is an integer
// below 2^50 and a sum of four is below 2^52, exact in an f64. Adding 2^52 puts such a sum in the
// low mantissa bits, so the bit pattern is 0x4330000000000000 + sum: one i64x2.add moves two sums
// into u64 accumulators T. The constant part (one per vector step and position) is cancelled up
// front: T starts from a per-context array of −count·0x4330000000000000 (see calibrate), so a
// position is exact once all of its steps are in. Accumulators stay below 2^62 without carries.
//
// Separated operand scanning, four rows per pass, two phases per product:
//   product:   T[i+k] += a_i·b[k] + a_{i+1}·b[k−1] + a_{i+2}·b[k−2] + a_{i+3}·b[k−3]
//   reduction: quotients m_i..m_{i+3} from T[i..i+3] (a short scalar chain that also finishes
//              those positions), then T[i+k] += m_i·N[k] + … + m_{i+3}·N[k−3] for k ≥ 4
// Operands sit in f64 arrays with a copy shifted by one limb, so every vector load is aligned;
// b[k−2..k−1] and b[k−3..k−2] are the vectors loaded for the previous position pair and stay in
// registers (two loads per eight products). Squaring sums a_i·a_j over i ≤ j once (rows start at
// the diagonal) and takes twice that minus the squares.
//
// Timing depends only on n: no branch or address depends on values, and the f64 operands are
// integers (never subnormal). Aliasing: the result may alias any input (written after the last read).

import { W, MASK64, limb, setLimb, condSubN, addN } from "./limbs";

@unmanaged
export class Ctx {
  /** limbs per value, a multiple of 4, with 2^(25n) > 4N */
  n: i32;
  /** −N⁻¹ mod 2^50 (two quotient digits at once) */
  n0inv2: u64;
  /** N, n + 8 limbs (zero padded) */
  N: usize;
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
  /** f64 operand block: multiplicand and N, each with its shifted copy (see OP_X, OP_N) */
  blk: usize;
  /** initial accumulators (bias cancellation): mulK; squaring's product phase; reduction; squaring's doubling */
  biasMul: usize;
  biasSqr: usize;
  biasRed: usize;
  biasDbl: usize;
  /** general scratch, n + 8 limbs each */
  s0: usize;
  s1: usize;
  s2: usize;
}

/** Most limbs per value: 8192-bit moduli need 328. */
export const MAX_LIMBS: i32 = 328;
// An f64 array with its shifted copy SLOT bytes after it: A[k] at op + 8k, A[k−1] at op + SLOT + 8k,
// for k ∈ [−4, MAX_LIMBS + 8), zero outside [0, n). One pointer with constant offsets reaches both.
const SLOT: usize = 2752; // (MAX_LIMBS + 16) · 8, a multiple of 16
const LEAD: usize = 32; // the zero entries A[−4..−1]
const OP_X: usize = LEAD; // multiplicand (or the value squared)
const OP_N: usize = 2 * SLOT + LEAD; // modulus
const OFF_MAGIC: usize = 4 * SLOT; // f64x2 of 2^52

const MAGIC: f64 = 4503599627370496.0; // 2^52
const MAGIC_BITS: u64 = 0x4330000000000000;
const MASK2: u64 = (<u64>1 << 50) - 1;

@inline function limbBytes(n: i32): usize {
  return <usize>(n + 8) << 2;
}

@inline function accBytes(n: i32): usize {
  return <usize>(2 * n + 8) << 3;
}

function allocLimbs(n: i32): usize {
  let p = heap.alloc(limbBytes(n));
  memory.fill(p, 0, limbBytes(n));
  return p;
}

function allocAcc(n: i32): usize {
  let p = heap.alloc(accBytes(n));
  memory.fill(p, 0, accBytes(n));
  return p;
}

/** Allocate a context for n limbs; the host then writes N, R2 and R3 and calls ctxInit. */
export function ctxNew(n: i32): usize {
  let c = changetype<Ctx>(heap.alloc(offsetof<Ctx>()));
  c.n = n;
  c.n0inv2 = 0;
  if (n > MAX_LIMBS || n < 4 || (n & 3) != 0) unreachable();
  c.blk = heap.alloc(4 * SLOT + 16);
  memory.fill(c.blk, 0, 4 * SLOT + 16);
  store<f64>(c.blk + OFF_MAGIC, MAGIC);
  store<f64>(c.blk + OFF_MAGIC, MAGIC, 8);
  c.N = allocLimbs(n);
  c.R2 = allocLimbs(n);
  c.R3 = allocLimbs(n);
  c.one = allocLimbs(n);
  c.unit = allocLimbs(n);
  c.T = allocAcc(n);
  c.biasMul = allocAcc(n);
  c.biasSqr = allocAcc(n);
  c.biasRed = allocAcc(n);
  c.biasDbl = allocAcc(n);
  c.s0 = allocLimbs(n);
  c.s1 = allocLimbs(n);
  c.s2 = allocLimbs(n);
  return changetype<usize>(c);
}

export function ctxFree(cp: usize): void {
  let c = changetype<Ctx>(cp);
  heap.free(c.blk); heap.free(c.N); heap.free(c.R2); heap.free(c.R3); heap.free(c.one); heap.free(c.unit);
  heap.free(c.T); heap.free(c.biasMul); heap.free(c.biasSqr); heap.free(c.biasRed); heap.free(c.biasDbl);
  heap.free(c.s0); heap.free(c.s1); heap.free(c.s2);
  heap.free(cp);
}

export function ctxN(cp: usize): usize { return changetype<Ctx>(cp).N; }
export function ctxR2(cp: usize): usize { return changetype<Ctx>(cp).R2; }
export function ctxR3(cp: usize): usize { return changetype<Ctx>(cp).R3; }

/** Derive −N⁻¹ mod 2^50, the f64 copy of N, the bias arrays and R mod N once N and R² mod N are in place. */
export function ctxInit(cp: usize): void {
  let c = changetype<Ctx>(cp);
  let n = c.n;
  // Newton iteration for N⁻¹ mod 2^64 from N mod 2^50: x·N ≡ 1 (mod 8) initially, and every
  // step doubles the precision (3, 6, 12, 24, 48, 96 bits).
  let n0 = <u64>limb(c.N, 0) | (<u64>limb(c.N, 1) << W);
  let x = n0;
  for (let i = 0; i < 5; i++) x = x * (2 - n0 * x);
  c.n0inv2 = (0 - x) & MASK2;
  setOperand(c.blk + OP_N, c.N, n);
  calibrate(c);
  memory.fill(c.unit, 0, limbBytes(n));
  setLimb(c.unit, 0, 1);
  mulK(c, c.one, c.R2, c.unit);
}

/** op[k] = x[k] and (op + SLOT)[k + 1] = x[k] for k < n, as f64 (n a multiple of 4). */
function setOperand(op: usize, x: usize, n: i32): void {
  for (let k = 0; k < n; k += 4) {
    let v = v128.load(x + (<usize>k << 2));
    let lo = f64x2.convert_low_i32x4_u(v);
    let hi = f64x2.convert_low_i32x4_u(v128.shuffle<u32>(v, v, 2, 3, 0, 1));
    let p = op + (<usize>k << 3);
    v128.store(p, lo);
    v128.store(p, hi, 16);
    v128.store(p, lo, SLOT + 8);
    v128.store(p, hi, SLOT + 24);
  }
}

@inline function splat(v: u32): v128 {
  return f64x2.splat(<f64>v);
}

@inline function magic(c: Ctx): v128 {
  return v128.load(c.blk + OFF_MAGIC);
}

/** T[pp..pp+1] += bits(V·S0 + S·S1 + Vp·S2 + Sp·S3 + 2^52) */
@inline function rowStep(pp: usize, V: v128, S: v128, Vp: v128, Sp: v128, S0: v128, S1: v128, S2: v128, S3: v128, MG: v128): void {
  let s = f64x2.add(f64x2.add(
    f64x2.add(f64x2.mul(V, S0), f64x2.mul(S, S1)),
    f64x2.add(f64x2.mul(Vp, S2), f64x2.mul(Sp, S3))), MG);
  v128.store(pp, i64x2.add(v128.load(pp), s));
}

/**
 * T[k] += S0·A[k] + S1·A[k−1] + S2·A[k−2] + S3·A[k−3] over the position pairs from k0 to k1
 * (both even; pp = T + 8·k0 and q = op + 8·k0, qe = op + 8·k1, k1 > k0). The first pair uses the
 * multipliers F0..F3 instead and also gets C0 added.
 */
@inline function rowPass(pp: usize, q: usize, qe: usize, F0: v128, F1: v128, F2: v128, F3: v128,
    S0: v128, S1: v128, S2: v128, S3: v128, MG: v128, C0: v128): void {
  let Vp = v128.load(q - 16), Sp = v128.load(q - 16, SLOT);
  let V0 = v128.load(q), T0 = v128.load(q, SLOT);
  let s = f64x2.add(f64x2.add(
    f64x2.add(f64x2.mul(V0, F0), f64x2.mul(T0, F1)),
    f64x2.add(f64x2.mul(Vp, F2), f64x2.mul(Sp, F3))), MG);
  v128.store(pp, i64x2.add(i64x2.add(v128.load(pp), s), C0));
  Vp = V0;
  Sp = T0;
  q += 16;
  pp += 16;
  while (q + 32 <= qe) {
    let V = v128.load(q), S = v128.load(q, SLOT);
    rowStep(pp, V, S, Vp, Sp, S0, S1, S2, S3, MG);
    Vp = v128.load(q, 16);
    Sp = v128.load(q, SLOT + 16);
    rowStep(pp + 16, Vp, Sp, V, S, S0, S1, S2, S3, MG);
    q += 32;
    pp += 32;
  }
  if (q < qe) {
    let V = v128.load(q), S = v128.load(q, SLOT);
    rowStep(pp, V, S, Vp, Sp, S0, S1, S2, S3, MG);
  }
}

/** T += a·X (X: the operand block's multiplicand), rows in fours. */
function productPass(c: Ctx, a: usize): void {
  let n = c.n, T = c.T, MG = magic(c), Z = i64x2.splat(0);
  let op = c.blk + OP_X;
  let qe = op + (<usize>(n + 4) << 3);
  for (let i = 0; i < n; i += 4) {
    let S0 = splat(limb(a, i)), S1 = splat(limb(a, i + 1)), S2 = splat(limb(a, i + 2)), S3 = splat(limb(a, i + 3));
    rowPass(T + (<usize>i << 3), op, qe, S0, S1, S2, S3, S0, S1, S2, S3, MG, Z);
  }
}

/**
 * T += Σ_{i ≤ j} a_i·a_j·2^(25(i+j)) (each product once, squares included), rows in fours.
 * Row i+r covers j ≥ i+r: positions 2i..2i+3 take their six products here; from position 2i+4
 * the vector pass runs all four rows, except that row i+3 starts one position pair later.
 */
function crossPass(c: Ctx, a: usize): void {
  let n = c.n, T = c.T, MG = magic(c), Z = i64x2.splat(0);
  let op = c.blk + OP_X;
  let qe = op + (<usize>(n + 4) << 3);
  for (let i = 0; i < n; i += 4) {
    let a0 = limb(a, i), a1 = limb(a, i + 1), a2 = limb(a, i + 2), a3 = limb(a, i + 3);
    let b0 = <u64>a0, b1 = <u64>a1;
    let p = T + (<usize>(2 * i) << 3);
    store<u64>(p, load<u64>(p) + b0 * b0);
    store<u64>(p, load<u64>(p, 8) + b0 * b1, 8);
    store<u64>(p, load<u64>(p, 16) + b0 * <u64>a2 + b1 * b1, 16);
    store<u64>(p, load<u64>(p, 24) + b0 * <u64>a3 + b1 * <u64>a2, 24);
    let k0 = i + 4;
    let S0 = splat(a0), S1 = splat(a1), S2 = splat(a2), S3 = splat(a3);
    rowPass(p + 32, op + (<usize>k0 << 3), qe, S0, S1, S2, Z, S0, S1, S2, S3, MG, Z);
  }
}

/**
 * Montgomery reduction of T: T ← T + m·N with m·N ≡ −T mod R, four quotient digits per pass.
 * Positions i..i+3 are complete when pass i starts: m_i..m_{i+3} make them ≡ 0 (mod 2^100),
 * two digits at a time, and their carry goes into the first vector step.
 */
function reducePass(c: Ctx): void {
  let n = c.n, T = c.T, MG = magic(c), n0inv2 = c.n0inv2;
  let N0 = <u64>limb(c.N, 0), N1 = <u64>limb(c.N, 1), N2 = <u64>limb(c.N, 2), N3 = <u64>limb(c.N, 3);
  let op = c.blk + OP_N;
  let qe = op + (<usize>(n + 4) << 3);
  let Z = i64x2.splat(0);
  for (let i = 0; i < n; i += 4) {
    let p = T + (<usize>i << 3);
    let t0 = load<u64>(p), t1 = load<u64>(p, 8);
    let m01 = ((t0 + (t1 << W)) * n0inv2) & MASK2;
    let m0 = m01 & MASK64, m1 = m01 >> W;
    let cy = (t0 + m0 * N0) >> W;
    cy = (t1 + m0 * N1 + m1 * N0 + cy) >> W;
    let u2 = load<u64>(p, 16) + m0 * N2 + m1 * N1 + cy;
    let u3 = load<u64>(p, 24) + m0 * N3 + m1 * N2;
    let m23 = ((u2 + (u3 << W)) * n0inv2) & MASK2;
    let m2 = m23 & MASK64, m3 = m23 >> W;
    cy = (u2 + m2 * N0) >> W;
    cy = (u3 + m2 * N1 + m3 * N0 + cy) >> W;
    // digits are below 2^25: the signed conversion is exact (and a single instruction)
    let M0 = f64x2.splat(<f64><i64>m0), M1 = f64x2.splat(<f64><i64>m1);
    let M2 = f64x2.splat(<f64><i64>m2), M3 = f64x2.splat(<f64><i64>m3);
    rowPass(p + 32, op + 32, qe, M0, M1, M2, M3, M0, M1, M2, M3, MG, i64x2.replace_lane(Z, 0, cy));
  }
}

/** Calibration twin of reducePass: the same vector passes with zero quotients. */
function reduceZero(c: Ctx): void {
  let n = c.n, T = c.T, MG = magic(c), Z = i64x2.splat(0);
  let op = c.blk + OP_N;
  let qe = op + (<usize>(n + 4) << 3);
  for (let i = 0; i < n; i += 4) {
    rowPass(T + (<usize>(i + 4) << 3), op + 32, qe, Z, Z, Z, Z, Z, Z, Z, Z, MG, Z);
  }
}

/** Write accumulator positions [n, 2n) as limbs to r (the value is below 2N < R). */
function finish(c: Ctx, r: usize): void {
  let n = c.n, T = c.T;
  let cy: u64 = 0;
  for (let k = 0; k < n; k++) {
    let v = load<u64>(T + (<usize>(k + n) << 3)) + cy;
    setLimb(r, k, <u32>(v & MASK64));
    cy = v >> W;
  }
}

/**
 * Fill the bias arrays: run the vector passes on zeros from T = 0, so that T holds
 * count·bits(2^52) per position, and store the negation.
 */
function calibrate(c: Ctx): void {
  let n = c.n, T = c.T;
  let bytes = accBytes(n);
  let zero = c.s0;
  memory.fill(zero, 0, limbBytes(n));
  // reduction alone (redcK; the tail of sqrK)
  memory.fill(T, 0, bytes);
  reduceZero(c);
  negate(c.biasRed, T, n, 0);
  // squaring's doubling step also subtracts bits(2^52 + square) at every position below 2n
  negate(c.biasDbl, T, n, MAGIC_BITS);
  // product and reduction (mulK)
  memory.fill(T, 0, bytes);
  productPass(c, zero);
  reduceZero(c);
  negate(c.biasMul, T, n, 0);
  // squaring's product phase
  memory.fill(T, 0, bytes);
  crossPass(c, zero);
  negate(c.biasSqr, T, n, 0);
}

/** dst[k] = extra − src[k] for positions below 2n, −src[k] above. */
function negate(dst: usize, src: usize, n: i32, extra: u64): void {
  for (let k = 0; k < 2 * n + 8; k++) {
    let off = <usize>k << 3;
    store<u64>(dst + off, (k < 2 * n ? extra : 0) - load<u64>(src + off));
  }
}

/** r = a·b·R⁻¹ mod N, in [0, 2N) for a, b < 2N. */
export function mulK(c: Ctx, r: usize, a: usize, b: usize): void {
  let n = c.n;
  setOperand(c.blk + OP_X, b, n);
  memory.copy(c.T, c.biasMul, accBytes(n));
  productPass(c, a);
  reducePass(c);
  finish(c, r);
}

/** r = a²·R⁻¹ mod N, in [0, 2N) for a < 2N. */
export function sqrK(c: Ctx, r: usize, a: usize): void {
  let n = c.n, T = c.T, B = c.biasDbl, MG = magic(c);
  let op = c.blk + OP_X;
  setOperand(op, a, n);
  memory.copy(T, c.biasSqr, accBytes(n));
  crossPass(c, a);
  // T = 2T − squares (+ the reduction's bias): per position pair 2k, 2k+1 subtract
  // bits(2^52 + [a_k², 0]) (biasDbl holds the 2^52 parts back)
  for (let k = 0; k < n; k++) {
    let off = <usize>k << 4;
    let v = v128.load(T + off);
    let d = v128.load64_zero(op + (<usize>k << 3));
    let sq = f64x2.add(f64x2.mul(d, d), MG);
    v128.store(T + off, i64x2.add(i64x2.sub(i64x2.add(v, v), sq), v128.load(B + off)));
  }
  reducePass(c);
  finish(c, r);
}

/** r = x·R⁻¹ mod N for a 2n-limb x below N·R; result in [0, 2N). */
export function redcK(c: Ctx, r: usize, x: usize): void {
  let n = c.n, T = c.T, B = c.biasRed;
  for (let k = 0; k < 2 * n + 8; k++) {
    let off = <usize>k << 3;
    store<u64>(T + off, load<u64>(B + off) + (k < 2 * n ? <u64>limb(x, k) : 0));
  }
  reducePass(c);
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
