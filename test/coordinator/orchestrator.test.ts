/**
 * The orchestrator against scripted nodes: prepare → start with every nonce in index order →
 * envelopes routed by recipient ('all' = every other participant, an index = that node only),
 * batched per node; presign runs with the signers only; an abort comes back with its culprits and
 * the others are told to abort; a node that stops answering times the session out (abort sent to
 * all); failures, malformed answers, disagreeing results and stalls each end the session.
 */
import test from 'ava';
import { ConnectionClosedError } from '../../src/transport/errors.js';
import { Orchestrator, type SessionOutcome } from '../../src/coordinator/orchestrator.js';
import type { ProtocolName, Request, SessionUpdate } from '../../src/rpc/messages.js';
import { generateKeyPairSync } from 'node:crypto';
import { decodeEnvelope, encodeSignedEnvelope } from '../../src/envelope/envelope.js';
import { FakeLink, NODE_IDS, fakeSessionKey, never, type Handler } from '../helpers/coordinator.js';
import { deriveSessionId } from '../../src/protocol/session-id.js';
import { EnvelopeSession } from '../../src/envelope/envelope.js';

const b64 = (s: string): string => Buffer.from(s).toString('base64');
const nonceOf = (i: number): string =>
  String(i + 1)
    .repeat(64)
    .slice(0, 64);
const STATE = 'ee'.repeat(32);
const SIGNER = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
const SESSION_ID = 'sess_orchestrator_test';
/** the sid the nodes (and the orchestrator) derive for a session of these tests */
const sidFor = (protocol: ProtocolName, participants: readonly number[], walletId = 'w_test0000'): Uint8Array =>
  deriveSessionId({
    protocol,
    sessionId: SESSION_ID,
    parties: NODE_IDS,
    walletId: protocol === 'aux' ? undefined : walletId,
    participants,
    nonces: participants.map(nonceOf),
    state: STATE,
    sessionKeys: participants.map((i) => fakeSessionKey(i).key),
  });
const SID = sidFor('keygen', [0, 1, 2]);
const seqs = new Map<number, number>();
/**
 * A well-formed envelope from `from` to `to` whose payload is `label` (the orchestrator reads the
 * header to route; it never checks signatures, the recipients do).
 */
function env(label: string, from: number, to: number | 'all', sid = SID, protocol: ProtocolName = 'keygen'): string {
  const seq = seqs.get(from) ?? 0;
  seqs.set(from, seq + 1);
  const p2p = to !== 'all';
  const ephemeral = p2p ? Uint8Array.from([4, ...new Uint8Array(64).fill(1)]) : new Uint8Array(0);
  const payload = Buffer.from(p2p ? label.padEnd(16, ' ') : label);
  return Buffer.from(
    encodeSignedEnvelope(
      {
        kind: p2p ? 'p2p' : 'bcast',
        protocol: `mpc-engine/${protocol}`,
        sid,
        round: 'r1',
        from,
        to,
        seq,
        ephemeral,
        payload,
      },
      SIGNER,
    ),
  ).toString('base64');
}
const unb64 = (s: string): string =>
  Buffer.from(decodeEnvelope(Buffer.from(s, 'base64')).payload)
    .toString()
    .trim();
/** what a committing protocol's node reports with done: every party's confirmation (not checked by the orchestrator) */
const EVIDENCE = [0, 1, 2].map((j) => env(`confirm${j}`, j, 'all'));

interface MiniOptions {
  /** the session's participants (indices) */
  participants: readonly number[];
  result: (i: number) => SessionUpdate['result'];
  /** override the answer to a deliver (after it was recorded) */
  onDeliver?: (i: number, received: readonly string[]) => SessionUpdate | Promise<SessionUpdate> | undefined;
}

/**
 * A two-round protocol: at start each participant broadcasts `b<i>` and sends `p<i>-><j>` to each
 * other participant; it is done once it holds every other participant's broadcast and its p2p.
 * Each node records the envelopes it was given, in order.
 */
