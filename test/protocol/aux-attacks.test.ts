/**
 * Aux-info attacks through the protocol (docs/security.md A1, A5, A6, A7, A16), complementing
 * aux-info.test.ts: each is shown rejected by every honest party, naming the culprit and the
 * failed check, with no aux-info output.
 *
 * Three runs reach the Paillier proofs (about 20 s each) and are made once in test.before:
 *  - A1 BitForge: N = (16 primes of 16 bits) × (large prime) with a best-effort Πmod → Πmod fails;
 *  - A1: N = p·q with a 256-bit p, all proofs by the honest algorithm → Πmod passes, Πfac fails;
 *  - one honest run with three tampered deliveries (one per honest receiver): Πmod with 0
 *    repetitions, Πmod with w = p (w | N), and a proofs message replayed from the first run.
 * The other attacks abort in round 4, before anyone proves Πmod or Πfac, and run on their own.
 */
import test, { type ExecutionContext } from 'ava';
import { randomBytes } from 'node:crypto';
import type { BlameCode } from '../../src/protocol/blame.js';
import { startAuxInfo, AUX_ROUND } from '../../src/protocol/aux/index.js';
import type { AuxInfo } from '../../src/protocol/aux-info.js';
import {
  decodeDecommit,
  decodeProofs,
  encodeDecommit,
  encodeProofs,
  type AuxDecommit,
} from '../../src/protocol/aux/messages.js';
import { ringPedersenFromPrimes } from '../../src/paillier/ring-pedersen.js';
import { provePrm, verifyPrm } from '../../src/zk/prm.js';
import { proveFac } from '../../src/zk/fac.js';
import { SECURITY_128 } from '../../src/zk/params.js';
import type { Step } from '../../src/protocol/machine.js';
import { fixturePrime, refBitLength, refPow } from '../helpers/fixtures.js';
import { runNetwork, type PartyResult, type Tamper } from '../helpers/network.js';
import { auxAdversary, blumPrime, forgeMod, isPrimeSmall, prmAsIfValid } from '../helpers/aux-adversary.js';

const L = SECURITY_128;
type Results = PartyResult<AuxInfo>[];
const newSid = () => Uint8Array.from(randomBytes(32));
const rpCache = new Map<number, ReturnType<typeof ringPedersenFromPrimes>>();
/** Party i's ring-Pedersen parameters (one draw of t, λ per party for the whole file). */
const rp = (i: number) => {
  let r = rpCache.get(i);
  if (!r)
    rpCache.set(
      i,
      (r = ringPedersenFromPrimes(fixturePrime(1536, 4 * i + 2), fixturePrime(1536, 4 * i + 3), {
        checkPrimes: false,
      })),
    );
  return r;
};
const paillier = (i: number) => ({ p: fixturePrime(1536, 4 * i), q: fixturePrime(1536, 4 * i + 1) });

function honest(sid: Uint8Array, i: number, primes = paillier(i)): Step<AuxInfo> {
  return startAuxInfo({ sid, n: 3, i, L, paillier: primes, ringPedersen: rp(i) });
}

/** Party i's honest decommitment (fixture primes, a fresh Πprm for this session), then `over`. */
function decommit(sid: Uint8Array, i: number, over: Partial<AuxDecommit> = {}): AuxDecommit {
  const r = rp(i);
  const { p, q } = paillier(i);
  return {
    N: p * q,
    Nhat: r.params.N,
    s: r.params.s,
    t: r.params.t,
    prm: provePrm({ sid, prover: i }, L, r.params, r.secret),
    rho: Uint8Array.from(randomBytes(32)),
    u: Uint8Array.from(randomBytes(32)),
    ...over,
  };
}

/** Honest parties everywhere except `bad`, which is the adversary made by `adv(sid)`. */
function runWith(bad: number, adv: (sid: Uint8Array) => Step<AuxInfo>, tamper?: Tamper): Results {
  const sid = newSid();
  return runNetwork(
    [0, 1, 2].map((i) => (i === bad ? adv(sid) : honest(sid, i))),
    tamper,
  );
}

