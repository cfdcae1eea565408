/**
 * A malicious aux-info party for protocol-level attack tests. It follows the message flow of
 * src/protocol/aux (commit → echo → decommit → proofs) with values of the test's choosing: it
 * commits to whatever decommitment it opens (so the opening check passes and the attack reaches
 * the check under test), and sends proofs made by a callback, e.g. a best-effort forgery for a
 * modulus no honest proof exists for. It never verifies anything and never outputs.
 *
 * Also: the best-effort Πmod forger for N = ∏ P^e (the adversary knows the factorisation), as in
 * test/zk/mod.test.ts, and a Πprm "computed as if valid" for parameters that have no valid proof.
 */
import { generatePrime } from 'node:crypto';
import type { AuxInfo } from '../../src/protocol/aux-info.js';
import {
  ROUND,
  decodeDecommit,
  encodeDecommit,
  encodeProofs,
  type AuxDecommit,
  type AuxProofs,
} from '../../src/protocol/aux/messages.js';
import { auxCommitment } from '../../src/protocol/aux/commitment.js';
import { encodeHash, receiveCommitments, xor32 } from '../../src/protocol/common.js';
import { abort, type Msg, type Round, type Step } from '../../src/protocol/machine.js';
import { PRM_TAG, type PrmProof, type PrmStatement } from '../../src/zk/prm.js';
import { MOD_TAG, type ModItem, type ModProof } from '../../src/zk/mod.js';
import { proofTranscript, type ProofBinding } from '../../src/zk/binding.js';
import type { SecurityParams } from '../../src/zk/params.js';
import { Modulus } from '../../src/wasm/index.js';
import { randomBelow } from '../../src/util/random.js';
import { refGcd, refInverse, refJacobi, refMod } from './fixtures.js';

/** A round driven by a function (the adversary's rounds). */
class Scripted<O> implements Round<O> {
  constructor(
    readonly me: number,
    readonly expects: readonly { round: string; broadcast: boolean }[],
    private readonly f: (inbox: readonly Msg[]) => Step<O>,
  ) {}

  handle(inbox: readonly Msg[]): Step<O> {
    return this.f(inbox);
  }
}

export interface AuxAdversaryOptions {
  sid: Uint8Array;
  n: number;
  i: number;
  L: SecurityParams;
  /** what it opens (and, unless told otherwise below, commits to) */
  decommit: AuxDecommit;
  /** commit to this instead (an opening that differs from the commitment) */
  commitTo?: AuxDecommit;
  /** commit under this session id instead (a commitment replayed from another session) */
  commitSid?: Uint8Array;
  /** send these commitment bytes instead (e.g. a copy of another party's V_j) */
  V?: Uint8Array;
  /** its round-4 proofs for recipient j (ρ is the joint ρ); without it, it stops after opening */
  proofs?: (j: number, rho: Uint8Array, decommits: readonly AuxDecommit[]) => AuxProofs;
}

/** The adversary's first step (the round-1 commitment to `decommit`). */
export function auxAdversary(o: AuxAdversaryOptions): Step<AuxInfo> {
  const { sid, n, i, L, decommit } = o;
  const V = o.V ?? auxCommitment(o.commitSid ?? sid, n, i, o.commitTo ?? decommit);
  const bodies = (inbox: readonly Msg[], round: string) =>
    new Map(inbox.filter((m) => m.round === round).map((m) => [m.from, m.body]));
  const done: Step<AuxInfo> = abort([], 'cancelled', 'adversary: done');
  const r5 = new Scripted<AuxInfo>(i, [{ round: ROUND.proofs, broadcast: false }], () => done);
  const r4 = new Scripted<AuxInfo>(i, [{ round: ROUND.decommit, broadcast: true }], (inbox) => {
    if (!o.proofs) return done;
    const got = bodies(inbox, ROUND.decommit);
    const decommits = [...Array(n).keys()].map((j) =>
      j === i ? decommit : decodeDecommit(got.get(j) as Uint8Array, L),
    );
    const rho = xor32(decommits.map((d) => d.rho));
    const outbox: Msg[] = [];
    for (let j = 0; j < n; j++) {
      if (j !== i)
        outbox.push({ from: i, to: j, round: ROUND.proofs, body: encodeProofs(o.proofs?.(j, rho, decommits)) });
    }
    return { kind: 'next', round: r5, outbox };
  });
  const r3 = new Scripted<AuxInfo>(i, [{ round: ROUND.echo, broadcast: true }], () => ({
    kind: 'next',
    round: r4,
    outbox: [{ from: i, to: 'all', round: ROUND.decommit, body: encodeDecommit(decommit) }],
  }));
  const r2 = new Scripted<AuxInfo>(i, [{ round: ROUND.commit, broadcast: true }], (inbox) => {
    const { echo } = receiveCommitments(sid, n, i, V, ROUND.commit, bodies(inbox, ROUND.commit));
    return { kind: 'next', round: r3, outbox: [{ from: i, to: 'all', round: ROUND.echo, body: encodeHash(echo) }] };
  });
  return { kind: 'next', round: r2, outbox: [{ from: i, to: 'all', round: ROUND.commit, body: encodeHash(V) }] };
}