function miniNode(i: number, o: MiniOptions, log: Map<number, string[]>): Handler {
  const received: string[] = [];
  log.set(i, received);
  const others = o.participants.filter((j) => j !== i);
  const needed = others.flatMap((j) => [`b${j}`, `p${j}->${i}`]);
  let sid = SID;
  let protocol: ProtocolName = 'keygen';
  return async (req: Request) => {
    switch (req.method) {
      case 'prepare':
        protocol = req.protocol;
        sid = sidFor(req.protocol, o.participants, req.walletId);
        return { ok: true, nonce: nonceOf(i), state: STATE, sessionKey: fakeSessionKey(i) };
      case 'start': {
        const outbox = [
          { to: 'all' as const, envelope: env(`b${i}`, i, 'all', sid, protocol) },
          ...others.map((j) => ({ to: j, envelope: env(`p${i}->${j}`, i, j, sid, protocol) })),
        ];
        return { ok: true, status: 'running', outbox };
      }
      case 'deliver': {
        received.push(...req.envelopes.map(unb64));
        const custom = await o.onDeliver?.(i, received);
        if (custom) return { ok: true, ...custom };
        const done = needed.every((n) => received.includes(n));
        const result = o.result(i);
        const evidence = result?.protocol === 'presign' ? {} : { evidence: EVIDENCE };
        return done
          ? { ok: true, status: 'done', outbox: [], result, ...evidence }
          : { ok: true, status: 'running', outbox: [] };
      }
      case 'abort':
        return { ok: true };
      default:
        return { ok: false, code: 'bad-request', error: req.method };
    }
  };
}

function cluster(o: MiniOptions) {
  const log = new Map<number, string[]>();
  const links = NODE_IDS.map((id, k) => new FakeLink(id, k, miniNode(k, o, log)));
  return { links, log, participants: o.participants.map((k) => links[k] as FakeLink) };
}

const keygenResult =
  (publicKey = '02' + 'ab'.repeat(32)) =>
  () => ({ protocol: 'keygen' as const, walletId: 'w_test0000', publicKey });

function run<P extends ProtocolName>(
  protocol: P,
  participants: FakeLink[],
  extra: { timeoutMs?: number; walletId?: string } = {},
  outcomes: SessionOutcome[] = [],
) {
  const orchestrator = new Orchestrator({ onOutcome: (o) => outcomes.push(o) });
  return orchestrator.run({
    protocol,
    parties: [...NODE_IDS],
    participants,
    sessionId: SESSION_ID,
    ...(protocol === 'aux' ? {} : { walletId: extra.walletId ?? 'w_test0000' }),
    ...(extra.timeoutMs === undefined ? {} : { timeoutMs: extra.timeoutMs }),
  });
}

test('keygen: prepare, start with nonces in index order, every envelope routed to the right nodes', async (t) => {
  const { links, log, participants } = cluster({ participants: [0, 1, 2], result: keygenResult() });
  const seen: SessionOutcome[] = [];
  const outcome = await run('keygen', participants, {}, seen);
  t.is(outcome.status, 'done');
  if (outcome.status !== 'done') return;
  t.deepEqual(outcome.result, keygenResult()());
  t.deepEqual(outcome.participants, [...NODE_IDS]);
  t.is(seen.length, 1, 'the outcome observer saw it');
  for (const link of links) {
    const [prepare, start] = link.requests;
    t.like(prepare, {
      method: 'prepare',
      protocol: 'keygen',
      parties: [...NODE_IDS],
      walletId: 'w_test0000',
      sessionId: outcome.sessionId,
    });
    t.false(prepare !== undefined && 'signers' in prepare, 'no signers outside presign');
    t.deepEqual(start, {
      v: 1,
      method: 'start',
      sessionId: outcome.sessionId,
      nonces: [nonceOf(0), nonceOf(1), nonceOf(2)],
      states: [STATE, STATE, STATE],
      sessionKeys: [0, 1, 2].map(fakeSessionKey),
    });
    t.false(link.methods().includes('abort'));
  }
  // node i got the others' broadcasts and exactly the p2p addressed to it — never its own, never others'
  for (const i of [0, 1, 2]) {
    const got = [...(log.get(i) ?? [])].sort();
    const expected = [0, 1, 2]
      .filter((j) => j !== i)
      .flatMap((j) => [`b${j}`, `p${j}->${i}`])
      .sort();
    t.deepEqual(got, expected, `node ${i}`);
  }
});