function blamed(
  t: ExecutionContext,
  results: Results,
  culprit: number,
  code: BlameCode,
  reason: RegExp,
  receivers = [0, 1, 2].filter((i) => i !== culprit),
): void {
  for (const i of receivers) {
    const r = results[i];
    t.falsy(r?.output, `party ${i} must not output aux-info`);
    t.deepEqual(
      r?.abort?.culprits,
      [culprit],
      `party ${i}: ${r?.abort?.reason ?? (r?.stalled ? 'stalled' : 'no abort')}`,
    );
    t.is(r?.abort?.code, code, `party ${i}`);
    t.regex(r?.abort?.reason ?? '', reason, `party ${i}`);
  }
}

const rewrite =
  (from: number, to: number, round: string, f: (b: Uint8Array) => Uint8Array): Tamper =>
  (m, dest) =>
    m.from === from && dest === to && m.round === round ? [{ ...m, body: f(m.body) }] : undefined;

const both =
  (...ts: Tamper[]): Tamper =>
  (m, to) => {
    for (const f of ts) {
      const r = f(m, to);
      if (r) return r;
    }
    return undefined;
  };

// --- the three long runs ---------------------------------------------------------------------

let smooth: { results: Results; N: bigint; replayable: Uint8Array };
let weakP: { results: Results; p: bigint; N: bigint };
let tampered: Results;

test.before(async () => {
  // A1 BitForge modulus: 16 primes ≡ 3 (mod 4) just above 2^15 (the forger's best case) times a large prime
  const small: bigint[] = [];
  for (let c = 40003n; small.length < 16; c += 4n) if (isPrimeSmall(c)) small.push(c);
  const S = small.reduce((a, b) => a * b, 1n);
  let Q: bigint;
  do Q = await blumPrime(3072 - refBitLength(S));
  while (refBitLength(S * Q) < 3071);
  const Nbad = S * Q;
  let replayable: Uint8Array | undefined;
  let forged: { rho: Uint8Array; mod: ReturnType<typeof forgeMod> } | undefined;
  const smoothResults = runWith(
    2,
    (sid) =>
      auxAdversary({
        sid,
        n: 3,
        i: 2,
        L,
        decommit: decommit(sid, 2, { N: Nbad }),
        proofs: (j, rho, ds) => {
          if (!forged || forged.rho !== rho)
            forged = {
              rho,
              mod: forgeMod({ sid, prover: 2, extra: rho }, L, [...small.map((s) => [s, 1] as const), [Q, 1] as const]),
            };
          const dj = ds[j] as AuxDecommit;
          // Πfac by the honest algorithm with the "factorisation" S·Q: Πmod is checked first and fails
          const fac = proveFac(
            { sid, prover: 2, verifier: j, extra: rho },
            L,
            { N0: Nbad, aux: { N: dj.Nhat, s: dj.s, t: dj.t } },
            { p: S, q: Q },
          );
          return { mod: forged.mod, fac };
        },
      }),
    (m, to) => {
      // record honest party 1's proofs for party 0: replayed in another session below (docs/security.md A7)
      if (m.from === 1 && to === 0 && m.round === AUX_ROUND.proofs) replayable = m.body;
      return undefined;
    },
  );
  smooth = { results: smoothResults, N: Nbad, replayable: replayable as Uint8Array };

  // A1: N = p·q, both ≡ 3 (mod 4), p of 256 bits; party 2 runs the honest algorithm on it
  let p256: bigint;
  let q2: bigint;
  do [p256, q2] = await Promise.all([blumPrime(256), blumPrime(2817)]);
  while (refBitLength(p256 * q2) < 3071);
  const sid = newSid();
  weakP = {
    results: runNetwork([honest(sid, 0), honest(sid, 1), honest(sid, 2, { p: p256, q: q2 })]),
    p: p256,
    N: p256 * q2,
  };

  // one honest session, three tampered deliveries
  const p0 = paillier(0).p;
  const sidT = newSid();
  tampered = runNetwork(
    [0, 1, 2].map((i) => honest(sidT, i)),
    both(
      rewrite(0, 1, AUX_ROUND.proofs, (b) => {
        const pr = decodeProofs(b, L);
        return encodeProofs({ ...pr, mod: { ...pr.mod, items: [] } });
      }),
      rewrite(0, 2, AUX_ROUND.proofs, (b) => {
        const pr = decodeProofs(b, L);
        return encodeProofs({ ...pr, mod: { ...pr.mod, w: p0 } });
      }),
      rewrite(1, 0, AUX_ROUND.proofs, () => smooth.replayable),
    ),
  );
});

