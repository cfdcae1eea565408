/**
 * The operations the WASM benchmark times, each with its contenders (one per implementation)
 * on one shared random input. Setting an op up converts its inputs to every contender's own
 * representation, so the timed calls convert nothing they would not convert in real use.
 * @module
 */
import { readFileSync } from 'node:fs';
import { generateRandomKeys, PrivateKey, PublicKey } from 'paillier-bigint';
import { Modulus, CrtModulus } from '../src/wasm/index.js';
import { PaillierSecretKey, type PaillierPublicKey } from '../src/paillier/index.js';
import { randomBits, randomBelow } from '../src/util/random.js';
import { modPow as jsModPow, modInv, CrtPow } from './js-bigint.js';
import type { Gmp } from './gmp.js';
import { GmpCrt, type Mpz } from './gmp.js';

export const IMPLS = ['wasm', 'js-bigint', 'gmp-wasm', 'paillier-bigint'] as const;
export type Impl = (typeof IMPLS)[number];

/** One implementation of an op. */
export interface Contender {
  impl: Impl;
  /** the timed call */
  run: () => unknown;
  /** the result, for the correctness check (may call run) */
  output: () => bigint;
}

export interface Op {
  name: string;
  contenders: Contender[];
  /** the result every contender must give, when known independently of them */
  expected?: bigint;
  /** dominated by a random search: a few runs without warm-up, outputs checked after timing */
  slow?: boolean;
  /** caveat printed under the table */
  note?: string;
}

export interface OpSpec {
  name: string;
  setup: (env: Env) => Op | Promise<Op>;
}

/** Shared resources, made on first use. */
export class Env {
  private primeCache: [bigint, bigint] | undefined;
  private keyCache: PaillierKeys | undefined;

  constructor(readonly gmp: Gmp) {}

  /** The first two 1536-bit safe primes of test/fixtures/safe-primes.json. */
  primes(): [bigint, bigint] {
    if (!this.primeCache) {
      const url = new URL('../../test/fixtures/safe-primes.json', import.meta.url);
      const json = JSON.parse(readFileSync(url, 'utf8')) as { bits1536?: string[] };
      const [p, q] = (json.bits1536 ?? []).map((h) => BigInt(h));
      if (p === undefined || q === undefined) throw new Error(`${url.pathname}: bits1536 needs at least two primes`);
      this.primeCache = [p, q];
    }
    return this.primeCache;
  }

  /** Our Paillier key and paillier-bigint's, both for N = p·q from the fixture primes. */
  paillier(): PaillierKeys {
    this.keyCache ??= paillierKeys(...this.primes());
    return this.keyCache;
  }
}

interface PaillierKeys {
  sk: PaillierSecretKey;
  pk: PaillierPublicKey;
  pbPub: PublicKey;
  pbPriv: PrivateKey;
}

function paillierKeys(p: bigint, q: bigint): PaillierKeys {
  const sk = PaillierSecretKey.fromPrimes(p, q, { checkPrimes: false });
  const N = p * q;
  // paillier-bigint's "simple variant" (its generateRandomKeys(bits, true)): g = N + 1,
  // λ = (p − 1)(q − 1), μ = λ⁻¹ mod N; with p, q given, its decrypt uses the CRT.
  const lambda = (p - 1n) * (q - 1n);
  const pbPub = new PublicKey(N, N + 1n);
  const pbPriv = new PrivateKey(lambda, modInv(lambda, N), pbPub, p, q);
  return { sk, pk: sk.publicKey, pbPub, pbPriv };
}

// ---------------------------------------------------------------------------------------------
// inputs and contenders

/** Random integer of exactly `bits` bits. */
function randomTopBit(bits: number): bigint {
  return randomBits(bits) | (1n << BigInt(bits - 1));
}

/** Random odd modulus of exactly `bits` bits. */
function randomModulus(bits: number): bigint {
  return randomTopBit(bits) | 1n;
}

/** A contender whose call returns its result as a bigint. */
function direct(impl: Impl, f: () => bigint): Contender {
  return { impl, run: f, output: f };
}

/** A gmp-wasm contender whose call leaves its result in the mpz r. */
function gmpInto(gmp: Gmp, r: Mpz, run: () => void): Contender {
  return {
    impl: 'gmp-wasm',
    run,
    output: () => {
      run();
      return gmp.value(r);
    },
  };
}

/** gmp-wasm computing x^e mod N with mpz_powm (or mpz_powm_sec). */
function gmpPow(gmp: Gmp, x: bigint, e: bigint, N: bigint, secret = false): Contender {
  const [r, gx, ge, gN] = [gmp.mpz(), gmp.mpz(x), gmp.mpz(e), gmp.mpz(N)];
  return gmpInto(gmp, r, secret ? () => gmp.powmSec(r, gx, ge, gN) : () => gmp.powm(r, gx, ge, gN));
}