test('presign: only the signers take part; prepare names all parties and the signers', async (t) => {
  const presignature = b64('public presignature bytes');
  const { links, log, participants } = cluster({
    participants: [0, 2],
    result: () => ({ protocol: 'presign', walletId: 'w_test0000', presignature }),
  });
  const outcome = await run('presign', participants);
  t.is(outcome.status, 'done');
  t.deepEqual(links[1]?.requests, [], 'the non-signer hears nothing');
  t.like(links[0]?.requests[0], { method: 'prepare', protocol: 'presign', parties: [...NODE_IDS], signers: [0, 2] });
  t.like(links[2]?.requests[1], {
    method: 'start',
    nonces: [nonceOf(0), nonceOf(2)],
    sessionKeys: [0, 2].map(fakeSessionKey),
  });
  t.deepEqual([...(log.get(0) ?? [])].sort(), ['b2', 'p2->0']);
  t.deepEqual([...(log.get(2) ?? [])].sort(), ['b0', 'p0->2']);
});

test('envelopes waiting for a busy node go in one deliver when it is free', async (t) => {
  // node 0 answers its start slowly, so both others' messages to it pile up.
  const log = new Map<number, string[]>();
  const o: MiniOptions = { participants: [0, 1, 2], result: keygenResult() };
  const links = NODE_IDS.map((id, k) => new FakeLink(id, k, miniNode(k, o, log)));
  const inner = links[0]?.handler as Handler;
  (links[0] as FakeLink).handler = async (req, l) => {
    if (req.method === 'start') await new Promise((r) => setTimeout(r, 50));
    return inner(req, l);
  };
  const outcome = await run('keygen', links);
  t.is(outcome.status, 'done');
  const delivers = links[0]?.requests.filter((r) => r.method === 'deliver') ?? [];
  t.is(delivers.length, 1, 'one batch');
  t.is(delivers[0]?.method === 'deliver' ? delivers[0].envelopes.length : 0, 4);
});

test('an abort is returned with its culprits, and the other participants are told to abort', async (t) => {
  const { links } = cluster({
    participants: [0, 1, 2],
    result: keygenResult(),
    onDeliver: (i) =>
      i === 2
        ? {
            status: 'aborted',
            outbox: [],
            abort: { culprits: [1], code: 'proof-invalid', reason: 'sch: proof does not verify' },
          }
        : undefined,
  });
  const outcome = await run('keygen', links);
  t.is(outcome.status, 'aborted');
  if (outcome.status !== 'aborted') return;
  t.is(outcome.reportedBy, 'node_3');
  t.deepEqual(outcome.culprits, [{ index: 1, nodeId: 'node_2' }]);
  t.is(outcome.reason, 'sch: proof does not verify');
  t.is(outcome.code, 'proof-invalid');
  await new Promise((r) => setImmediate(r));
  t.true(links[0]?.methods().includes('abort'));
  t.true(links[1]?.methods().includes('abort'));
  t.false(links[2]?.methods().includes('abort'), 'the node that aborted already dropped the session');
  t.like(
    links[0]?.requests.find((r) => r.method === 'abort'),
    { sessionId: outcome.sessionId },
  );
});

test('a node that stops answering times the session out: which node, and abort sent to all', async (t) => {
  const { links } = cluster({
    participants: [0, 1, 2],
    result: keygenResult(),
    onDeliver: (i) => (i === 1 ? never<SessionUpdate>() : undefined),
  });
  const started = Date.now();
  const outcome = await run('keygen', links, { timeoutMs: 150 });
  t.true(Date.now() - started < 10_000, `${Date.now() - started} ms`);
  t.is(outcome.status, 'failed');
  if (outcome.status !== 'failed') return;
  t.is(outcome.failure, 'timeout');
  t.deepEqual(outcome.nodes, ['node_2']);
  for (const l of links) t.true(l.methods().includes('abort'), `${l.nodeId} told to abort`);
  // every request carried the time left as its own timeout
  const sessionCalls =
    links[0]?.requests.flatMap((r, k) => (r.method === 'abort' ? [] : [links[0]?.timeouts[k]])) ?? [];
  t.true(sessionCalls.length >= 3 && sessionCalls.every((ms) => ms !== undefined && ms <= 150));
});

test('a node that drops its connection fails the session at once, naming it', async (t) => {
  const { links } = cluster({
    participants: [0, 1, 2],
    result: keygenResult(),
    onDeliver: (i) => {
      if (i === 0) throw new ConnectionClosedError('not connected to node node_1');
      return undefined;
    },
  });
  const outcome = await run('keygen', links);
  t.like(outcome, { status: 'failed', failure: 'unavailable', nodes: ['node_1'] });
  t.true(links[1]?.methods().includes('abort'));
});

