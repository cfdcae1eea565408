/**
 * Greatest common divisor of public values with bigint arithmetic (Euclid).
 * LEAK: timing depends on the operands; for public values such as ciphertexts and moduli.
 * @module
 */
export function gcd(a: bigint, b: bigint): bigint {
  if (a < 0n) a = -a;
  if (b < 0n) b = -b;
  while (b !== 0n) [a, b] = [b, a % b];
  return a;
}
