/**
 * Group start-up: each node's info is fetched when it connects; with every node connected and no
 * aux-info anywhere, aux runs once with all of them (after they have their safe primes); nodes that
 * already agree need no aux; two agreeing nodes are enough to sign but not to create wallets; a
 * node that disagrees is reported, never answered with a new aux run (H3); a failed aux run is
 * retried after a pause.
 */
import test from 'ava';
import { generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { encodeSignedEnvelope } from '../../src/envelope/envelope.js';
import { abandonmentDigest } from '../../src/protocol/abandonment.js';
import { ROUND as AUX_ROUND } from '../../src/protocol/aux/messages.js';
import { NodeCluster } from '../../src/coordinator/cluster.js';
import { AuxUnavailableError, GroupMonitor, type GroupAlert } from '../../src/coordinator/group.js';
import type { SessionOutcome } from '../../src/coordinator/orchestrator.js';
import { FakeLink, FakeRunner, NODE_IDS } from '../helpers/coordinator.js';

const AUX = 'ef'.repeat(32);

async function until(cond: () => boolean, ms = 3_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not reached in time');
    await sleep(5);
  }
}

/** Nodes whose info reports `state[k]`; aux success sets every auxId. */
function setup(state: { auxId?: string; primesReady: number }[], auxOutcome: 'done' | 'failed' = 'done') {
  const links = NODE_IDS.map(
    (id, k) =>
      new FakeLink(id, k, (req) => {
        if (req.method !== 'info') return { ok: false, code: 'bad-request', error: req.method };
        const s = state[k] as { auxId?: string; primesReady: number };
        return {
          ok: true,
          nodeId: id,
          index: k,
          primesReady: s.primesReady,
          wallets: 0,
          ...(s.auxId ? { auxId: s.auxId } : {}),
        };
      }),
  );
  const cluster = new NodeCluster(links, 2);
  let mode = auxOutcome;
  const runner = new FakeRunner((spec): SessionOutcome => {
    if (mode === 'failed')
      return {
        status: 'failed',
        failure: 'timeout',
        nodes: ['node_2'],
        reason: 'slow',
        sessionId: 'aux_1234567',
        protocol: spec.protocol,
        durationMs: 1,
      };
    for (const s of state) s.auxId = AUX;
    return {
      status: 'done',
      result: { protocol: 'aux', auxId: AUX },
      participants: [...NODE_IDS],
      sessionId: 'aux_1234567',
      protocol: spec.protocol,
      durationMs: 1,
    };
  });
  const alerts: GroupAlert[] = [];
  const monitor = new GroupMonitor({
    cluster,
    runner,
    pollMs: 20,
    retryMs: 300,
    progressMs: 1_000,
    onAlert: (a) => alerts.push(a),
  });
  return { links, cluster, runner, monitor, alerts, setMode: (m: 'done' | 'failed') => (mode = m) };
}

test('no aux anywhere: aux runs once with all three nodes, then wallets can be created', async (t) => {
  const { cluster, runner, monitor } = setup([{ primesReady: 4 }, { primesReady: 4 }, { primesReady: 5 }]);
  for (const k of [0, 1, 2]) monitor.onConnected(k);
  await until(() => cluster.keygenReadiness().ready);
  t.is(runner.specs.length, 1);
  t.like(runner.specs[0], { protocol: 'aux', parties: [...NODE_IDS] });
  t.deepEqual(
    runner.specs[0]?.participants.map((l) => l.nodeId),
    [...NODE_IDS],
  );
  t.is(cluster.auxId, AUX);
  t.like(cluster.health(), { status: 'ok', connectedNodes: 3 });
  monitor.stop();
});

test('aux waits for the nodes’ safe primes', async (t) => {
  const state = [{ primesReady: 4 }, { primesReady: 1 }, { primesReady: 4 }];
  const { cluster, runner, monitor } = setup(state);
  for (const k of [0, 1, 2]) monitor.onConnected(k);
  await sleep(60);
  t.is(runner.specs.length, 0);
  const r = cluster.keygenReadiness();
  t.false(r.ready);
  if (!r.ready) t.regex(r.reason, /safe primes.*node_2 1\/4/);
  (state[1] as { primesReady: number }).primesReady = 4;
  await until(() => cluster.keygenReadiness().ready);
  t.is(runner.specs.length, 1);
  monitor.stop();
});