test('a node refusing prepare fails the session as rejected, with its code', async (t) => {
  const links = NODE_IDS.map(
    (id, k) =>
      new FakeLink(id, k, (req) => {
        if (req.method === 'prepare')
          return k === 2
            ? { ok: false, code: 'no-aux', error: 'aux-info not made yet' }
            : { ok: true, nonce: nonceOf(k), state: STATE, sessionKey: fakeSessionKey(k) };
        return { ok: true };
      }),
  );
  const outcome = await run('keygen', links);
  t.like(outcome, { status: 'failed', failure: 'rejected', nodes: ['node_3'] });
  if (outcome.status === 'failed') t.regex(outcome.reason, /no-aux/);
  t.false(
    links.some((l) => l.methods().includes('start')),
    'nothing starts',
  );
});

test('malformed answers are caught by the schemas', async (t) => {
  const cases: [string, (i: number, r: readonly string[]) => SessionUpdate | undefined][] = [
    ['unknown status', (i) => (i === 0 ? ({ status: 'finished', outbox: [] } as unknown as SessionUpdate) : undefined)],
    [
      'extra field',
      (i) => (i === 0 ? ({ status: 'running', outbox: [], secret: 1 } as unknown as SessionUpdate) : undefined),
    ],
    ['envelope not base64', (i) => (i === 0 ? { status: 'running', outbox: [{ to: 1, envelope: '***' }] } : undefined)],
    [
      'addressed to itself',
      (i) => (i === 0 ? { status: 'running', outbox: [{ to: 0, envelope: env('x', 0, 1) }] } : undefined),
    ],
    ['done without result', (i) => (i === 0 ? { status: 'done', outbox: [] } : undefined)],
    [
      'result of another protocol',
      (i) =>
        i === 0 ? { status: 'done', outbox: [], result: { protocol: 'aux', auxId: 'ab'.repeat(32) } } : undefined,
    ],
  ];
  for (const [name, onDeliver] of cases) {
    const { links } = cluster({ participants: [0, 1, 2], result: keygenResult(), onDeliver });
    const outcome = await run('keygen', links);
    t.like(outcome, { status: 'failed', failure: 'invalid-response', nodes: ['node_1'] }, name);
  }
});

test('presign to a non-participant is a malformed answer', async (t) => {
  const { participants } = cluster({
    participants: [0, 2],
    result: () => ({ protocol: 'presign', walletId: 'w_test0000', presignature: b64('p') }),
    onDeliver: (i) => (i === 0 ? { status: 'running', outbox: [{ to: 1, envelope: env('x', 0, 1) }] } : undefined),
  });
  const outcome = await run('presign', participants);
  t.like(outcome, { status: 'failed', failure: 'invalid-response', nodes: ['node_1'] });
});

test('participants reporting different results fail the session as inconsistent', async (t) => {
  const { links } = cluster({
    participants: [0, 1, 2],
    result: (i) => keygenResult(i === 1 ? '03' + 'cd'.repeat(32) : '02' + 'ab'.repeat(32))(),
  });
  const outcome = await run('keygen', links);
  t.like(outcome, { status: 'failed', failure: 'inconsistent' });
  for (const l of links) t.true(l.methods().includes('abort'));
});

test('a session where nobody has anything left to send is stalled, not left hanging', async (t) => {
  const links = NODE_IDS.map(
    (id, k) =>
      new FakeLink(id, k, (req) => {
        if (req.method === 'prepare')
          return { ok: true, nonce: nonceOf(k), state: STATE, sessionKey: fakeSessionKey(k) };
        if (req.method === 'start') return { ok: true, status: 'running', outbox: [] };
        return { ok: true };
      }),
  );
  const outcome = await run('aux', links, { timeoutMs: 5_000 });
  t.like(outcome, { status: 'failed', failure: 'stalled' });
  if (outcome.status === 'failed') t.deepEqual(outcome.nodes, [...NODE_IDS]);
});

