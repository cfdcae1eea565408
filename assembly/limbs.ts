// Multi-precision numbers as little-endian arrays of 25-bit limbs, one limb per u32.
//
// Why 25 bits: the Montgomery kernels (mont.ts) multiply limbs as doubles; a 25×25-bit product is
// below 2^50, so a sum of four products is an exact f64 below 2^52 that a single addition of 2^52
// turns into an integer bit pattern for the 64-bit accumulators. The host converts bigint ↔ limbs
// through big-endian byte strings (fromBytes / toBytes).
//
// Every function here is constant-time in the values (loops depend on lengths only)
// unless its comment says LEAK.

export const W: u32 = 25;
export const MASK: u32 = (1 << 25) - 1;
export const MASK64: u64 = (1 << 25) - 1;

@inline export function limb(p: usize, i: i32): u32 {
  return load<u32>(p + (<usize>i << 2));
}

@inline export function setLimb(p: usize, i: i32, v: u32): void {
  store<u32>(p + (<usize>i << 2), v);
}

/** r = a - b over n limbs; returns the final borrow (0 or 1). r may alias a or b. */
export function subN(r: usize, a: usize, b: usize, n: i32): u32 {
  let borrow: i32 = 0;
  for (let i = 0; i < n; i++) {
    let d = <i32>limb(a, i) - <i32>limb(b, i) - borrow;
    borrow = (d >>> 31); // 1 when negative
    setLimb(r, i, <u32>d & MASK);
  }
  return <u32>borrow;
}

/** r = a + b over n limbs; returns the carry out (0 or 1). r may alias a or b. */
export function addN(r: usize, a: usize, b: usize, n: i32): u32 {
  let carry: u32 = 0;
  for (let i = 0; i < n; i++) {
    let s = limb(a, i) + limb(b, i) + carry;
    carry = s >> W;
    setLimb(r, i, s & MASK);
  }
  return carry;
}

/** r = mask ? a : b, limb-wise (mask is all ones or zero). r may alias a or b. */
export function selectN(r: usize, mask: u32, a: usize, b: usize, n: i32): void {
  let m = v128.splat<u32>(mask);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    let off = <usize>i << 2;
    v128.store(r + off, v128.bitselect(v128.load(a + off), v128.load(b + off), m));
  }
  for (; i < n; i++) setLimb(r, i, (limb(a, i) & mask) | (limb(b, i) & ~mask));
}

/** r = (a < m) ? a : a - m, in constant time; a < 2m expected. r may alias a. tmp: n limbs. */
export function condSubN(r: usize, a: usize, m: usize, tmp: usize, n: i32): void {
  let borrow = subN(tmp, a, m, n);
  selectN(r, 0 - borrow, a, tmp, n);
}

/** Compare a and b over n limbs: -1, 0, 1. LEAK: returns early (use on public values). */
export function cmpN(a: usize, b: usize, n: i32): i32 {
  for (let i = n - 1; i >= 0; i--) {
    let x = limb(a, i), y = limb(b, i);
    if (x != y) return x < y ? -1 : 1;
  }
  return 0;
}

/** True when all n limbs are zero. LEAK: early exit. */
export function isZeroN(a: usize, n: i32): bool {
  for (let i = 0; i < n; i++) if (limb(a, i) != 0) return false;
  return true;
}

/** Shift right by one bit in place over n limbs. */
export function shr1N(a: usize, n: i32): void {
  for (let i = 0; i < n - 1; i++) {
    setLimb(a, i, (limb(a, i) >> 1) | ((limb(a, i + 1) & 1) << (W - 1)));
  }
  setLimb(a, n - 1, limb(a, n - 1) >> 1);
}

/** Index of the highest set bit plus one (0 for zero). LEAK: scans from the top. */
export function bitLength(a: usize, n: i32): i32 {
  for (let i = n - 1; i >= 0; i--) {
    let v = limb(a, i);
    if (v != 0) return i * <i32>W + (32 - <i32>clz(v));
  }
  return 0;
}

/** Bit `i` of a (0 beyond its n limbs). */
@inline export function bit(a: usize, n: i32, i: i32): u32 {
  let q = i / <i32>W;
  if (q >= n) return 0;
  return (limb(a, q) >> <u32>(i - q * <i32>W)) & 1;
}

/** `k` bits of `a` starting at bit `i` (k ≤ 24), zero beyond the top. Index-only branches. */
export function bits(a: usize, n: i32, i: i32, k: i32): u32 {
  let q = i / <i32>W;
  let s = <u32>(i - q * <i32>W);
  if (q >= n) return 0;
  let v: u64 = <u64>limb(a, q);
  if (q + 1 < n) v |= <u64>limb(a, q + 1) << W;
  return <u32>(v >> s) & ((1 << <u32>k) - 1);
}

/** dst (n limbs) = the big-endian byte string src[0..len); bytes beyond 25n bits must be zero. */
export function fromBytes(dst: usize, n: i32, src: usize, len: i32): void {
  let acc: u64 = 0;
  let accBits: u32 = 0;
  let i = 0;
  for (let j = len - 1; j >= 0 && i < n; j--) {
    acc |= <u64>load<u8>(src + <usize>j) << accBits;
    accBits += 8;
    if (accBits >= W) {
      setLimb(dst, i++, <u32>acc & MASK);
      acc >>= W;
      accBits -= W;
    }
  }
  if (i < n) setLimb(dst, i++, <u32>acc & MASK);
  for (; i < n; i++) setLimb(dst, i, 0);
}

/** dst[0..len) = big-endian bytes of the n-limb src (truncated to its low 8·len bits). */
export function toBytes(dst: usize, len: i32, src: usize, n: i32): void {
  let acc: u64 = 0;
  let accBits: u32 = 0;
  let i = 0;
  for (let j = len - 1; j >= 0; j--) {
    if (accBits < 8) {
      if (i < n) acc |= <u64>limb(src, i) << accBits;
      i++;
      accBits += W;
    }
    store<u8>(dst + <usize>j, <u8>acc);
    acc >>= 8;
    accBits -= 8;
  }
}
