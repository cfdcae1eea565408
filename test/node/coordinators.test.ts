/**
 * Several coordinator identities at one node. Over real mutual TLS on loopback, a node built by
 * createNode admits two coordinators at once, each with its own link that the other never replaces,
 * and attributes each request to the link it came by. In one process, a session belongs to the
 * coordinator that prepared it: another coordinator's start, deliver or abort is refused and leaves
 * it running, and it completes under its owner; what outlives a session (a wallet's state, its
 * evidence) is readable by any coordinator. Keygen runs on the fixture aux-info (no Paillier work).
 */
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { coordinatorEntry, loadConfig, nodeEntry, type Config } from '../../src/config/index.js';
import { coordinatorClientSetup } from '../../src/config/transport-options.js';
import { createNode } from '../../src/node/create.js';
import type { NodeService } from '../../src/node/service.js';
import { decodeJson, encodeJson, RPC_VERSION } from '../../src/rpc/messages.js';
import { generateDevCertificates } from '../../src/transport/certs.js';
import { TransportClient } from '../../src/transport/client.js';
import { FIXTURE_PRIMES, startInProcessNodes } from '../helpers/in-process-nodes.js';
import { freePort } from '../helpers/processes.js';

const IDS = ['node_1', 'node_2', 'node_3'];
const A = 'coordinator';
const B = 'coordinator_2';

type Json = Record<string, unknown> & { ok: boolean };

test('a node admits two coordinator identities at once: one link each, never replaced by the other, each answered on its own', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'mpc-coordinators-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  const port = await freePort();
  await mkdir(join(root, 'env'));
  await writeFile(
    join(root, 'env', '.env.test'),
    [
      'COORDINATOR_PLATFORM=LOCAL',
      'COORDINATOR_LOCAL_KMS_PATH=kms',
      `COORDINATOR_IDS=${A},${B}`,
      // parsed only: nothing here opens a database
      'COORDINATOR_DATABASE_URL=postgres://mpc@127.0.0.1:1/mpc',
      'NODE_IDS=node_1,node_2,node_3',
      `NODE_HOSTS=127.0.0.1:${port},127.0.0.1:2,127.0.0.1:3`,
      'NODE_PLATFORMS=LOCAL,LOCAL,LOCAL',
      'MPC_THRESHOLD=2',
      'MPC_TOTAL_SHARDS=3',
      'CERTS_DIR=certs',
      'DATA_DIR=data',
      'LOG_LEVEL=silent',
      '',
    ].join('\n'),
  );
  const config = loadConfig({ env: 'test', rootDir: root, processEnv: {} });
  await generateDevCertificates({
    dir: config.certsDir,
    caDir: config.certsCaDir,
    nodeIds: IDS,
    coordinatorIds: config.coordinator.ids,
  });
  const node = await createNode(config, nodeEntry(config, 'node_1'), {
    env: 'test',
    id: 'node_1',
    rootDir: root,
    devPrimes: FIXTURE_PRIMES,
  });
  t.teardown(() => node.stop());

  // each coordinator dials node_1 only (the other nodes are not running)
  const client = async (id: string): Promise<TransportClient> => {
    const own: Config = { ...config, coordinator: coordinatorEntry(config, id) };
    const options = (await coordinatorClientSetup(own))[0]!;
    return new TransportClient({ ...options, backoff: { initialMs: 50, maxMs: 200 } }).start();
  };
  const counts: Record<string, { connected: number; dropped: number }> = {
    [A]: { connected: 0, dropped: 0 },
    [B]: { connected: 0, dropped: 0 },
  };
  const clients: Record<string, TransportClient> = {};
  for (const id of [A, B]) {
    const c = await client(id);
    t.teardown(() => c.stop());
    c.on('connected', () => counts[id]!.connected++);
    c.on('disconnected', () => counts[id]!.dropped++);
    clients[id] = c;
  }
  await Promise.all([A, B].map((id) => clients[id]!.waitForConnection(20_000)));
  const call = async (id: string, req: object): Promise<Json> =>
    decodeJson(await clients[id]!.connection!.request(encodeJson({ v: RPC_VERSION, ...req }))) as Json;

  // both links stay up side by side: no replacement in either direction over a second of traffic
  const until = Date.now() + 1_000;
  while (Date.now() < until) {
    const [a, b] = await Promise.all([call(A, { method: 'info' }), call(B, { method: 'info' })]);
    t.true(a.ok && b.ok);
  }
  t.deepEqual(counts, { [A]: { connected: 1, dropped: 0 }, [B]: { connected: 1, dropped: 0 } });

  // each prepares a session; the node tells the links apart (an aux-info prepare needs no aux-info)
  const sessions: Record<string, string> = {};
  for (const id of [A, B]) {
    sessions[id] = `aux_${randomBytes(9).toString('hex')}_${id}`;
    const prepared = await call(id, { method: 'prepare', sessionId: sessions[id], protocol: 'aux', parties: IDS });
    if (id === A) t.true(prepared.ok, JSON.stringify(prepared));
    // one aux-info run at a time: the second coordinator's is refused as busy, not as the first one's
    else t.like(prepared, { ok: false, code: 'busy' });
  }
  const foreign = await call(B, { method: 'abort', sessionId: sessions[A] });
  t.like(foreign, { ok: false, code: 'other-coordinator' });
  t.regex(foreign.error as string, /belongs to coordinator coordinator:/);
  t.like(await call(A, { method: 'abort', sessionId: sessions[A] }), { ok: true });
  t.deepEqual(counts, { [A]: { connected: 1, dropped: 0 }, [B]: { connected: 1, dropped: 0 } });
});

