/**
 * The round schedules a node hands the envelope layer (src/node/rounds.ts) are the protocols' own:
 * an honest run of each protocol, driven round by round, waits for exactly the scheduled rounds in
 * the scheduled order and kinds, sends only scheduled rounds of the scheduled kind, and confirms
 * (when it does) on the schedule's confirmation round.
 */
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { PROTOCOL_SCHEDULES } from '../../src/node/rounds.js';
import { startKeygen, startRefresh } from '../../src/protocol/keygen/index.js';
import { startReshare } from '../../src/protocol/reshare/index.js';
import { startAuxInfo } from '../../src/protocol/aux/index.js';
import { startPresign } from '../../src/protocol/presign/index.js';
import { ConfirmRound } from '../../src/protocol/confirm.js';
import type { Expectation, Msg, Round, Step } from '../../src/protocol/machine.js';
import type { ProtocolName } from '../../src/rpc/messages.js';
import { ringPedersenFromPrimes } from '../../src/paillier/ring-pedersen.js';
import { SECURITY_128 } from '../../src/zk/params.js';
import { fixturePrime } from '../helpers/fixtures.js';
import { auxFixture, keygenShares } from '../helpers/cluster.js';
import { runNetwork } from '../helpers/network.js';

const sid = () => Uint8Array.from(randomBytes(32));

/** What one party did: every expectation of its rounds in turn, its sent messages, its confirmation round. */
interface Trace {
  expected: Expectation[];
  sent: Msg[];
  confirmedOn?: string;
}

/** Wraps a party's steps so that each round it enters and each message it sends is recorded. */
function traced<O>(step: Step<O>, trace: Trace): Step<O> {
  if (step.kind === 'abort') return step;
  trace.sent.push(...step.outbox);
  if (step.kind === 'done') return step;
  const inner = step.round;
  trace.expected.push(...inner.expects);
  if (inner instanceof ConfirmRound) trace.confirmedOn = inner.round;
  const round: Round<O> = {
    me: inner.me,
    expects: inner.expects,
    handle: (inbox) => traced(inner.handle(inbox), trace),
  };
  return { ...step, round };
}

function run<O>(starts: Step<O>[], ids?: number[]): Trace[] {
  const traces = starts.map((): Trace => ({ expected: [], sent: [] }));
  const results = runNetwork(
    starts.map((s, k) => traced(s, traces[k] as Trace)),
    undefined,
    ids,
  );
  for (const r of results) if (!r.output) throw new Error(`run did not finish: ${JSON.stringify(r.abort ?? r)}`);
  return traces;
}

const L = SECURITY_128;
const keys = keygenShares(3, 2);
const aux = auxFixture(3);

const runs: Record<ProtocolName, () => Trace[]> = {
  keygen: () => {
    const s = sid();
    return run([0, 1, 2].map((i) => startKeygen({ sid: s, n: 3, t: 2, i })));
  },
  refresh: () => {
    const s = sid();
    return run(keys.map((share) => startRefresh({ sid: s, share })));
  },
  aux: () => {
    const s = sid();
    return run(
      [0, 1, 2].map((i) =>
        startAuxInfo({
          sid: s,
          n: 3,
          i,
          L,
          paillier: { p: fixturePrime(1536, 4 * i), q: fixturePrime(1536, 4 * i + 1) },
          ringPedersen: ringPedersenFromPrimes(fixturePrime(1536, 4 * i + 2), fixturePrime(1536, 4 * i + 3), {
            checkPrimes: false,
          }),
        }),
      ),
    );
  },
  reshare: () => {
    const s = sid();
    // node_3 replaced: node_1 and node_2 deal, all three receive
    const roles = [{ old: 0, new: 0 }, { old: 1, new: 1 }, { new: 2 }];
    const { n, t, Y, X } = keys[0]!.public;
    return run(
      roles.map((r, me) =>
        startReshare({
          sid: s,
          roles,
          me,
          old: { n, t, Y, X },
          n: 3,
          t: 2,
          ...(r.old === undefined ? {} : { share: keys[r.old]! }),
        }),
      ),
    );
  },
  presign: () => {
    const s = sid();
    const S = [0, 2];
    return run(
      S.map((i) => startPresign({ sid: s, signers: S, key: keys[i]!, aux: aux[i]!, L })),
      S,
    );
  },
};

for (const [name, schedule] of Object.entries(PROTOCOL_SCHEDULES) as [
  ProtocolName,
  (typeof PROTOCOL_SCHEDULES)[ProtocolName],
][]) {
  test(`${name}: an honest run follows the protocol's exported schedule`, (t) => {
    for (const [i, trace] of runs[name]().entries()) {
      // what the party waited for, round after round, is the schedule (rounds, kinds, order)
      // (a round may expect some rounds from some parties only: `from` is the protocol's, not the schedule's)
      t.deepEqual(
        trace.expected.map(({ round, broadcast }) => ({ round, broadcast })),
        [...schedule.rounds],
        `party ${i}: expected rounds`,
      );
      for (const m of trace.sent) {
        const e = schedule.rounds.find((x) => x.round === m.round);
        t.truthy(e, `party ${i} sent an unscheduled round ${m.round}`);
        t.is(m.to === 'all', e?.broadcast ?? !(m.to === 'all'), `party ${i}: ${m.round} sent as the wrong kind`);
      }
      t.is(trace.confirmedOn, schedule.confirmation, `party ${i}: confirmation round`);
    }
  });
}