// ---------------------------------------------------------------------------------------------
// modular exponentiation

function modexp(nBits: number, eBits: number): OpSpec {
  return {
    name: `modexp/${nBits}/${eBits}`,
    setup: ({ gmp }) => {
      const N = randomModulus(nBits);
      const [x, e] = [randomBelow(N), randomTopBit(eBits)];
      const m = new Modulus(N);
      return {
        name: `modexp/${nBits}/${eBits}`,
        contenders: [
          direct('wasm', () => m.powPublic(x, e)),
          direct('js-bigint', () => jsModPow(x, e, N)),
          gmpPow(gmp, x, e, N),
        ],
      };
    },
  };
}

function modexpSecret(nBits: number, eBits: number): OpSpec {
  const name = `modexp-ct/${nBits}/${eBits}`;
  return {
    name,
    setup: ({ gmp }) => {
      const N = randomModulus(nBits);
      const [x, e] = [randomBelow(N), randomTopBit(eBits)];
      const m = new Modulus(N);
      return {
        name,
        contenders: [direct('wasm', () => m.pow(x, e, eBits)), gmpPow(gmp, x, e, N, true)],
        expected: jsModPow(x, e, N),
        note: `${name}: constant-time exponentiation (wasm pow with a ${eBits}-bit bound, gmp-wasm mpz_powm_sec); plain BigInt has no constant-time counterpart.`,
      };
    },
  };
}

/** Inputs for x^e mod N, N = p·q from the fixture. */
function crtInputs(env: Env, eBits: number) {
  const [p, q] = env.primes();
  const N = p * q;
  return {
    p,
    q,
    N,
    x: randomBelow(N),
    e: randomTopBit(eBits),
    crt: new CrtModulus([
      [p, 1],
      [q, 1],
    ]),
  };
}

const crtName = (bits: number) => `crt/${bits}/${bits}`;
const crtAllName = (bits: number) => `crt-all/${bits}/${bits}`;

/** wasm by the CRT against the peers without it (what a holder of only N could do). */
function crtVsPlain(bits: number): OpSpec {
  const name = crtName(bits);
  return {
    name,
    setup: (env) => {
      const { N, x, e, crt } = crtInputs(env, bits);
      return {
        name,
        contenders: [
          direct('wasm', () => crt.powPublic(x, e)),
          direct('js-bigint', () => jsModPow(x, e, N)),
          gmpPow(env.gmp, x, e, N),
        ],
        note: `${name}: wasm uses the factors (CrtModulus.powPublic); js-bigint and gmp-wasm exponentiate modulo N without them. ${crtAllName(bits)} gives every implementation the CRT.`,
      };
    },
  };
}