/** A random prime of exactly `bits` bits ≡ 3 (mod 4). */
export function blumPrime(bits: number): Promise<bigint> {
  return new Promise((resolve, reject) => {
    generatePrime(bits, { bigint: true, add: 4n, rem: 3n }, (err, prime) => (err ? reject(err) : resolve(prime)));
  });
}

/** Trial division (small candidates only). */
export function isPrimeSmall(n: bigint): boolean {
  if (n < 2n) return false;
  for (let d = 2n; d * d <= n; d++) if (n % d === 0n) return false;
  return true;
}

/** y_1..y_m re-derived from the documented Πmod transcript layout. */
function modChallenge(binding: ProofBinding, L: SecurityParams, n: bigint, w: bigint): bigint[] {
  const stream = proofTranscript(MOD_TAG, binding, L).int('N', n).int('w', w).challenge('y');
  const ys: bigint[] = [];
  while (ys.length < L.m) {
    const y = stream.below(n);
    if (y !== 0n && refGcd(y, n) === 1n) ys.push(y);
  }
  return ys;
}

/**
 * The adversary's best-effort Πmod for N = ∏ P^e (all P ≡ 3 mod 4), knowing the factorisation:
 * per repetition the (a, b) that makes (−1)^a·w^b·y a square modulo the most components, 4th roots
 * where it is one, N-th roots where N is invertible modulo the component's order (1 elsewhere).
 */
export function forgeMod(
  binding: ProofBinding,
  L: SecurityParams,
  factors: ReadonlyArray<readonly [bigint, number]>,
): ModProof {
  const n = factors.reduce((acc, [P, e]) => acc * P ** BigInt(e), 1n);
  const comps = factors.map(([P, e]) => {
    const M = P ** BigInt(e);
    const order = P ** BigInt(e - 1) * (P - 1n);
    const cofactor = n / M;
    return {
      M,
      k: (order + 2n) / 4n,
      mod: new Modulus(M),
      crt: cofactor * (refInverse(cofactor, M) as bigint),
      nInv: refGcd(n, order) === 1n ? refInverse(n, order) : undefined,
    };
  });
  try {
    const combine = (vs: readonly bigint[]): bigint =>
      refMod(
        vs.reduce((acc, v, i) => acc + v * (comps[i]?.crt as bigint), 0n),
        n,
      );
    const half = (c: (typeof comps)[number], v: bigint) => {
      const vM = v % c.M;
      const r = c.mod.powPublic(vM, c.k);
      return { r, square: c.mod.mul(r, r) === vM };
    };
    let w: bigint;
    for (;;) {
      w = randomBelow(n);
      if (w === 0n || refGcd(w, n) !== 1n || refJacobi(w, n) !== -1) continue;
      if (comps.some((c) => half(c, w).square)) break;
    }
    const W = comps.map((c) => half(c, w));
    const items = modChallenge(binding, L, n, w).map((y): ModItem => {
      const Y = comps.map((c) => half(c, y));
      let best = { a: false, b: false, score: -1, ok: [] as boolean[] };
      for (const [a, b] of [
        [false, false],
        [true, false],
        [false, true],
        [true, true],
      ] as const) {
        const ok = comps.map((_, i) => ((Y[i]?.square ? 0 : 1) + (a ? 1 : 0) + (b && !W[i]?.square ? 1 : 0)) % 2 === 0);
        const score = ok.filter(Boolean).length;
        if (score > best.score) best = { a, b, score, ok };
      }
      const xs = comps.map((c, i) => {
        if (!best.ok[i]) return 1n;
        let s = Y[i]?.r as bigint;
        if (best.b) s = c.mod.mul(s, W[i]?.r as bigint);
        if (best.a) s = c.mod.mul(s, c.mod.powPublic(c.M - 1n, c.k));
        return c.mod.powPublic(s, c.k);
      });
      const zs = comps.map((c) => (c.nInv === undefined ? 1n : c.mod.powPublic(y % c.M, c.nInv)));
      return { x: combine(xs), a: best.a, b: best.b, z: combine(zs) };
    });
    return { w, items };
  } finally {
    for (const c of comps) c.mod.dispose();
  }
}

/**
 * A Πprm for (N̂, s′, t) computed with the algorithm of the honest prover and a λ with t^λ = s,
 * whatever s′ is: it verifies exactly when s′ = s. The challenge is re-derived from the
 * documented transcript layout.
 */
export function prmAsIfValid(
  binding: ProofBinding,
  L: SecurityParams,
  st: PrmStatement,
  secret: { lambda: bigint; phi: bigint },
): PrmProof {
  const modN = new Modulus(st.N);
  try {
    const a = Array.from({ length: L.m }, () => randomBelow(secret.phi));
    const A = a.map((ai) => modN.powPublic(st.t, ai));
    const e = proofTranscript(PRM_TAG, binding, L)
      .int('N', st.N)
      .int('s', st.s)
      .int('t', st.t)
      .ints('A', A)
      .challenge('e')
      .bitArray(L.m);
    const z = a.map((ai, i) => (e[i] ? (ai + secret.lambda) % secret.phi : ai));
    return { A, z };
  } finally {
    modN.dispose();
  }
}
