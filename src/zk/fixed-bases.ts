/**
 * Comb tables for bases that recur across sessions: every party's ring-Pedersen s and t, which
 * each prover raises to several secret exponents per proof and each verifier (its own s and t) to
 * several public ones. A constant-time comb
 * exponentiation costs about a third of a fixed-window one at these sizes (bench:wasm), and a
 * table costs about one exponentiation to build, so the tables are kept (a bounded cache, least
 * recently used evicted) with one long-lived Modulus per modulus.
 * @module
 */
import { Modulus, type FixedBase } from '../wasm/index.js';

/** Exponent sizes are rounded up to a multiple of this, so a few tables serve every bound. */
const BITS_STEP = 256;
const MAX_MODULI = 16;
const MAX_TABLES_PER_MODULUS = 16;

interface Entry {
  readonly mod: Modulus;
  readonly tables: Map<string, FixedBase>;
}

const cache = new Map<bigint, Entry>();

function entryFor(N: bigint): Entry {
  let e = cache.get(N);
  if (e) {
    cache.delete(N);
  } else {
    if (cache.size >= MAX_MODULI) {
      const [oldN, old] = cache.entries().next().value as [bigint, Entry];
      for (const t of old.tables.values()) t.dispose();
      old.mod.dispose();
      cache.delete(oldN);
    }
    e = { mod: new Modulus(N), tables: new Map() };
  }
  cache.set(N, e);
  return e;
}

/**
 * Teeth of a table: a constant-time walk scans every entry at each step, so its tables stay at 2^6
 * entries; a public walk reads one entry per step, and 2^8 entries cut its steps by a quarter.
 */
const TEETH_SECRET = 6;
const TEETH_PUBLIC = 8;

/**
 * base^e mod N in constant time for a secret e ≥ 0 below 2^bits (bits public), from a cached comb
 * table of this base; base must be a public value that recurs (s, t).
 */
export function fixedPowSecret(N: bigint, base: bigint, e: bigint, bits: number): bigint {
  return tableFor(N, base, bits, TEETH_SECRET).pow(e);
}

/**
 * base^e mod N for a public e ≥ 0 below 2^bits, from a cached comb table of this base (a
 * verifier's own s and t). LEAK: e.
 */
export function fixedPowPublic(N: bigint, base: bigint, e: bigint, bits: number): bigint {
  return tableFor(N, base, bits, TEETH_PUBLIC).powPublic(e);
}

/** The long-lived Modulus of N (the one the tables use). */
export function cachedModulus(N: bigint): Modulus {
  return entryFor(N).mod;
}

function tableFor(N: bigint, base: bigint, bits: number, teeth: number): FixedBase {
  const entry = entryFor(N);
  const tableBits = Math.ceil(bits / BITS_STEP) * BITS_STEP;
  const key = `${base.toString(36)}:${tableBits}:${teeth}`;
  let table = entry.tables.get(key);
  if (table) {
    entry.tables.delete(key);
  } else {
    if (entry.tables.size >= MAX_TABLES_PER_MODULUS) {
      const [oldKey, old] = entry.tables.entries().next().value as [string, FixedBase];
      old.dispose();
      entry.tables.delete(oldKey);
    }
    table = entry.mod.fixedBase(base, tableBits, teeth);
  }
  entry.tables.set(key, table);
  return table;
}