test('nodes that already agree need no aux run', async (t) => {
  const { cluster, runner, monitor } = setup([
    { auxId: AUX, primesReady: 0 },
    { auxId: AUX, primesReady: 0 },
    { auxId: AUX, primesReady: 0 },
  ]);
  for (const k of [0, 1, 2]) monitor.onConnected(k);
  await until(() => cluster.keygenReadiness().ready);
  t.is(runner.specs.length, 0);
});

test('H3: two agreeing nodes can sign but not create wallets; a third with other aux-info and nothing pending gets an alert, never a new aux run', async (t) => {
  const { cluster, runner, monitor, alerts } = setup([
    { auxId: AUX, primesReady: 4 },
    { auxId: 'aa'.repeat(32), primesReady: 4 },
    { auxId: AUX, primesReady: 4 },
  ]);
  monitor.onConnected(0);
  monitor.onConnected(2);
  await until(() => cluster.signReadiness().ready);
  t.false(cluster.keygenReadiness().ready);
  t.like(cluster.health(), { status: 'degraded', connectedNodes: 2 });
  t.is(runner.specs.length, 0);
  monitor.onConnected(1);
  await until(() => alerts.length > 0);
  await sleep(200);
  t.is(runner.specs.length, 0, 'no aux-info run');
  t.like(alerts[0], { kind: 'aux-disagreement', nodeId: 'node_2', reported: `${'aa'.repeat(32)}@` });
  t.true(cluster.signReadiness().ready, 'the two agreeing nodes keep signing');
  t.false(cluster.keygenReadiness().ready);
  t.is(cluster.auxId, AUX);
  monitor.stop();
});

test('H3: a node whose info reports a random aux id at every poll causes no aux run, one alert, and signing goes on', async (t) => {
  const state = [
    { auxId: AUX, primesReady: 4 },
    { auxId: AUX, primesReady: 4 },
    { auxId: AUX, primesReady: 4 },
  ];
  const { cluster, runner, monitor, links, alerts } = setup(state);
  const inner = links[2]!.handler;
  let polls = 0;
  links[2]!.handler = (req, link) => {
    if (req.method !== 'info') return inner(req, link);
    polls++;
    return {
      ok: true,
      nodeId: 'node_3',
      index: 2,
      primesReady: 4,
      wallets: 0,
      auxId: randomBytes(32).toString('hex'),
      auxEpoch: 2,
    };
  };
  for (const k of [0, 1, 2]) monitor.onConnected(k);
  await until(() => polls >= 5);
  monitor.stop();
  t.is(runner.specs.length, 0, 'no aux-info run');
  t.is(alerts.length, 1, 'one alert for the disagreeing node (until it agrees again)');
  t.like(alerts[0], { kind: 'aux-disagreement', nodeId: 'node_3', group: `${AUX}@` });
  t.true(cluster.signReadiness().ready);
  t.deepEqual(
    cluster.signerLinks().map((l) => l.nodeId),
    ['node_1', 'node_2'],
  );
  await t.throwsAsync(() => monitor.renewAux(), { message: /stopped|same committed aux-info/ });
});

test('H3: a rotation’s aux-info run is refused unless every node holds the same committed aux-info', async (t) => {
  const { cluster, runner, monitor } = setup([
    { auxId: AUX, primesReady: 4 },
    { auxId: 'aa'.repeat(32), primesReady: 4 },
    { auxId: AUX, primesReady: 4 },
  ]);
  for (const k of [0, 1, 2]) monitor.onConnected(k);
  await until(() => cluster.signReadiness().ready);
  await t.throwsAsync(() => monitor.renewAux(), { instanceOf: AuxUnavailableError });
  t.is(runner.specs.length, 0);
  monitor.stop();
});

test('a failed aux run is retried after a pause', async (t) => {
  const { cluster, runner, monitor, setMode } = setup(
    [{ primesReady: 4 }, { primesReady: 4 }, { primesReady: 4 }],
    'failed',
  );
  for (const k of [0, 1, 2]) monitor.onConnected(k);
  await until(() => runner.specs.length === 1);
  await sleep(20);
  t.is(runner.specs.length, 1, 'not at once');
  setMode('done');
  await until(() => cluster.keygenReadiness().ready);
  t.is(runner.specs.length, 2);
  monitor.stop();
});

test('a disconnect makes wallet creation unavailable again, with the node named', async (t) => {
  const { cluster, monitor } = setup([
    { auxId: AUX, primesReady: 0 },
    { auxId: AUX, primesReady: 0 },
    { auxId: AUX, primesReady: 0 },
  ]);
  for (const k of [0, 1, 2]) monitor.onConnected(k);
  await until(() => cluster.keygenReadiness().ready);
  monitor.onDisconnected(1);
  const r = cluster.keygenReadiness();
  t.false(r.ready);
  if (!r.ready) t.regex(r.reason, /not connected: node_2/);
  t.true(cluster.signReadiness().ready);
});