test('a session belongs to the coordinator that prepared it: another one cannot start, feed or abort it, and it completes under its owner', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'mpc-coordinators-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  const { services } = await startInProcessNodes(root);
  const call = async (service: NodeService, coordinator: string, req: object): Promise<Json> =>
    decodeJson(await service.handleBytes(encodeJson({ v: RPC_VERSION, ...req }), coordinator)) as Json;
  const walletId = `w_${randomBytes(6).toString('hex')}`;
  const sessionId = `keygen_${randomBytes(9).toString('hex')}`;
  const all = [0, 1, 2];

  const prepared = await Promise.all(
    services.map((s) => call(s, A, { method: 'prepare', sessionId, protocol: 'keygen', parties: IDS, walletId })),
  );
  t.true(
    prepared.every((p) => p.ok),
    JSON.stringify(prepared),
  );
  const start = {
    method: 'start',
    sessionId,
    nonces: prepared.map((p) => p.nonce),
    states: prepared.map((p) => p.state),
    sessionKeys: prepared.map((p) => p.sessionKey),
  };
  // the other coordinator may not start it, nor prepare the id again
  t.like(await call(services[0]!, B, start), { ok: false, code: 'other-coordinator' });
  t.like(await call(services[0]!, B, { method: 'prepare', sessionId, protocol: 'keygen', parties: IDS, walletId }), {
    ok: false,
    code: 'duplicate-session',
  });

  const queues = new Map<number, string[]>(all.map((k) => [k, []]));
  const last = new Map<number, Json>();
  const push = (from: number, update: Json): void => {
    t.true(update.ok, JSON.stringify(update));
    last.set(from, update);
    for (const o of update.outbox as { to: number | 'all'; envelope: string }[])
      for (const to of o.to === 'all' ? all.filter((k) => k !== from) : [o.to]) queues.get(to)!.push(o.envelope);
  };
  for (const k of all) push(k, await call(services[k]!, A, start));
  let refusedOnce = false;
  for (let guard = 0; guard < 20; guard++) {
    const busy = all.filter((k) => queues.get(k)!.length > 0);
    if (busy.length === 0) break;
    for (const k of busy) {
      const envelopes = queues.get(k)!;
      queues.set(k, []);
      if (!refusedOnce) {
        // the other coordinator replays the very envelopes, then tries to abort: both refused, nothing consumed
        const deliver = await call(services[k]!, B, { method: 'deliver', sessionId, envelopes });
        t.like(deliver, { ok: false, code: 'other-coordinator' });
        t.regex(deliver.error as string, /only it may start, continue or abort it/);
        t.like(await call(services[k]!, B, { method: 'abort', sessionId }), { ok: false, code: 'other-coordinator' });
        refusedOnce = true;
      }
      push(k, await call(services[k]!, A, { method: 'deliver', sessionId, envelopes }));
    }
  }
  t.true(refusedOnce);
  const results = all.map((k) => last.get(k)!);
  t.true(
    results.every((r) => r.status === 'done'),
    JSON.stringify(results.map((r) => [r.status, r.abort])),
  );
  const keys = results.map((r) => (r.result as { publicKey: string }).publicKey);
  t.is(new Set(keys).size, 1, 'every node holds the same key');

  // what outlives the session is any coordinator's to read
  const described = await call(services[1]!, B, { method: 'wallet', walletId });
  t.true(described.ok, JSON.stringify(described));
  t.like(await call(services[2]!, B, { method: 'evidence', scope: walletId }), { ok: true });

  // an abort of an id nobody prepared bars that coordinator's later prepare of it, not another's
  const spare = `keygen_${randomBytes(9).toString('hex')}`;
  t.like(await call(services[0]!, B, { method: 'abort', sessionId: spare }), { ok: true });
  const other = `w_${randomBytes(6).toString('hex')}`;
  const prep = { method: 'prepare', sessionId: spare, protocol: 'keygen', parties: IDS, walletId: other };
  t.like(await call(services[0]!, B, prep), { ok: false, code: 'aborted' });
  t.like(await call(services[0]!, A, prep), { ok: true });
  t.like(await call(services[0]!, A, { method: 'abort', sessionId: spare }), { ok: true });
});