test('A1 BitForge: N = (16 primes of 16 bits) × (large prime) in a full run: its best-effort Πmod fails, prover named', (t) => {
  t.true(refBitLength(smooth.N) >= 3071, 'the size check passes: Πmod is what must catch it');
  blamed(t, smooth.results, 2, 'proof-invalid', /^aux\/proofs: mod\/fourth-root$/);
});

test('A1: N = p·q with a 256-bit p in a full run: Πmod passes, Πfac fails (range), prover named', (t) => {
  t.is(refBitLength(weakP.p), 256);
  t.true(refBitLength(weakP.N) >= 3071);
  // Πmod and Πfac are verified in this order in one step: a "fac/" reason means Πmod accepted N
  blamed(t, weakP.results, 2, 'proof-invalid', /^aux\/proofs: fac\/range-z2$/);
});

test('A5: a Πmod with 0 repetitions cannot verify vacuously, prover named', (t) => {
  blamed(
    t,
    tampered,
    0,
    'malformed',
    /^aux\/proofs: malformed \(Πmod items must have exactly 128 entries, has 0\)$/,
    [1],
  );
});

test('A1: a Πmod with w = p (w divides N) is rejected, prover named', (t) => {
  blamed(t, tampered, 0, 'proof-invalid', /^aux\/proofs: mod\/w-not-unit$/, [2]);
});

test('A7: Πmod/Πfac proofs replayed from another session (same prover, same N) are rejected, prover named', (t) => {
  blamed(t, tampered, 1, 'proof-invalid', /^aux\/proofs: mod\/fourth-root$/, [0]);
  t.falsy(tampered[1]?.output);
  t.falsy(tampered[2]?.output);
});

test('A5: Πmod with 0, 127 or 129 repetitions does not decode (m is never read from the wire)', (t) => {
  // a well-formed message (the decoder checks shapes and sizes only), re-encoded with the item list cut or padded
  const fac = { commitment: { P: 1n, Q: 1n, A: 1n, B: 1n, T: 1n, sigma: -1n }, z1: 1n, z2: 1n, w1: 1n, w2: 1n, v: 1n };
  const body = encodeProofs({
    mod: { w: 2n, items: Array.from({ length: L.m }, () => ({ x: 1n, a: false, b: false, z: 1n })) },
    fac,
  });
  const pr = decodeProofs(body, L);
  t.is(pr.mod.items.length, 128);
  for (const len of [0, 1, 127, 129]) {
    const items = Array.from({ length: len }, () => ({ x: 1n, a: false, b: false, z: 1n }));
    t.throws(() => decodeProofs(encodeProofs({ ...pr, mod: { ...pr.mod, items } }), L), {
      message: new RegExp(`exactly 128 entries, has ${len}`),
    });
  }
});

// --- attacks that abort in round 4 -------------------------------------------------------------

test('A6: ring-Pedersen s = −t^λ (not in ⟨t⟩) with a Πprm computed as if valid is rejected in a full run, prover named', (t) => {
  const r = rp(1);
  const { N, t: tt } = r.params;
  const s = N - r.params.s;
  // independent: −t^λ is a non-residue mod p̂ (−1 is one for p̂ ≡ 3 mod 4), so it is not a power of the square t
  t.is(refPow(s % r.secret.p, (r.secret.p - 1n) / 2n, r.secret.p), r.secret.p - 1n);
  const results = runWith(1, (sid) =>
    auxAdversary({
      sid,
      n: 3,
      i: 1,
      L,
      decommit: decommit(sid, 1, { s, prm: prmAsIfValid({ sid, prover: 1 }, L, { N, s, t: tt }, r.secret) }),
    }),
  );
  blamed(t, results, 1, 'proof-invalid', /^aux\/decommit: prm\/equation$/);
});