test('P1: a node left with a pending aux-info is finalized from another node’s evidence instead of re-running aux', async (t) => {
  const OLD = 'aa'.repeat(32);
  const EVIDENCE = ['AQ==', 'Ag==', 'Aw=='];
  const state: { auxId: string; auxEpoch: number; auxPending?: number; auxPendingSid?: string }[] = [
    { auxId: AUX, auxEpoch: 2 },
    { auxId: AUX, auxEpoch: 2 },
    { auxId: OLD, auxEpoch: 1, auxPending: 2, auxPendingSid: 'bb'.repeat(32) },
  ];
  const finalized: unknown[] = [];
  const links = NODE_IDS.map(
    (id, k) =>
      new FakeLink(id, k, (req) => {
        const s = state[k]!;
        if (req.method === 'info') return { ok: true, nodeId: id, index: k, primesReady: 4, wallets: 0, ...s };
        if (req.method === 'evidence')
          return k === 2
            ? { ok: false, code: 'no-evidence', error: 'none' }
            : { ok: true, protocol: 'aux', epoch: 2, envelopes: EVIDENCE };
        if (req.method === 'finalize' && k === 2) {
          finalized.push(req);
          state[2] = { auxId: AUX, auxEpoch: 2 };
          return { ok: true, result: { protocol: 'aux', auxId: AUX } };
        }
        return { ok: false, code: 'bad-request', error: req.method };
      }),
  );
  const cluster = new NodeCluster(links, 2);
  const runner = new FakeRunner((spec): SessionOutcome => ({
    status: 'failed',
    failure: 'timeout',
    nodes: [],
    reason: 'must not run',
    sessionId: 'aux_1234567',
    protocol: spec.protocol,
    durationMs: 1,
  }));
  const monitor = new GroupMonitor({ cluster, runner, pollMs: 20, retryMs: 300, progressMs: 1_000 });
  for (const k of [0, 1, 2]) monitor.onConnected(k);
  await until(() => cluster.keygenReadiness().ready);
  t.deepEqual(finalized, [{ v: 1, method: 'finalize', scope: 'aux', envelopes: EVIDENCE }]);
  t.is(runner.specs.length, 0, 'no new aux-info was made');
  t.is(cluster.auxId, AUX);
  monitor.stop();
});

test('a node reporting a new pending aux-info at every poll gets at most one finalize attempt per retry interval', async (t) => {
  let polls = 0;
  let finalizes = 0;
  const links = NODE_IDS.map(
    (id, k) =>
      new FakeLink(id, k, (req) => {
        if (req.method === 'info') {
          if (k !== 2) return { ok: true, nodeId: id, index: k, primesReady: 4, wallets: 0, auxId: AUX, auxEpoch: 2 };
          polls++;
          return {
            ok: true,
            nodeId: id,
            index: k,
            primesReady: 4,
            wallets: 0,
            auxId: 'aa'.repeat(32),
            auxEpoch: 1,
            auxPending: 2,
            auxPendingSid: polls.toString(16).padStart(64, '0'),
          };
        }
        if (req.method === 'evidence')
          return { ok: true, protocol: 'aux', epoch: 2, envelopes: ['AQ==', 'Ag==', 'Aw=='] };
        if (req.method === 'finalize') finalizes++;
        return { ok: false, code: 'bad-evidence', error: 'no' };
      }),
  );
  const cluster = new NodeCluster(links, 2);
  const runner = new FakeRunner((spec): SessionOutcome => ({
    status: 'failed',
    failure: 'timeout',
    nodes: [],
    reason: 'x',
    sessionId: 'aux_1234567',
    protocol: spec.protocol,
    durationMs: 1,
  }));
  const monitor = new GroupMonitor({ cluster, runner, pollMs: 20, retryMs: 300, progressMs: 1_000 });
  for (const k of [0, 1, 2]) monitor.onConnected(k);
  await sleep(1_000);
  monitor.stop();
  t.true(finalizes >= 1, 'it tried');
  // one round per 300 ms (at most 4-5 in 1 s), each trying both other nodes' evidence
  t.true(finalizes <= 10, `${finalizes} finalize attempts in 1 s with a 300 ms interval`);
});