test('another coordinator cannot abandon or archive a run its owner is driving: a node that staged first shows the sid, the nodes refuse and the run completes', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'mpc-coordinators-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  const { services } = await startInProcessNodes(root);
  const call = async (service: NodeService, coordinator: string, req: object): Promise<Json> =>
    decodeJson(await service.handleBytes(encodeJson({ v: RPC_VERSION, ...req }), coordinator)) as Json;
  const walletId = `w_${randomBytes(6).toString('hex')}`;
  const sessionId = `keygen_${randomBytes(9).toString('hex')}`;
  const all = [0, 1, 2];
  const prepared = await Promise.all(
    services.map((s) => call(s, A, { method: 'prepare', sessionId, protocol: 'keygen', parties: IDS, walletId })),
  );
  t.true(
    prepared.every((p) => p.ok),
    JSON.stringify(prepared),
  );
  const start = {
    method: 'start',
    sessionId,
    nonces: prepared.map((p) => p.nonce),
    states: prepared.map((p) => p.state),
    sessionKeys: prepared.map((p) => p.sessionKey),
  };
  const queues = new Map<number, string[]>(all.map((k) => [k, []]));
  const last = new Map<number, Json>();
  const push = (from: number, update: Json): void => {
    t.true(update.ok, JSON.stringify(update));
    last.set(from, update);
    for (const o of update.outbox as { to: number | 'all'; envelope: string }[])
      for (const to of o.to === 'all' ? all.filter((k) => k !== from) : [o.to]) queues.get(to)!.push(o.envelope);
  };
  for (const k of all) push(k, await call(services[k]!, A, start));
  const feed = async (k: number): Promise<void> => {
    const envelopes = queues.get(k)!;
    queues.set(k, []);
    if (envelopes.length > 0) push(k, await call(services[k]!, A, { method: 'deliver', sessionId, envelopes }));
  };
  // A feeds node_1 first each round, until node_1 has staged its result (confirmed): the others have not yet
  let sid: string | undefined;
  for (let guard = 0; guard < 20 && sid === undefined; guard++) {
    await feed(0);
    sid = ((await call(services[0]!, B, { method: 'wallet', walletId })).pending as { sid: string } | undefined)?.sid;
    if (sid === undefined) for (const k of [1, 2]) await feed(k);
  }
  t.truthy(sid, 'node_1 staged the keygen');
  for (const k of [1, 2]) {
    const w = await call(services[k]!, B, { method: 'wallet', walletId });
    t.is(w.pending, undefined, `${IDS[k]} has not staged yet`);
    // coordinator_2's resolver would ask for the abandonments that let node_1 discard: refused, the run untouched
    const a = await call(services[k]!, B, { method: 'abandon', scope: walletId, sid });
    t.like(a, { ok: false, code: 'other-coordinator' });
  }
  // nor may it archive the run's records (its reconciliation, told by a changed registry row that the
  // key generation failed): node_1 would lose its confirmed pending state while the others commit
  for (const k of all)
    t.like(await call(services[k]!, B, { method: 'archive', walletId, reason: 'abandoned' }), {
      ok: false,
      code: 'other-coordinator',
    });
  for (let guard = 0; guard < 20; guard++) {
    const busy = all.filter((k) => queues.get(k)!.length > 0);
    if (busy.length === 0) break;
    for (const k of busy) await feed(k);
  }
  const results = all.map((k) => last.get(k)!);
  t.true(
    results.every((r) => r.status === 'done'),
    JSON.stringify(results.map((r) => [r.status, r.abort])),
  );
  t.is(new Set(results.map((r) => (r.result as { publicKey: string }).publicKey)).size, 1);
  // its owner may still abandon a run of its own (its resolver after a failure): only another is refused
  const spare = randomBytes(32).toString('hex');
  t.like(await call(services[1]!, B, { method: 'abandon', scope: walletId, sid: spare }), { ok: true });
});