test('A6 control: the same forger with the true s makes a Πprm that verifies (so the test above tests the check)', (t) => {
  const r = rp(1);
  const binding = { sid: newSid(), prover: 1 };
  t.notThrows(() => verifyPrm(binding, L, r.params, prmAsIfValid(binding, L, r.params, r.secret)));
});

test('A5: a Πprm with 0 repetitions, or with 129 responses z_i, is refused at decoding, prover named', (t) => {
  const resize = (lenA: number, lenZ: number) => (b: Uint8Array) => {
    const d = decodeDecommit(b, L);
    const A = Array.from({ length: lenA }, (_, k) => d.prm.A[k % L.m] as bigint);
    const z = Array.from({ length: lenZ }, (_, k) => d.prm.z[k % L.m] as bigint);
    return encodeDecommit({ ...d, prm: { A, z } });
  };
  const results = runWith(
    0,
    (sid) => auxAdversary({ sid, n: 3, i: 0, L, decommit: decommit(sid, 0) }),
    both(rewrite(0, 1, AUX_ROUND.decommit, resize(0, 0)), rewrite(0, 2, AUX_ROUND.decommit, resize(L.m, 129))),
  );
  blamed(t, results, 0, 'malformed', /^aux\/decommit: malformed \(Πprm A must have exactly 128 entries, has 0\)$/, [1]);
  blamed(
    t,
    results,
    0,
    'malformed',
    /^aux\/decommit: malformed \(Πprm z must have exactly 128 entries, has 129\)$/,
    [2],
  );
});

test('A7: a Πprm replayed from another session is rejected (committed to, so only the proof binding catches it), prover named', (t) => {
  const r = rp(1);
  const old = provePrm({ sid: newSid(), prover: 1 }, L, r.params, r.secret);
  const results = runWith(1, (sid) => auxAdversary({ sid, n: 3, i: 1, L, decommit: decommit(sid, 1, { prm: old }) }));
  blamed(t, results, 1, 'proof-invalid', /^aux\/decommit: prm\/equation$/);
});

test('A7: a Πprm bound to another prover index is rejected, prover named', (t) => {
  const r = rp(1);
  const results = runWith(1, (sid) =>
    auxAdversary({
      sid,
      n: 3,
      i: 1,
      L,
      decommit: decommit(sid, 1, { prm: provePrm({ sid, prover: 2 }, L, r.params, r.secret) }),
    }),
  );
  blamed(t, results, 1, 'proof-invalid', /^aux\/decommit: prm\/equation$/);
});

test('A1: a 2048-bit Paillier modulus (p, q ≡ 3 mod 4, otherwise perfect) is refused by the size check, prover named', async (t) => {
  let p: bigint;
  let q: bigint;
  do [p, q] = await Promise.all([blumPrime(1024), blumPrime(1024)]);
  while (refBitLength(p * q) !== 2048);
  const results = runWith(2, (sid) => auxAdversary({ sid, n: 3, i: 2, L, decommit: decommit(sid, 2, { N: p * q }) }));
  blamed(t, results, 2, 'modulus-invalid', /^aux\/decommit: Paillier modulus N_j has a bad size or parity$/);
});

test('A1: an even Paillier modulus or an even ring-Pedersen modulus of full size is refused, prover named', (t) => {
  const { N } = decommit(newSid(), 2);
  const even = runWith(2, (sid) => auxAdversary({ sid, n: 3, i: 2, L, decommit: decommit(sid, 2, { N: N + 1n }) }));
  blamed(t, even, 2, 'modulus-invalid', /^aux\/decommit: Paillier modulus N_j has a bad size or parity$/);
  const evenHat = runWith(2, (sid) => {
    const d = decommit(sid, 2);
    return auxAdversary({ sid, n: 3, i: 2, L, decommit: { ...d, Nhat: d.Nhat + 1n } });
  });
  blamed(t, evenHat, 2, 'modulus-invalid', /^aux\/decommit: ring-Pedersen modulus N̂_j has a bad size or parity$/);
});

