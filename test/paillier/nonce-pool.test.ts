/**
 * The pool of Paillier nonces made ahead of time: every pair is (ρ, ρ^N mod N²) checked with plain
 * bigint, a pair is handed out once, the pool is bounded, and an empty pool still gives fresh nonces.
 */
import test from 'ava';
import { PaillierSecretKey } from '../../src/paillier/index.js';
import { MAX_PER_MODULUS, clearNonces, fillNonces, pooledNonces, takeNonce } from '../../src/paillier/nonce-pool.js';
import { fixturePrime, refGcd, refPow } from '../helpers/fixtures.js';

const sk = PaillierSecretKey.fromPrimes(fixturePrime(512, 0), fixturePrime(512, 1), { minBits: 1000 });
const pk = sk.publicKey;
const other = PaillierSecretKey.fromPrimes(fixturePrime(512, 2), fixturePrime(512, 3), { minBits: 1000 }).publicKey;

test.serial('fill, take once each, then fresh nonces when empty; own and peer keys share a modulus pool', (t) => {
  clearNonces();
  t.is(fillNonces(sk, 3), 3);
  t.is(fillNonces(pk, 2), 2);
  t.is(fillNonces(other, 1), 1);
  t.is(pooledNonces(pk.N), 5);
  t.is(pooledNonces(other.N), 1);
  const seen = new Set<bigint>();
  for (let k = 5; k > 0; k--) {
    const { rho, factor } = takeNonce(k % 2 ? sk : pk);
    t.is(pooledNonces(pk.N), k - 1);
    t.true(rho > 0n && rho < pk.N && refGcd(rho, pk.N) === 1n);
    t.is(factor, refPow(rho, pk.N, pk.N2));
    t.false(seen.has(rho), 'a nonce is handed out once');
    seen.add(rho);
  }
  // empty: a fresh, valid nonce each time, the pool stays empty
  const a = takeNonce(sk);
  const b = takeNonce(pk);
  t.not(a.rho, b.rho);
  t.is(a.factor, refPow(a.rho, pk.N, pk.N2));
  t.is(b.factor, refPow(b.rho, pk.N, pk.N2));
  t.is(pooledNonces(pk.N), 0);
  t.is(pooledNonces(other.N), 1);
  clearNonces(other.N);
  t.is(pooledNonces(other.N), 0);
});

test.serial('bounded per modulus; bad counts refused', (t) => {
  clearNonces();
  t.is(fillNonces(sk, 0), 0);
  t.throws(() => fillNonces(sk, -1), { instanceOf: RangeError });
  t.throws(() => fillNonces(sk, 1.5), { instanceOf: RangeError });
  t.is(fillNonces(sk, MAX_PER_MODULUS - 2), MAX_PER_MODULUS - 2);
  t.is(fillNonces(sk, 10), 2);
  t.is(pooledNonces(sk.N), MAX_PER_MODULUS);
  clearNonces();
  t.is(pooledNonces(sk.N), 0);
});