test('a bad spec is a bug and throws', async (t) => {
  const links = NODE_IDS.map((id, k) => new FakeLink(id, k, () => ({ ok: true })));
  const o = new Orchestrator();
  await t.throwsAsync(
    o.run({ protocol: 'keygen', parties: [...NODE_IDS], participants: links.slice(0, 2), walletId: 'w_test0000' }),
    { instanceOf: RangeError },
  );
  await t.throwsAsync(o.run({ protocol: 'aux', parties: [...NODE_IDS], participants: links, walletId: 'w_test0000' }), {
    instanceOf: RangeError,
  });
  await t.throwsAsync(
    o.run({
      protocol: 'presign',
      parties: [...NODE_IDS],
      participants: [links[2] as FakeLink, links[0] as FakeLink],
      walletId: 'w_test0000',
    }),
    {
      instanceOf: RangeError,
    },
  );
  await t.throwsAsync(
    o.run({ protocol: 'presign', parties: ['a', 'b', 'c'], participants: links.slice(0, 2), walletId: 'w_test0000' }),
    { instanceOf: RangeError },
  );
});

test('P1: a node that never gets the last confirmation is finalized with the evidence another node committed on', async (t) => {
  const { links } = cluster({
    participants: [0, 1, 2],
    result: keygenResult(),
    // node 3 never completes (its last confirmation was dropped on the way)
    onDeliver: (i) => (i === 2 ? { status: 'running', outbox: [] } : undefined),
  });
  const node3 = links[2] as FakeLink;
  const inner = node3.handler;
  node3.handler = (req, link) =>
    req.method === 'finalize' ? { ok: true, result: keygenResult()() } : inner(req, link);
  const outcome = await run('keygen', links, { timeoutMs: 10_000 });
  t.is(outcome.status, 'done', 'every node ends on the committed epoch');
  const fin = node3.requests.find((r) => r.method === 'finalize');
  t.deepEqual(fin, { v: 1, method: 'finalize', scope: 'w_test0000', envelopes: EVIDENCE });
  t.false(links[0]?.methods().includes('finalize'), 'a node that committed is not asked again');
});

test('P1: when finalize fails the session fails and the node keeps its pending state (no second commit is invented)', async (t) => {
  const { links } = cluster({
    participants: [0, 1, 2],
    result: keygenResult(),
    onDeliver: (i) => (i === 2 ? { status: 'running', outbox: [] } : undefined),
  });
  const node3 = links[2] as FakeLink;
  const inner = node3.handler;
  node3.handler = (req, link) =>
    req.method === 'finalize' ? { ok: false, code: 'bad-evidence', error: 'no' } : inner(req, link);
  const outcome = await run('keygen', links, { timeoutMs: 10_000 });
  t.like(outcome, { status: 'failed', failure: 'stalled' });
});

test('P1: a broadcast goes to every participant; a node that addresses its broadcast to one peer only is refused', async (t) => {
  let sent = false;
  const { links, log } = cluster({
    participants: [0, 1, 2],
    result: keygenResult(),
    onDeliver: (i) => {
      if (i !== 0 || sent) return undefined;
      sent = true;
      return { status: 'running', outbox: [{ to: 1, envelope: env('late-broadcast', 0, 'all') }] };
    },
  });
  const outcome = await run('keygen', links);
  t.like(outcome, { status: 'failed', failure: 'invalid-response', nodes: ['node_1'] });
  t.false((log.get(2) ?? []).includes('late-broadcast'), 'the one-peer broadcast reached nobody');
  t.false((log.get(1) ?? []).includes('late-broadcast'));
});

test('P4: participants whose state fingerprints differ are never started; nobody is blamed, the odd one is named', async (t) => {
  const links = NODE_IDS.map(
    (id, k) =>
      new FakeLink(id, k, (req) => {
        if (req.method === 'prepare')
          return {
            ok: true,
            nonce: nonceOf(k),
            state: k === 1 ? 'dd'.repeat(32) : STATE,
            sessionKey: fakeSessionKey(k),
          };
        return { ok: true };
      }),
  );
  const outcome = await run('keygen', links);
  t.like(outcome, { status: 'failed', failure: 'state-mismatch', nodes: ['node_2'] });
  t.false(
    links.some((l) => l.methods().includes('start')),
    'nothing starts',
  );
});

test('an envelope whose header names another sender or session is refused', async (t) => {
  const otherSid = new Uint8Array(32).fill(9);
  for (const envelope of [env('spoof', 1, 'all'), env('other-session', 0, 'all', otherSid)]) {
    const { links } = cluster({
      participants: [0, 1, 2],
      result: keygenResult(),
      onDeliver: (i) => (i === 0 ? { status: 'running', outbox: [{ to: 'all', envelope }] } : undefined),
    });
    const outcome = await run('keygen', links);
    t.like(outcome, { status: 'failed', failure: 'invalid-response', nodes: ['node_1'] });
  }
});

