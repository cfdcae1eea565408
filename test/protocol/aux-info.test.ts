/**
 * Aux-info among 3 parties with 3072-bit moduli from the fixture safe primes (party i uses primes
 * 4i, 4i+1 for Paillier and 4i+2, 4i+3 for ring-Pedersen). One honest run is shared by the checks
 * on its output; attacks that abort before the costly proofs run their own sessions.
 */
import test from 'ava';
import { randomBytes } from 'node:crypto';
import type { BlameCode } from '../../src/protocol/blame.js';
import { startAuxInfo, AUX_ROUND } from '../../src/protocol/aux/index.js';
import type { AuxInfo } from '../../src/protocol/aux-info.js';
import { ringPedersenFromPrimes } from '../../src/paillier/ring-pedersen.js';
import { SECURITY_128 } from '../../src/zk/params.js';
import {
  decodeDecommit,
  encodeDecommit,
  decodeProofs,
  encodeProofs,
  type AuxDecommit,
} from '../../src/protocol/aux/messages.js';
import { Round2 } from '../../src/protocol/aux/round2.js';
import { auxCommitment } from '../../src/protocol/aux/commitment.js';
import { encodeHash } from '../../src/protocol/common.js';
import { provePrm } from '../../src/zk/prm.js';
import type { Step } from '../../src/protocol/machine.js';
import { fixturePrime } from '../helpers/fixtures.js';
import { runNetwork, type Tamper } from '../helpers/network.js';

const L = SECURITY_128;

function starts(sid = Uint8Array.from(randomBytes(32)), tweak?: (i: number) => { p: bigint; q: bigint } | undefined) {
  return [0, 1, 2].map((i) =>
    startAuxInfo({
      sid,
      n: 3,
      i,
      L,
      paillier: tweak?.(i) ?? { p: fixturePrime(1536, 4 * i), q: fixturePrime(1536, 4 * i + 1) },
      ringPedersen: ringPedersenFromPrimes(fixturePrime(1536, 4 * i + 2), fixturePrime(1536, 4 * i + 3), {
        checkPrimes: false,
      }),
    }),
  );
}

let honest: ReturnType<typeof runNetwork<AuxInfo>> | undefined;
function honestRun() {
  honest ??= runNetwork(starts());
  return honest;
}

test('3-party aux-info: every party ends with the same public data and its own primes', (t) => {
  const results = honestRun();
  const out = results.map((r, i) => {
    t.truthy(r.output, `party ${i}: ${r.abort?.reason ?? 'stalled'}`);
    return r.output as AuxInfo;
  });
  for (const a of out) {
    t.is(a.parties.length, 3);
    a.parties.forEach((pa, j) => {
      t.true(pa.N === (out[0] as AuxInfo).parties[j]?.N);
      t.true(pa.rp.s === (out[0] as AuxInfo).parties[j]?.rp.s);
    });
    t.is(a.parties[a.i]?.N, a.secret.p * a.secret.q);
  }
  t.is(out[1]?.parties[1]?.N, fixturePrime(1536, 4) * fixturePrime(1536, 5));
});

function rewrite(from: number, round: string, f: (body: Uint8Array, to: number) => Uint8Array): Tamper {
  return (m, to) => (m.from === from && m.round === round ? [{ ...m, body: f(m.body, to) }] : undefined);
}

function assertBlamed(
  t: import('ava').ExecutionContext,
  results: ReturnType<typeof runNetwork<AuxInfo>>,
  culprit: number,
  code: BlameCode,
  reason: RegExp,
): void {
  for (const i of [0, 1, 2].filter((x) => x !== culprit)) {
    const r = results[i];
    t.falsy(r?.output, `party ${i} must not output aux-info`);
    t.deepEqual(r?.abort?.culprits, [culprit], `party ${i}: ${r?.abort?.reason ?? 'no abort'}`);
    t.is(r?.abort?.code, code, `party ${i}`);
    t.regex(r?.abort?.reason ?? '', reason);
  }
}

test('A6: a tampered Πprm is rejected before any Paillier proof, prover named', (t) => {
  // re-open the commitment with a changed Πprm entry: the opening no longer matches V_1, so the
  // honest parties abort naming party 1 (a consistent forgery is covered in the Πprm unit tests)
  const results = runNetwork(
    starts(),
    rewrite(1, AUX_ROUND.decommit, (b) => {
      const d = decodeDecommit(b, L);
      const z = [...d.prm.z];
      z[7] = (z[7] as bigint) + 1n;
      return encodeDecommit({ ...d, prm: { ...d.prm, z } });
    }),
  );
  assertBlamed(t, results, 1, 'commitment-mismatch', /does not match commitment/);
});

test('A1: an undersized (1024-bit) Paillier modulus is rejected by the size check, prover named', (t) => {
  // party 2 runs the honest protocol with two 512-bit safe primes; the others must refuse N_2
  const results = runNetwork(
    starts(undefined, (i) => (i === 2 ? { p: fixturePrime(512, 0), q: fixturePrime(512, 1) } : undefined)),
  );
  assertBlamed(t, results, 2, 'modulus-invalid', /N_j has a bad size/);
});

test('A5: a Πmod with 127 repetitions is refused at decoding, prover named', (t) => {
  const results = runNetwork(
    starts(),
    rewrite(0, AUX_ROUND.proofs, (b) => {
      const pr = decodeProofs(b, L);
      return encodeProofs({ ...pr, mod: { ...pr.mod, items: pr.mod.items.slice(1) } });
    }),
  );
  assertBlamed(t, results, 0, 'malformed', /Πmod items must have exactly 128 entries/);
});