test('A16: a 5000-bit Paillier modulus in the opening is refused at decoding, before any arithmetic, prover named', (t) => {
  const results = runWith(2, (sid) =>
    auxAdversary({ sid, n: 3, i: 2, L, decommit: decommit(sid, 2, { N: (1n << 5000n) + 1n }) }),
  );
  blamed(t, results, 2, 'malformed', /^aux\/decommit: malformed \(N longer than 513 bytes\)$/);
});

// --- the commitment V_j binds the sender's index, the session and every opened value --------------

test('A12/A7: a party that copies another’s commitment and opening (rushing) is refused: its index is inside V_j', (t) => {
  const sid = newSid();
  const one = honest(sid, 1);
  if (one.kind !== 'next') throw new Error('unreachable');
  // read party 1's round-1 state as a rushing adversary would learn it from the wire
  const { V, decommit: d1 } = (one.round as unknown as { s: { V: Uint8Array; decommit: AuxDecommit } }).s;
  const results = runNetwork([honest(sid, 0), one, auxAdversary({ sid, n: 3, i: 2, L, decommit: d1, V })]);
  blamed(t, results, 2, 'commitment-mismatch', /^aux\/decommit: opening does not match commitment V_j$/);
});

test('A7: a commitment and opening replayed from another session are refused: the sid is inside V_j', (t) => {
  const old = newSid();
  const results = runWith(1, (sid) => auxAdversary({ sid, n: 3, i: 1, L, decommit: decommit(old, 1), commitSid: old }));
  blamed(t, results, 1, 'commitment-mismatch', /^aux\/decommit: opening does not match commitment V_j$/);
});

test('an opening with another ρ_j (chosen after seeing the others’) or another Πprm A_i than committed is refused', (t) => {
  const otherRho = runWith(1, (sid) => {
    const d = decommit(sid, 1);
    return auxAdversary({ sid, n: 3, i: 1, L, decommit: { ...d, rho: Uint8Array.from(randomBytes(32)) }, commitTo: d });
  });
  blamed(t, otherRho, 1, 'commitment-mismatch', /^aux\/decommit: opening does not match commitment V_j$/);
  const otherA = runWith(1, (sid) => {
    const d = decommit(sid, 1);
    const A = [...d.prm.A];
    A[3] = A[4] as bigint;
    return auxAdversary({ sid, n: 3, i: 1, L, decommit: { ...d, prm: { ...d.prm, A } }, commitTo: d });
  });
  blamed(t, otherA, 1, 'commitment-mismatch', /^aux\/decommit: opening does not match commitment V_j$/);
});

test('A1: a Πmod bit a_i or b_i other than 0 or 1 does not decode', (t) => {
  const fac = { commitment: { P: 1n, Q: 1n, A: 1n, B: 1n, T: 1n, sigma: 1n }, z1: 1n, z2: 1n, w1: 1n, w2: 1n, v: 1n };
  const items = Array.from({ length: L.m }, () => ({ x: 1n, a: false, b: false, z: 1n }));
  const body = encodeProofs({ mod: { w: 2n, items }, fac });
  t.notThrows(() => decodeProofs(body, L));
  // the first item's a_i byte sits after version (1), w (4 + 2), the count (4) and x_1 (4 + 2)
  for (const [offset, what] of [
    [17, 'a_i'],
    [18, 'b_i'],
  ] as const) {
    const bad = Uint8Array.from(body);
    t.is(bad[offset], 0, what);
    bad[offset] = 2;
    t.throws(() => decodeProofs(bad, L), { message: new RegExp(`Πmod ${what} must be 0 or 1`) });
  }
});

test('aux-info refuses its own Paillier primes unless distinct and ≡ 3 (mod 4)', (t) => {
  const sid = newSid();
  const { p, q } = paillier(0);
  t.throws(() => honest(sid, 0, { p, q: p }), { message: /distinct and ≡ 3/ });
  t.throws(() => honest(sid, 0, { p: p + 2n, q }), { message: /distinct and ≡ 3/ });
});
