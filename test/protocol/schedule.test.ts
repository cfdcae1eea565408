/**
 * The round machinery every round is built on: a protocol's Schedule (the one statement of its
 * rounds and their kinds), the checked Inbox a round reads, and the keygen and aux-info echo round
 * they share (CommitEchoRound).
 */
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { Blame, Inbox, Schedule, collect, type Msg } from '../../src/protocol/machine.js';
import { KEYGEN_ROUND, KEYGEN_SCHEDULE, startKeygen } from '../../src/protocol/keygen/index.js';
import { AUX_ROUND, AUX_SCHEDULE } from '../../src/protocol/aux/index.js';
import { PRESIGN_ROUND, PRESIGN_SCHEDULE } from '../../src/protocol/presign/index.js';
import { Round2 as AuxRound2 } from '../../src/protocol/aux/round2.js';
import { decodeHash, encodeHash } from '../../src/protocol/common.js';
import { echoHash } from '../../src/protocol/echo.js';
import { ringPedersenFromPrimes } from '../../src/paillier/ring-pedersen.js';
import { SECURITY_128 } from '../../src/zk/params.js';
import { fixturePrime } from '../helpers/fixtures.js';

test('Schedule: rounds in order with their kinds; the confirmation is a broadcast, named', (t) => {
  const s = new Schedule([
    ['x/a', 'broadcast'],
    ['x/b', 'p2p'],
    ['x/c', 'confirmation'],
  ]);
  t.deepEqual(s.rounds, [
    { round: 'x/a', broadcast: true },
    { round: 'x/b', broadcast: false },
    { round: 'x/c', broadcast: true },
  ]);
  t.is(s.confirmation, 'x/c');
  t.deepEqual(s.expects('x/b', 'x/a'), [
    { round: 'x/b', broadcast: false },
    { round: 'x/a', broadcast: true },
  ]);
  t.is(new Schedule([['x/a', 'p2p']]).confirmation, undefined);
});

test('Schedule: a round scheduled twice, a confirmation before the end, or an unscheduled expectation is a bug', (t) => {
  t.throws(
    () =>
      new Schedule([
        ['x/a', 'broadcast'],
        ['x/a', 'p2p'],
      ]),
    { message: /scheduled twice/ },
  );
  t.throws(
    () =>
      new Schedule([
        ['x/a', 'confirmation'],
        ['x/b', 'broadcast'],
      ]),
    { message: /not the last/ },
  );
  t.throws(() => new Schedule<string>([['x/a', 'broadcast']]).expects('x/b'), { message: /not in the schedule/ });
});

test('each protocol schedules every round it names, once', (t) => {
  for (const [names, schedule] of [
    [KEYGEN_ROUND, KEYGEN_SCHEDULE],
    [AUX_ROUND, AUX_SCHEDULE],
    [PRESIGN_ROUND, PRESIGN_SCHEDULE],
  ] as const) {
    t.deepEqual(new Set(schedule.rounds.map((e) => e.round)), new Set(Object.values(names)));
  }
  t.is(KEYGEN_SCHEDULE.confirmation, KEYGEN_ROUND.confirm);
  t.is(AUX_SCHEDULE.confirmation, AUX_ROUND.confirm);
  t.is(PRESIGN_SCHEDULE.confirmation, undefined);
});

test('Inbox: gives each expected round by sender; asking for another round or a silent party is a bug, not blame', (t) => {
  const expects = [
    { round: 'b', broadcast: true },
    { round: 'p', broadcast: false },
  ];
  const msgs: Msg[] = [1, 2].flatMap((j) => [
    { from: j, to: 'all' as const, round: 'b', body: Uint8Array.of(j) },
    { from: j, to: 0, round: 'p', body: Uint8Array.of(10 + j) },
  ]);
  const inbox = new Inbox(collect(0, [0, 1, 2], expects, msgs));
  t.deepEqual(
    [...inbox.all('b')],
    [
      [1, Uint8Array.of(1)],
      [2, Uint8Array.of(2)],
    ],
  );
  t.deepEqual(inbox.from('p', 2), Uint8Array.of(12));
  const notBlame = (f: () => unknown, message: RegExp) => {
    const e = t.throws(f, { message });
    t.false(e instanceof Blame);
  };
  notBlame(() => inbox.all('other'), /bug: round other was not expected/);
  notBlame(() => inbox.from('p', 0), /bug: no p message from party 0/);
});

test('CommitEchoRound: keygen and aux-info echo H(sid, commit round, V_0 … V_{n−1}) on their own rounds', (t) => {
  const sid = Uint8Array.from(randomBytes(32));
  const V = [0, 1, 2].map(() => Uint8Array.from(randomBytes(32)));
  const commits = (round: string): Msg[] =>
    [1, 2].map((j) => ({ from: j, to: 'all', round, body: encodeHash(V[j] as Uint8Array) }));

  const k = startKeygen({ sid, n: 3, t: 2, i: 0 });
  if (k.kind !== 'next') throw new Error('unreachable');
  const ownK = decodeHash(k.outbox[0]!.body);
  const kStep = k.round.handle(commits(KEYGEN_ROUND.commit));
  if (kStep.kind !== 'next') throw new Error(`keygen: ${JSON.stringify(kStep)}`);
  t.deepEqual(kStep.round.expects, KEYGEN_SCHEDULE.expects(KEYGEN_ROUND.echo));
  t.deepEqual(kStep.outbox, [
    {
      from: 0,
      to: 'all',
      round: KEYGEN_ROUND.echo,
      body: encodeHash(echoHash(sid, KEYGEN_ROUND.commit, [ownK, V[1]!, V[2]!])),
    },
  ]);

  // aux round 2 only reads the parameters and V_i: the primes behind them do not matter here
  const params = {
    sid,
    n: 3,
    i: 0,
    L: SECURITY_128,
    paillier: { p: fixturePrime(1536, 0), q: fixturePrime(1536, 1) },
    ringPedersen: ringPedersenFromPrimes(fixturePrime(1536, 2), fixturePrime(1536, 3), { checkPrimes: false }),
  };
  const a = new AuxRound2({ params, decommit: undefined as never, V: V[0]! });
  t.deepEqual(a.expects, AUX_SCHEDULE.expects(AUX_ROUND.commit));
  const aStep = a.handle(commits(AUX_ROUND.commit));
  if (aStep.kind !== 'next') throw new Error(`aux: ${JSON.stringify(aStep)}`);
  t.deepEqual(aStep.round.expects, AUX_SCHEDULE.expects(AUX_ROUND.echo));
  t.deepEqual(aStep.outbox, [
    { from: 0, to: 'all', round: AUX_ROUND.echo, body: encodeHash(echoHash(sid, AUX_ROUND.commit, V)) },
  ]);

  // a malformed commitment is blamed on its sender, as in every round
  const b = new AuxRound2({ params, decommit: undefined as never, V: V[0]! }).handle([
    commits(AUX_ROUND.commit)[0]!,
    { from: 2, to: 'all', round: AUX_ROUND.commit, body: Uint8Array.of(1, 2) },
  ]);
  t.deepEqual(b.kind === 'abort' && b.abort.culprits, [2]);
});