test('a Πfac made for another verifier is rejected, prover named', (t) => {
  // party 0's proofs for party 2 are delivered to party 1 instead of its own
  const results = runNetwork(starts(), (m, to) => {
    if (m.from !== 0 || m.round !== AUX_ROUND.proofs) return undefined;
    if (to === 1) return [];
    return [m, { ...m, to: 1 }];
  });
  t.deepEqual(results[1]?.abort?.culprits, [0]);
  t.is(results[1]?.abort?.code, 'proof-invalid');
  t.regex(results[1]?.abort?.proof ?? '', /^fac\//);
  t.regex(results[1]?.abort?.reason ?? '', /fac\//);
  t.falsy(results[1]?.output);
});

test('a Paillier modulus copied from another party: its owner names the copier, a bystander names nobody', (t) => {
  // party 2 reuses party 0's primes (and so its N, with proofs it could answer): refused at round 4
  const results = runNetwork(
    starts(undefined, (i) => (i === 2 ? { p: fixturePrime(1536, 0), q: fixturePrime(1536, 1) } : undefined)),
  );
  for (const i of [0, 1]) {
    t.falsy(results[i]?.output);
    t.is(results[i]?.abort?.code, 'modulus-repeated');
    t.regex(results[i]?.abort?.reason ?? '', /modulus repeats one of ours|same modulus/);
  }
  t.deepEqual(results[0]?.abort?.culprits, [2], 'party 0 made its N fresh for this run: 2 is passing it off');
  t.deepEqual(results[1]?.abort?.culprits, [], 'party 1 cannot tell who owns the modulus');
});

// --- a malicious party that commits to what it opens (its own round 1, built by hand) -----------

function maliciousStart(sid: Uint8Array, i: number, mutate: (d: AuxDecommit) => AuxDecommit): Step<AuxInfo> {
  const ringPedersen = ringPedersenFromPrimes(fixturePrime(1536, 4 * i + 2), fixturePrime(1536, 4 * i + 3), {
    checkPrimes: false,
  });
  const paillier = { p: fixturePrime(1536, 4 * i), q: fixturePrime(1536, 4 * i + 1) };
  const { N, s, t: tt } = ringPedersen.params;
  const honest: AuxDecommit = {
    N: paillier.p * paillier.q,
    Nhat: N,
    s,
    t: tt,
    prm: provePrm({ sid, prover: i }, L, ringPedersen.params, ringPedersen.secret),
    rho: Uint8Array.from(randomBytes(32)),
    u: Uint8Array.from(randomBytes(32)),
  };
  const decommit = mutate(honest);
  const V = auxCommitment(sid, 3, i, decommit);
  return {
    kind: 'next',
    round: new Round2({ params: { sid, n: 3, i, L, paillier, ringPedersen }, decommit, V }),
    outbox: [{ from: i, to: 'all', round: AUX_ROUND.commit, body: encodeHash(V) }],
  };
}

function withMalicious(i: number, mutate: (d: AuxDecommit) => AuxDecommit) {
  const sid = Uint8Array.from(randomBytes(32));
  const s = starts(sid);
  s[i] = maliciousStart(sid, i, mutate);
  return runNetwork(s);
}

test('A6: a Πprm that does not verify (consistently committed) is rejected, prover named', (t) => {
  const results = withMalicious(1, (d) => {
    const z = [...d.prm.z];
    z[7] = ((z[7] as bigint) + 1n) % d.Nhat;
    return { ...d, prm: { ...d.prm, z } };
  });
  assertBlamed(t, results, 1, 'proof-invalid', /aux\/decommit: prm\/equation/);
});

test('P3: a copier with the lower index gets nobody blamed by a bystander, and is named by the modulus owner', (t) => {
  // party 0 presents party 2's Paillier modulus (as if replayed from an earlier run); with the
  // "blame the later index" rule the bystander, party 1, named the honest party 2
  const N2 = fixturePrime(1536, 8) * fixturePrime(1536, 9);
  const results = withMalicious(0, (d) => ({ ...d, N: N2 }));
  t.falsy(results[1]?.output);
  t.deepEqual(results[1]?.abort?.culprits, [], `party 1: ${results[1]?.abort?.reason ?? 'no abort'}`);
  t.is(results[1]?.abort?.code, 'modulus-repeated');
  t.regex(results[1]?.abort?.reason ?? '', /two other parties present the same modulus \(0, 2\); nobody blamed/);
  t.falsy(results[2]?.output);
  t.deepEqual(results[2]?.abort?.culprits, [0], 'the owner of the modulus names the copier');
});

test('a party whose Paillier and ring-Pedersen moduli are equal is named', (t) => {
  const results = withMalicious(1, (d) => ({ ...d, N: d.Nhat }));
  for (const i of [0, 2]) {
    t.falsy(results[i]?.output);
    t.deepEqual(results[i]?.abort?.culprits, [1]);
    t.is(results[i]?.abort?.code, 'modulus-repeated');
    t.regex(results[i]?.abort?.reason ?? '', /Paillier and ring-Pedersen moduli are equal/);
  }
});

test('A1/A16: an undersized ring-Pedersen modulus is rejected before any arithmetic, prover named', (t) => {
  const results = withMalicious(2, (d) => ({ ...d, Nhat: fixturePrime(512, 2) * fixturePrime(512, 3) }));
  assertBlamed(t, results, 2, 'modulus-invalid', /N̂_j has a bad size/);
});