/** The same computation with the CRT for everyone. */
function crtVsCrt(bits: number): OpSpec {
  const name = crtAllName(bits);
  return {
    name,
    setup: (env) => {
      const { p, q, x, e, crt } = crtInputs(env, bits);
      const js = new CrtPow(p, q);
      const { gmp } = env;
      const g = new GmpCrt(gmp, p, q, modInv(p, q));
      const [r, gx, ge] = [gmp.mpz(), gmp.mpz(x), gmp.mpz(e)];
      return {
        name,
        contenders: [
          direct('wasm', () => crt.powPublic(x, e)),
          direct('js-bigint', () => js.pow(x, e)),
          gmpInto(gmp, r, () => g.pow(r, gx, ge)),
        ],
        note: `${name}: as ${crtName(bits)}, every implementation with the CRT (two half-size exponentiations, exponents reduced mod p − 1 and q − 1 in the timed call, Garner recombination).`,
      };
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Paillier-3072

/** (1 + N)^m · ρ^N mod N², computed independently of both libraries. */
function referenceEncrypt(N: bigint, m: bigint, rho: bigint): bigint {
  const N2 = N * N;
  return ((1n + m * N) * jsModPow(rho, N, N2)) % N2;
}

/** A Paillier op: inputs from the shared keys; `build` returns the op's contenders. */
function paillierOp(op: string, build: (k: PaillierKeys) => Omit<Op, 'name'>): OpSpec {
  const name = `paillier/${op}`;
  return { name, setup: (env) => ({ name, ...build(env.paillier()) }) };
}

/** A fresh plaintext and nonce. */
function message(pk: PaillierPublicKey) {
  return { m: randomBelow(pk.N), rho: pk.randomNonce() };
}

const paillierEncrypt = paillierOp('encrypt', ({ pk, pbPub }) => {
  const { m, rho } = message(pk);
  return {
    contenders: [direct('wasm', () => pk.encrypt(m, rho)), direct('paillier-bigint', () => pbPub.encrypt(m, rho))],
    expected: referenceEncrypt(pk.N, m, rho),
    note: 'paillier/encrypt: public-key encryption with a given nonce ρ (nonce sampling not timed). paillier-bigint computes g^m as a full exponentiation, wasm as 1 + m·N; both compute ρ^N mod N². paillier-bigint exponentiates with bigint-crypto-utils modPow, bit-by-bit square-and-multiply.',
  };
});

const paillierEncryptOwn = paillierOp('encrypt-own', ({ sk, pk }) => {
  const { m, rho } = message(pk);
  return {
    contenders: [direct('wasm', () => sk.encrypt(m, rho))],
    expected: referenceEncrypt(pk.N, m, rho),
    note: 'paillier/encrypt-own: encryption under our own key, ρ^N by the CRT modulo p² and q² in constant time; paillier-bigint has no counterpart.',
  };
});

const paillierDecrypt = paillierOp('decrypt', ({ sk, pk, pbPriv }) => {
  const { m, rho } = message(pk);
  const c = pk.encrypt(m, rho);
  return {
    contenders: [direct('wasm', () => sk.decrypt(c)), direct('paillier-bigint', () => pbPriv.decrypt(c))],
    expected: m,
    note: 'paillier/decrypt: both by the CRT modulo p² and q² (paillier-bigint given p and q); wasm in constant time with exponents p − 1, q − 1.',
  };
});

const paillierAdd = paillierOp('add', ({ pk, pbPub }) => {
  const [a, b] = [message(pk), message(pk)];
  const [c1, c2] = [pk.encrypt(a.m, a.rho), pk.encrypt(b.m, b.rho)];
  return {
    contenders: [direct('wasm', () => pk.add(c1, c2)), direct('paillier-bigint', () => pbPub.addition(c1, c2))],
    expected: (c1 * c2) % pk.N2,
  };
});

const paillierScalarMul = paillierOp('scalar-mul', ({ pk, pbPub }) => {
  const { m, rho } = message(pk);
  const c = pk.encrypt(m, rho);
  const k = randomTopBit(256);
  return {
    contenders: [direct('wasm', () => pk.scalarMul(c, k, 256)), direct('paillier-bigint', () => pbPub.multiply(c, k))],
    expected: jsModPow(c, k, pk.N2),
    note: 'paillier/scalar-mul: wasm in constant time over a 256-bit bound (pow); paillier-bigint variable-time.',
  };
});

/** Plaintext every freshly generated key must recover from its own ciphertext. */
const PROBE = 0x5eed_cafen;

/** A keygen contender: run makes a key; output round-trips PROBE through the last key made. */
function keygen(impl: Impl, generate: () => Promise<(m: bigint) => bigint>): Contender {
  let roundTrip: ((m: bigint) => bigint) | undefined;
  return {
    impl,
    run: async () => {
      roundTrip = await generate();
    },
    output: () => {
      if (!roundTrip) throw new Error(`${impl}: no key generated`);
      return roundTrip(PROBE);
    },
  };
}

function paillierKeygen(bits: number): OpSpec {
  const name = 'paillier/keygen';
  return {
    name,
    setup: () => ({
      name,
      slow: true,
      expected: PROBE,
      contenders: [
        keygen('wasm', async () => {
          const sk = await PaillierSecretKey.generate(bits);
          return (m) => sk.decrypt(sk.publicKey.encrypt(m));
        }),
        keygen('paillier-bigint', async () => {
          const { publicKey, privateKey } = await generateRandomKeys(bits, true);
          return (m) => privateKey.decrypt(publicKey.encrypt(m));
        }),
      ],
      note: `paillier/keygen: median of a few runs, dominated by the random prime search (high variance). wasm = PaillierSecretKey.generate: two ${bits / 2}-bit SAFE primes from OpenSSL (node:crypto); paillier-bigint: two ordinary primes (its own Miller–Rabin in worker threads), a much easier search.`,
    }),
  };
}

/** Every op, in table order. */
export const OPS: readonly OpSpec[] = [
  modexp(6144, 3072),
  modexp(3072, 3072),
  modexp(6144, 256),
  modexp(4096, 2048),
  modexp(2048, 2048),
  modexpSecret(6144, 3072),
  crtVsPlain(3072),
  crtVsCrt(3072),
  paillierEncrypt,
  paillierEncryptOwn,
  paillierDecrypt,
  paillierAdd,
  paillierScalarMul,
  paillierKeygen(3072),
];
