// Exponentiation in Montgomery form. All bases and results are Montgomery-form values in [0, 2N).
//
//  powVarK   sliding window, odd-power table     LEAK: exponent bits (use for public exponents)
//  powCTK    fixed window, whole table scanned   OK: timing and addresses depend on ebits only
//  multiPowK Straus interleaving of sliding windows, ∏ g_j^e_j with shared squarings (public e_j)
//  comb*     Lim–Lee comb for a base reused many times: ⌈bits/h⌉ squarings and multiplications
//
// Exponents are plain 25-bit-limb numbers; `ebits` is how many low bits to process (for powCTK
// and combPowCT a public upper bound, so the exponent's true length does not leak).

import { Ctx, mulK, sqrK } from "./mont";
import { bit, bits, selectN } from "./limbs";

@inline function stride(c: Ctx): usize {
  return <usize>(c.n + 8) << 2;
}

function allocTable(c: Ctx, entries: i32): usize {
  let bytes = stride(c) * <usize>entries;
  let p = heap.alloc(bytes);
  memory.fill(p, 0, bytes);
  return p;
}

@inline function entry(c: Ctx, tbl: usize, j: u32): usize {
  return tbl + stride(c) * <usize>j;
}

@inline function copyN(c: Ctx, dst: usize, src: usize): void {
  memory.copy(dst, src, <usize>c.n << 2);
}

/** Sliding-window width for an exponent of `ebits` bits (minimises table + multiplications). */
export function windowFor(ebits: i32): i32 {
  if (ebits > 2400) return 7;
  if (ebits > 768) return 6;
  if (ebits > 240) return 5;
  if (ebits > 80) return 4;
  if (ebits > 24) return 3;
  return 2;
}

/** tbl[j] = g^(2j+1) for j < 2^(k−1). */
function oddPowers(c: Ctx, g: usize, k: i32): usize {
  let count = 1 << (k - 1);
  let tbl = allocTable(c, count);
  copyN(c, tbl, g);
  let g2 = c.s0;
  sqrK(c, g2, g);
  for (let j = 1; j < count; j++) mulK(c, entry(c, tbl, j), entry(c, tbl, j - 1), g2);
  return tbl;
}

/** r = g^e (variable time in e). */
export function powVarK(c: Ctx, r: usize, g: usize, e: usize, en: i32, ebits: i32): void {
  let k = windowFor(ebits);
  let tbl = oddPowers(c, g, k);
  let started = false;
  let i = ebits - 1;
  while (i >= 0) {
    if (bit(e, en, i) == 0) {
      if (started) sqrK(c, r, r);
      i--;
      continue;
    }
    let l = i - k + 1;
    if (l < 0) l = 0;
    while (bit(e, en, l) == 0) l++;
    let val = bits(e, en, l, i - l + 1);
    if (started) {
      for (let s = l; s <= i; s++) sqrK(c, r, r);
      mulK(c, r, r, entry(c, tbl, val >> 1));
    } else {
      copyN(c, r, entry(c, tbl, val >> 1));
      started = true;
    }
    i = l - 1;
  }
  if (!started) copyN(c, r, c.one);
  heap.free(tbl);
}

/** dst = tbl[idx] by scanning every entry with a mask (no secret-dependent address). */
function scanSelect(c: Ctx, dst: usize, tbl: usize, entries: u32, idx: u32): void {
  let n = c.n;
  memory.fill(dst, 0, <usize>n << 2);
  for (let j: u32 = 0; j < entries; j++) {
    let x = j ^ idx;
    // all ones when x == 0: (x | −x) has its top bit set iff x ≠ 0
    let mask = ((x | (0 - x)) >> 31) - 1;
    selectN(dst, mask, entry(c, tbl, j), dst, n);
  }
}

/** r = g^e over exactly `ebits` bits, constant time in g and e. */
export function powCTK(c: Ctx, r: usize, g: usize, e: usize, en: i32, ebits: i32): void {
  let k = ebits > 512 ? 5 : 4;
  let entries: u32 = 1 << k;
  let tbl = allocTable(c, entries);
  copyN(c, tbl, c.one);
  copyN(c, entry(c, tbl, 1), g);
  for (let j: u32 = 2; j < entries; j++) {
    if ((j & 1) == 0) sqrK(c, entry(c, tbl, j), entry(c, tbl, j >> 1));
    else mulK(c, entry(c, tbl, j), entry(c, tbl, j - 1), g);
  }
  let windows = (ebits + k - 1) / k;
  let sel = c.s0;
  // top window first: no squarings of 1
  let w = windows - 1;
  scanSelect(c, r, tbl, entries, bits(e, en, w * k, k));
  for (w = windows - 2; w >= 0; w--) {
    for (let s = 0; s < k; s++) sqrK(c, r, r);
    scanSelect(c, sel, tbl, entries, bits(e, en, w * k, k));
    mulK(c, r, r, sel);
  }
  heap.free(tbl);
}

/**
 * r = ∏ g_j^e_j for `count` bases (variable time in the exponents). gs, es: arrays of pointers;
 * ens, ebitss: arrays of i32 (limb count and bit length of each exponent).
 */