/** Three signed aux-info confirmation envelopes of run `sid` (base64), one per party. */
function confirmations(sid: Uint8Array, keys: readonly KeyObject[]): string[] {
  return keys.map((key, from) =>
    Buffer.from(
      encodeSignedEnvelope(
        {
          kind: 'bcast',
          protocol: 'mpc-engine/aux',
          sid,
          round: AUX_ROUND.confirm,
          from,
          to: 'all',
          seq: 7,
          ephemeral: new Uint8Array(0),
          payload: new Uint8Array(32).fill(from + 1),
        },
        key,
      ),
    ).toString('base64'),
  );
}

/**
 * The split of finding F1 (test/attacks): node_1 and node_2 hold the pending aux-info of run S;
 * node_3 committed it (withholding its confirmation from the others), hands its evidence to the
 * first `evidence` request only, and signs an abandonment of the run for whoever asks.
 */
function splitScenario(keys: readonly KeyObject[]) {
  const OLD = 'aa'.repeat(32);
  const sidBytes = randomBytes(32);
  const sid = sidBytes.toString('hex');
  const evidence = confirmations(sidBytes, keys);
  const state: { auxId: string; auxEpoch: number; auxPending?: number; auxPendingSid?: string }[] = [
    { auxId: OLD, auxEpoch: 1, auxPending: 2, auxPendingSid: sid },
    { auxId: OLD, auxEpoch: 1, auxPending: 2, auxPendingSid: sid },
    { auxId: AUX, auxEpoch: 2 },
  ];
  let served = 0;
  const links = NODE_IDS.map(
    (id, k) =>
      new FakeLink(id, k, (req) => {
        const s = state[k]!;
        switch (req.method) {
          case 'info':
            return { ok: true, nodeId: id, index: k, primesReady: 4, wallets: 0, ...s };
          case 'evidence':
            if (k === 2)
              return served++ === 0
                ? { ok: true, protocol: 'aux', epoch: 2, envelopes: evidence }
                : { ok: false, code: 'no-evidence', error: 'none' };
            return s.auxPendingSid === undefined
              ? { ok: true, protocol: 'aux', epoch: 2, envelopes: evidence }
              : { ok: false, code: 'no-evidence', error: 'none' };
          case 'finalize':
            if (k === 2 || s.auxPendingSid === undefined || req.envelopes.join() !== evidence.join())
              return { ok: false, code: 'bad-evidence', error: 'no' };
            state[k] = { auxId: AUX, auxEpoch: 2 };
            return { ok: true, result: { protocol: 'aux', auxId: AUX } };
          case 'abandon':
            if (k === 2)
              return {
                ok: true,
                by: 2,
                signature: sign(null, abandonmentDigest('aux', sidBytes), {
                  key: keys[2]!,
                  dsaEncoding: 'ieee-p1363',
                }).toString('hex'),
              };
            return { ok: false, code: 'confirmed', error: 'this node confirmed that run' };
          case 'discard':
            // the old rule: one party's abandonment dropped the pending state
            if (req.abandonments.length >= 1) {
              delete s.auxPending;
              delete s.auxPendingSid;
            }
            return { ok: true, discarded: true };
          default:
            return { ok: false, code: 'bad-request', error: req.method };
        }
      }),
  );
  return { links, state, sid, evidence };
}

test('F1: a node that committed during the finalize pass serves the next laggard; nobody is discarded on one party’s abandonment', async (t) => {
  const keys = NODE_IDS.map(() => generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey);
  const { links, state } = splitScenario(keys);
  const cluster = new NodeCluster(links, 2);
  const runner = new FakeRunner((spec): SessionOutcome => ({
    status: 'failed',
    failure: 'rejected',
    nodes: ['node_3'],
    reason: 'not now',
    sessionId: 'aux_1234567',
    protocol: spec.protocol,
    durationMs: 1,
  }));
  const monitor = new GroupMonitor({ cluster, runner, pollMs: 20, retryMs: 300, progressMs: 1_000 });
  for (const k of [0, 1, 2]) monitor.onConnected(k);
  await until(() => cluster.keygenReadiness().ready);
  monitor.stop();
  t.deepEqual(
    state.map((s) => s.auxEpoch),
    [2, 2, 2],
    'every node on the same committed epoch',
  );
  t.false(
    links.some((l) => l.methods().includes('discard')),
    'no pending state dropped',
  );
  t.true(
    links[1]!.requests.some((r) => r.method === 'finalize'),
    'node_2 finalized (from node_1’s evidence)',
  );
});

