export {
  PaillierPublicKey,
  MIN_MODULUS_BITS,
  MAX_MODULUS_BITS,
  /** @public (the constructor's bounds) */ type KeyBounds,
} from './public-key.js';
export { PaillierSecretKey, /** @public (fromPrimes) */ type FromPrimesOptions } from './secret-key.js';
export { generateSafePrime, assertSafePrime, SAFE_PRIME_BITS } from './primes.js';
