// Binary GCD algorithms on plain 25-bit-limb numbers: Jacobi symbol and modular inverse.
// LEAK: both take time and branches that depend on their inputs. Use them on public values,
// or blind secret inputs first (inverse of a·ρ times ρ for random ρ).

import { limb, setLimb, subN, addN, cmpN, isZeroN, shr1N } from './limbs';

function scratch(n: i32): usize {
  let bytes = (<usize>(n + 8)) << 2;
  let p = heap.alloc(bytes);
  memory.fill(p, 0, bytes);
  return p;
}

/** Jacobi symbol (a | m) for odd m > 0 and a < m, both n limbs: −1, 0 or 1. */
export function jacobi(a: usize, m: usize, n: i32): i32 {
  let x = scratch(n),
    y = scratch(n);
  memory.copy(x, a, (<usize>n) << 2);
  memory.copy(y, m, (<usize>n) << 2);
  let result = 1;
  while (!isZeroN(x, n)) {
    while ((limb(x, 0) & 1) == 0) {
      shr1N(x, n);
      let r = limb(y, 0) & 7;
      if (r == 3 || r == 5) result = -result;
    }
    if (cmpN(x, y, n) < 0) {
      // quadratic reciprocity for odd x, y: flip when both are 3 mod 4
      if ((limb(x, 0) & 3) == 3 && (limb(y, 0) & 3) == 3) result = -result;
      let t = x;
      x = y;
      y = t;
    }
    subN(x, x, y, n);
  }
  // y is now gcd(a, m)
  let one = limb(y, 0) == 1;
  for (let i = 1; i < n && one; i++) if (limb(y, i) != 0) one = false;
  heap.free(x);
  heap.free(y);
  return one ? result : 0;
}

/** x ← x/2 mod m for odd m (x < m), using one spare limb for x + m. */
function halveMod(x: usize, m: usize, n: i32): void {
  if (limb(x, 0) & 1) {
    let carry = addN(x, x, m, n);
    setLimb(x, n, carry);
    shr1N(x, n + 1);
  } else {
    shr1N(x, n);
  }
}

/** x ← x − y mod m for x, y < m. */
function subMod(x: usize, y: usize, m: usize, n: i32): void {
  if (subN(x, x, y, n)) addN(x, x, m, n);
}

/**
 * r = a⁻¹ mod m for odd m and a < m (n limbs each). Returns 1 on success, 0 when gcd(a, m) ≠ 1.
 * Invariants: x1·a ≡ u and x2·a ≡ v (mod m).
 */
export function invMod(r: usize, a: usize, m: usize, n: i32): i32 {
  let u = scratch(n),
    v = scratch(n),
    x1 = scratch(n + 1),
    x2 = scratch(n + 1);
  memory.copy(u, a, (<usize>n) << 2);
  memory.copy(v, m, (<usize>n) << 2);
  setLimb(x1, 0, 1);
  while (!isZeroN(u, n)) {
    while ((limb(u, 0) & 1) == 0) {
      shr1N(u, n);
      halveMod(x1, m, n);
    }
    while ((limb(v, 0) & 1) == 0) {
      shr1N(v, n);
      halveMod(x2, m, n);
    }
    if (cmpN(u, v, n) >= 0) {
      subN(u, u, v, n);
      subMod(x1, x2, m, n);
    } else {
      subN(v, v, u, n);
      subMod(x2, x1, m, n);
    }
  }
  let ok = limb(v, 0) == 1;
  for (let i = 1; i < n && ok; i++) if (limb(v, i) != 0) ok = false;
  if (ok) memory.copy(r, x2, (<usize>n) << 2);
  heap.free(u);
  heap.free(v);
  heap.free(x1);
  heap.free(x2);
  return ok ? 1 : 0;
}