test('F1: a party that signs an abandonment of a run whose signed confirmation the coordinator holds is reported as a verified offence', async (t) => {
  const pairs = NODE_IDS.map(() => generateKeyPairSync('ec', { namedCurve: 'P-256' }));
  const { links, sid } = splitScenario(pairs.map((p) => p.privateKey));
  // node_1's finalize fails (a node that cannot commit now), so the monitor seeks abandonments
  const inner = links[0]!.handler;
  links[0]!.handler = (req, link) =>
    req.method === 'finalize' ? { ok: false, code: 'internal', error: 'disk' } : inner(req, link);
  const inner2 = links[1]!.handler;
  links[1]!.handler = (req, link) =>
    req.method === 'finalize' ? { ok: false, code: 'internal', error: 'disk' } : inner2(req, link);
  const cluster = new NodeCluster(links, 2);
  const runner = new FakeRunner((spec): SessionOutcome => ({
    status: 'failed',
    failure: 'rejected',
    nodes: [],
    reason: 'x',
    sessionId: 'aux_1234567',
    protocol: spec.protocol,
    durationMs: 1,
  }));
  const offences: { nodeId: string; protocol: string; reason: string }[] = [];
  const monitor = new GroupMonitor({
    cluster,
    runner,
    pollMs: 20,
    retryMs: 10_000,
    progressMs: 1_000,
    identities: pairs.map((p) => p.publicKey),
    onMisbehaviour: (o) => offences.push(o),
  });
  for (const k of [0, 1, 2]) monitor.onConnected(k);
  await until(() => offences.length > 0);
  await monitor.idle();
  monitor.stop();
  t.is(offences[0]?.nodeId, 'node_3');
  t.true(
    offences.every((o) => o.nodeId === 'node_3'),
    'only the liar',
  );
  t.regex(offences[0]!.reason, new RegExp(sid.slice(0, 16)));
  t.false(
    links.some((l) => l.methods().includes('discard')),
    'nothing discarded',
  );
});

test('H2: every node holds the same pending aux-info and none committed (the coordinator stopped before the last delivery): committed at every node on the confirmations each node kept, nothing abandoned', async (t) => {
  const keys = NODE_IDS.map(() => generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey);
  const sidBytes = randomBytes(32);
  const sid = sidBytes.toString('hex');
  const signed = confirmations(sidBytes, keys);
  const OLD = 'aa'.repeat(32);
  const state: { auxId: string; auxEpoch: number; auxPending?: number; auxPendingSid?: string }[] = NODE_IDS.map(
    () => ({ auxId: OLD, auxEpoch: 1, auxPending: 2, auxPendingSid: sid }),
  );
  const links = NODE_IDS.map(
    (id, k) =>
      new FakeLink(id, k, (req) => {
        const s = state[k]!;
        switch (req.method) {
          case 'info':
            return { ok: true, nodeId: id, index: k, primesReady: 4, wallets: 0, ...s };
          case 'evidence':
            return { ok: false, code: 'no-evidence', error: 'none' };
          case 'confirmation':
            return s.auxPendingSid
              ? { ok: true, protocol: 'aux', epoch: 2, sid, envelope: signed[k] }
              : { ok: false, code: 'no-confirmation', error: 'none' };
          case 'finalize':
            // the node checks the evidence: every party's confirmation of its pending run
            if (!s.auxPendingSid || req.envelopes.join() !== signed.join())
              return { ok: false, code: 'bad-evidence', error: 'no' };
            state[k] = { auxId: AUX, auxEpoch: 2 };
            return { ok: true, result: { protocol: 'aux', auxId: AUX } };
          case 'abandon':
            return { ok: false, code: 'confirmed', error: 'this node confirmed that run' };
          default:
            return { ok: false, code: 'bad-request', error: req.method };
        }
      }),
  );
  const cluster = new NodeCluster(links, 2);
  const runner = new FakeRunner((spec): SessionOutcome => ({
    status: 'failed',
    failure: 'rejected',
    nodes: [],
    reason: 'must not run',
    sessionId: 'aux_1234567',
    protocol: spec.protocol,
    durationMs: 1,
  }));
  const monitor = new GroupMonitor({ cluster, runner, pollMs: 20, retryMs: 300, progressMs: 1_000 });
  for (const k of [0, 1, 2]) monitor.onConnected(k);
  await until(() => state.every((s) => s.auxEpoch === 2) && cluster.auxId === AUX);
  await monitor.idle();
  monitor.stop();
  t.is(runner.specs.length, 0, 'no new aux-info run');
  t.false(
    links.some((l) => l.methods().includes('discard')),
    'nothing dropped',
  );
  t.true(cluster.keygenReadiness().ready);
});
