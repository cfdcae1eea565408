/**
 * The plain-JavaScript baseline: modular exponentiation on native BigInt.
 *
 * Left-to-right sliding window over a table of odd powers x, x³, x⁵, …, with the window width
 * chosen by exponent length (OpenSSL's thresholds), reducing with BigInt `%` after every
 * product. (`%` beat Montgomery reduction written in BigInt at 2048–6144 bits on Node 20: one
 * division costs less than the two extra full-size multiplications REDC needs.)
 * @module
 */

/** Window width for an exponent of `bits` bits. */
export function windowBits(bits: number): number {
  if (bits > 671) return 6;
  if (bits > 239) return 5;
  if (bits > 79) return 4;
  if (bits > 23) return 3;
  return 1;
}

/** x^e mod N for e ≥ 0, N ≥ 1. */
export function modPow(x: bigint, e: bigint, N: bigint): bigint {
  if (N < 1n || e < 0n) throw new RangeError('need N ≥ 1 and e ≥ 0');
  const base = ((x % N) + N) % N;
  if (e === 0n) return 1n % N;
  const bits = e.toString(2); // most significant bit first; '1' is char code 49
  const w = windowBits(bits.length);
  const table = oddPowers(base, N, 1 << (w - 1));
  let r = 0n; // set at the first window (the leading bit is 1)
  let i = 0;
  while (i < bits.length) {
    if (bits.charCodeAt(i) === 48) {
      r = (r * r) % N;
      i++;
      continue;
    }
    // the longest window bits[i..j) of at most w bits that ends in a 1
    let j = Math.min(i + w, bits.length);
    while (bits.charCodeAt(j - 1) === 48) j--;
    const power = table[(parseInt(bits.slice(i, j), 2) - 1) >> 1] as bigint;
    if (i === 0) {
      r = power;
    } else {
      for (let k = i; k < j; k++) r = (r * r) % N;
      r = (r * power) % N;
    }
    i = j;
  }
  return r;
}

/** [x, x³, x⁵, …] mod N, `count` entries. */
function oddPowers(x: bigint, N: bigint, count: number): bigint[] {
  const table = [x];
  const x2 = (x * x) % N;
  for (let i = 1; i < count; i++) table.push(((table[i - 1] as bigint) * x2) % N);
  return table;
}

/** Inverse of a modulo m (gcd(a, m) = 1), by the extended Euclidean algorithm. */
export function modInv(a: bigint, m: bigint): bigint {
  let [r0, r1] = [((a % m) + m) % m, m];
  let [s0, s1] = [1n, 0n];
  while (r1 !== 0n) {
    const q = r0 / r1;
    [r0, r1] = [r1, r0 - q * r1];
    [s0, s1] = [s1, s0 - q * s1];
  }
  if (r0 !== 1n) throw new RangeError('not invertible');
  return ((s0 % m) + m) % m;
}

/** x^e mod p·q for distinct primes p, q by the CRT (exponents reduced mod p − 1, q − 1; Garner). */
export class CrtPow {
  private readonly pInvQ: bigint;

  constructor(
    private readonly p: bigint,
    private readonly q: bigint,
  ) {
    this.pInvQ = modInv(p, q);
  }

  pow(x: bigint, e: bigint): bigint {
    const { p, q } = this;
    const yp = modPow(x % p, e % (p - 1n), p);
    const yq = modPow(x % q, e % (q - 1n), q);
    const h = ((((yq - yp) * this.pInvQ) % q) + q) % q;
    return yp + p * h;
  }
}