test('F2: a node refusing prepare ends the session, but the others are told to abort only after their own prepare answered', async (t) => {
  const events: string[] = [];
  const links = NODE_IDS.map(
    (id, k) =>
      new FakeLink(id, k, async (req) => {
        if (req.method === 'prepare') {
          if (k === 2) return { ok: false, code: 'busy', error: 'not now' };
          await new Promise((r) => setTimeout(r, 100)); // its store is slow
          events.push(`${id} prepared`);
          return { ok: true, nonce: nonceOf(k), state: STATE, sessionKey: fakeSessionKey(k) };
        }
        if (req.method === 'abort') events.push(`${id} abort`);
        return { ok: true };
      }),
  );
  const outcome = await run('keygen', links);
  t.like(outcome, { status: 'failed', failure: 'rejected', nodes: ['node_3'] });
  await new Promise((r) => setTimeout(r, 300));
  for (const id of ['node_1', 'node_2']) {
    t.true(events.includes(`${id} abort`), `${id} told to abort`);
    t.true(
      events.indexOf(`${id} prepared`) < events.indexOf(`${id} abort`),
      `${id}: abort after its prepare answered (${events.join(', ')})`,
    );
  }
});

test('F4: a participant replaying an old envelope before anyone else speaks cannot get an honest co-signer named: the orchestrator derives the sid', async (t) => {
  const keys = [0, 1].map(() => generateKeyPairSync('ec', { namedCurve: 'P-256' }));
  const sessionKeys = [0, 1].map(() => generateKeyPairSync('ec', { namedCurve: 'P-256' }));
  const parties = keys.map((k, index) => ({ index, nodeId: NODE_IDS[index] as string, publicKey: k.publicKey }));
  const ctx = (me: number) => ({
    parties,
    me,
    myPrivateKey: keys[me]!.privateKey,
    sessionKeys: sessionKeys.map((k) => k.publicKey),
    mySessionKey: sessionKeys[me]!.privateKey,
  });
  const bcast = (me: number, sid: Uint8Array): string =>
    Buffer.from(
      new EnvelopeSession({ sid, protocol: 'mpc-engine/presign', ...ctx(me) }).seal({
        from: me,
        to: 'all',
        round: 'presign/1',
        body: new Uint8Array([1]),
      }),
    ).toString('base64');
  const nonce = (k: number): string => nonceOf(k + 3);
  const state = 'ab'.repeat(32);
  const walletId = 'w_attack_wallet_1';
  // the sid an honest signer derives from what `start` gives it
  const sidOf = (req: Extract<Request, { method: 'start' }>): Uint8Array =>
    deriveSessionId({
      protocol: 'presign',
      sessionId: req.sessionId,
      parties: NODE_IDS,
      walletId,
      participants: [0, 1],
      nonces: req.nonces,
      state: req.states[0] as string,
      sessionKeys: req.sessionKeys.map((k) => k.key),
    });
  const evil = new FakeLink(NODE_IDS[0], 0, (req) => {
    if (req.method === 'prepare') return { ok: true, nonce: nonce(0), state, sessionKey: fakeSessionKey(0) };
    if (req.method === 'start')
      return { ok: true, status: 'running', outbox: [{ to: 'all', envelope: bcast(0, new Uint8Array(32).fill(3)) }] }; // an old session's envelope
    return { ok: true };
  });
  const honest = new FakeLink(NODE_IDS[1], 1, async (req) => {
    if (req.method === 'prepare') return { ok: true, nonce: nonce(1), state, sessionKey: fakeSessionKey(1) };
    if (req.method === 'start') {
      await new Promise((r) => setTimeout(r, 50)); // round 1 takes compute: the replay arrives first
      return { ok: true, status: 'running', outbox: [{ to: 'all', envelope: bcast(1, sidOf(req)) }] };
    }
    if (req.method === 'abort') return { ok: true };
    return never();
  });
  const outcome = await new Orchestrator().run({
    protocol: 'presign',
    parties: [...NODE_IDS],
    participants: [evil, honest],
    walletId,
    timeoutMs: 5_000,
  });
  t.like(outcome, { status: 'failed', failure: 'invalid-response', nodes: ['node_1'] });
  if (outcome.status === 'failed') t.regex(outcome.reason, /node_1 sent an envelope of another session/);
});