export function multiPowK(c: Ctx, r: usize, gs: usize, es: usize, ens: usize, ebitss: usize, count: i32): void {
  let maxBits = 0;
  for (let j = 0; j < count; j++) {
    let b = load<i32>(ebitss + (<usize>j << 2));
    if (b > maxBits) maxBits = b;
  }
  // per base: odd-power table and a digit per bit position (odd window value ending there, or 0)
  let tbls = heap.alloc(<usize>count << 2);
  let digits = heap.alloc(<usize>(count * (maxBits + 1)));
  memory.fill(digits, 0, <usize>(count * (maxBits + 1)));
  for (let j = 0; j < count; j++) {
    let e = load<usize>(es + (<usize>j << 2));
    let en = load<i32>(ens + (<usize>j << 2));
    let eb = load<i32>(ebitss + (<usize>j << 2));
    let k = windowFor(eb);
    store<usize>(tbls + (<usize>j << 2), oddPowers(c, load<usize>(gs + (<usize>j << 2)), k));
    let d = digits + <usize>(j * (maxBits + 1));
    let i = eb - 1;
    while (i >= 0) {
      if (bit(e, en, i) == 0) { i--; continue; }
      let l = i - k + 1;
      if (l < 0) l = 0;
      while (bit(e, en, l) == 0) l++;
      store<u8>(d + <usize>l, <u8>bits(e, en, l, i - l + 1));
      i = l - 1;
    }
  }
  let started = false;
  for (let pos = maxBits - 1; pos >= 0; pos--) {
    if (started) sqrK(c, r, r);
    for (let j = 0; j < count; j++) {
      let v = <u32>load<u8>(digits + <usize>(j * (maxBits + 1) + pos));
      if (v == 0) continue;
      let t = entry(c, load<usize>(tbls + (<usize>j << 2)), v >> 1);
      if (started) mulK(c, r, r, t);
      else { copyN(c, r, t); started = true; }
    }
  }
  if (!started) copyN(c, r, c.one);
  for (let j = 0; j < count; j++) heap.free(load<usize>(tbls + (<usize>j << 2)));
  heap.free(tbls);
  heap.free(digits);
}

// Comb table layout: i32 h, i32 a (rows = ⌈maxBits/h⌉), then 2^h entries G[idx] = ∏_{t ∈ idx} g^(2^(t·a)).
const COMB_HEADER: usize = 16;

@inline function combEntry(c: Ctx, tbl: usize, idx: u32): usize {
  return tbl + COMB_HEADER + stride(c) * <usize>idx;
}

/** Precompute the comb table of g for exponents of up to maxBits bits, with h teeth. */
export function combNew(c: Ctx, g: usize, maxBits: i32, h: i32): usize {
  let a = (maxBits + h - 1) / h;
  let entries: u32 = 1 << h;
  let bytes = COMB_HEADER + stride(c) * <usize>entries;
  let tbl = heap.alloc(bytes);
  memory.fill(tbl, 0, bytes);
  store<i32>(tbl, h);
  store<i32>(tbl, a, 4);
  copyN(c, combEntry(c, tbl, 0), c.one);
  // G[2^t] = g^(2^(t·a))
  copyN(c, combEntry(c, tbl, 1), g);
  for (let t = 1; t < h; t++) {
    let dst = combEntry(c, tbl, 1 << t);
    copyN(c, dst, combEntry(c, tbl, 1 << (t - 1)));
    for (let s = 0; s < a; s++) sqrK(c, dst, dst);
  }
  for (let idx: u32 = 3; idx < entries; idx++) {
    if ((idx & (idx - 1)) == 0) continue;
    let top: u32 = 1 << (31 - clz(idx));
    mulK(c, combEntry(c, tbl, idx), combEntry(c, tbl, idx ^ top), combEntry(c, tbl, top));
  }
  return tbl;
}

export function combMaxBits(tbl: usize): i32 {
  return load<i32>(tbl) * load<i32>(tbl, 4);
}

@inline function combIndex(e: usize, en: i32, h: i32, a: i32, j: i32): u32 {
  let idx: u32 = 0;
  for (let t = 0; t < h; t++) idx |= bit(e, en, t * a + j) << <u32>t;
  return idx;
}

/** r = g^e from a comb table; ct = constant time (every entry scanned, every step multiplied). */
export function combPowK(c: Ctx, tbl: usize, r: usize, e: usize, en: i32, ct: bool): void {
  let h = load<i32>(tbl), a = load<i32>(tbl, 4);
  let entries: u32 = 1 << h;
  let sel = c.s0;
  if (ct) {
    scanSelect(c, r, tbl + COMB_HEADER, entries, combIndex(e, en, h, a, a - 1));
    for (let j = a - 2; j >= 0; j--) {
      sqrK(c, r, r);
      scanSelect(c, sel, tbl + COMB_HEADER, entries, combIndex(e, en, h, a, j));
      mulK(c, r, r, sel);
    }
    return;
  }
  let started = false;
  for (let j = a - 1; j >= 0; j--) {
    if (started) sqrK(c, r, r);
    let idx = combIndex(e, en, h, a, j);
    if (idx == 0) continue;
    if (started) mulK(c, r, r, combEntry(c, tbl, idx));
    else { copyN(c, r, combEntry(c, tbl, idx)); started = true; }
  }
  if (!started) copyN(c, r, c.one);
}
