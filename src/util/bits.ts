/**
 * Bit length of a bigint, |x| in bits (0 for 0). Plain JavaScript: the host and the WebAssembly
 * loader both need it, and it depends on nothing.
 * LEAK: timing depends on the size of x; for public values and for sizes that are public.
 * @module
 */
export function bitLength(x: bigint): number {
  if (x < 0n) x = -x;
  if (x === 0n) return 0;
  const hex = x.toString(16);
  return (hex.length - 1) * 4 + (32 - Math.clz32(parseInt(hex[0] as string, 16)));
}
