/**
 * Attack: a malicious node gets the honest nodes suspended as "liars" by naming a run they
 * confirmed under another scope.
 *
 * Three real NodeServices (real keygen, real records) and a coordinator's group monitor with the
 * nodes' pinned identity keys and the orchestrator's confirmation ledger. node_3 is malicious: after
 * an honest keygen of wallet W (run sid S, whose signed confirmations the ledger now holds), its
 * `info` claims a pending aux-info of run S. The resolver asks the two honest nodes to abandon run S
 * of scope `aux`: they never confirmed S *as aux-info* (they confirmed it as W's keygen), so the
 * abandonment check of that scope passes and they sign. The abandonment (aux, S) beside their
 * confirmation of S must not read as proof that they lied: no honest node may be reported.
 */
import test from 'ava';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeEnvelope } from '../../src/envelope/envelope.js';
import { NodeService } from '../../src/node/service.js';
import { PrimeSource } from '../../src/node/primes.js';
import { AUX_RECORD, pack } from '../../src/node/records.js';
import type { RecordStore } from '../../src/node/storage/store.js';
import { encodeAuxPublic, encodeAuxSecret } from '../../src/protocol/storage-format.js';
import { decodeJson, encodeJson, RPC_VERSION, type Request } from '../../src/rpc/messages.js';
import { silentLogger } from '../../src/util/log.js';
import { NodeCluster } from '../../src/coordinator/cluster.js';
import { GroupMonitor } from '../../src/coordinator/group.js';
import { InProcessNodeLink } from '../../src/coordinator/links.js';
import type { NodeLink } from '../../src/coordinator/node-link.js';
import { Orchestrator } from '../../src/coordinator/orchestrator.js';
import { ConfirmationLedger } from '../../src/coordinator/resolver.js';
import { auxFixture } from '../helpers/cluster.js';
import { openNode } from '../helpers/storage.js';
import { NODE_IDS } from '../helpers/coordinator.js';

const PRIMES = fileURLToPath(new URL('../../../test/fixtures/safe-primes.json', import.meta.url));

class Tap implements NodeLink {
  intercept: ((req: Request, forward: () => Promise<unknown>) => Promise<unknown>) | undefined;
  constructor(private readonly inner: InProcessNodeLink) {}
  get nodeId(): string {
    return this.inner.nodeId;
  }
  get index(): number {
    return this.inner.index;
  }
  request(req: Request, timeoutMs?: number): Promise<unknown> {
    const forward = () => this.inner.request(req, timeoutMs);
    return this.intercept ? this.intercept(req, forward) : forward();
  }
}

let root = '';
test.after.always(async () => {
  if (root) await rm(root, { recursive: true, force: true, maxRetries: 5 });
});

async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}

test('a malicious node naming a wallet run as pending aux-info gets no honest node reported as a liar', async (t) => {
  root = await mkdtemp(join(tmpdir(), 'mpc-attack-scope-'));
  const keys = NODE_IDS.map(() => generateKeyPairSync('ec', { namedCurve: 'P-256' }));
  const group = NODE_IDS.map((nodeId, k) => ({ nodeId, publicKey: keys[k]!.publicKey }));
  const aux = auxFixture(3);
  const stores: RecordStore[] = [];
  const primeSources: PrimeSource[] = [];
  const services = await Promise.all(
    NODE_IDS.map(async (id, k) => {
      const { store } = await openNode(root, id);
      stores[k] = store;
      await store.put('aux', AUX_RECORD, pack(encodeAuxPublic(aux[k]!), encodeAuxSecret(aux[k]!)));
      const primes = await PrimeSource.open({ store, index: k, devFile: PRIMES });
      primeSources[k] = primes;
      return new NodeService({
        nodeId: id,
        group,
        privateKey: keys[k]!.privateKey,
        threshold: 2,
        store,
        primes,
        log: silentLogger(),
      });
    }),
  );
  const taps = services.map(
    (s, k) => new Tap(new InProcessNodeLink(NODE_IDS[k] as string, k, (b) => s.handleBytes(b))),
  );
  const identities = keys.map((p) => p.publicKey);
  const ledger = new ConfirmationLedger(identities);
  const orchestrator = new Orchestrator({ confirmations: ledger });
  const walletId = 'wallet_attack_scope';
  const made = await orchestrator.run({ protocol: 'keygen', parties: [...NODE_IDS], participants: taps, walletId });
  t.is(made.status, 'done');
  // the keygen's sid, as every node's evidence of W names it
  const ev = decodeJson(
    await services[0]!.handleBytes(encodeJson({ v: RPC_VERSION, method: 'evidence', scope: walletId })),
  ) as { ok: boolean; envelopes: string[] };
  t.true(ev.ok);
  const sid = Buffer.from(decodeEnvelope(Buffer.from(ev.envelopes[0]!, 'base64')).sid).toString('hex');

  // an honest node abandons no run it confirmed, whatever scope the request names
  for (const scope of ['aux', 'wallet_attack_other']) {
    const a = decodeJson(
      await services[0]!.handleBytes(encodeJson({ v: RPC_VERSION, method: 'abandon', scope, sid })),
    ) as { ok: boolean; code?: string };
    t.like(a, { ok: false, code: 'confirmed' }, `abandonment of the keygen run as ${scope} refused`);
  }

  // a node whose tombstone predates scope-free tombstones (only the scoped one on disk) gets it at start
  const sidBytes = Buffer.from(sid, 'hex');
  const anyScope = createHash('sha256')
    .update('mpc-engine/v1/confirmed-sid\0')
    .update('\0any')
    .update('\0')
    .update(sidBytes)
    .digest('hex');
  t.true(await stores[0]!.delete('sid', anyScope), 'the scope-free tombstone was on disk');
  const restarted = new NodeService({
    nodeId: NODE_IDS[0],
    group,
    privateKey: keys[0]!.privateKey,
    threshold: 2,
    store: stores[0]!,
    primes: primeSources[0]!,
    log: silentLogger(),
  });
  await restarted.recover();
  const legacy = decodeJson(
    await restarted.handleBytes(encodeJson({ v: RPC_VERSION, method: 'abandon', scope: 'aux', sid })),
  ) as { ok: boolean; code?: string };
  t.like(legacy, { ok: false, code: 'confirmed' }, 'a legacy tombstone is made scope-free at start');

  // node_3 lies: it "holds a pending aux-info" of the keygen's run
  taps[2]!.intercept = async (req, forward) => {
    const r = (await forward()) as Record<string, unknown>;
    if (req.method === 'info') return { ...r, auxPendingSid: sid, auxPending: 2 };
    return r;
  };
  const offences: { nodeId: string; protocol: string; reason: string }[] = [];
  const cluster = new NodeCluster(taps, 2);
  const monitor = new GroupMonitor({
    cluster,
    runner: orchestrator,
    pollMs: 20,
    retryMs: 60_000,
    identities,
    ledger,
    onMisbehaviour: (o) => offences.push(o),
  });
  for (const k of [0, 1, 2]) monitor.onConnected(k);
  // the resolver's pass over node_3's claimed pending aux-info: done once it asked for abandonments
  const asked: string[] = [];
  for (const k of [0, 1]) {
    taps[k]!.intercept = async (req, forward) => {
      if (req.method === 'abandon') asked.push(`${k}:${req.scope}`);
      return forward();
    };
  }
  await until(() => asked.length >= 2, 20_000);
  await new Promise((r) => setTimeout(r, 200));
  monitor.stop();
  await monitor.idle();
  t.deepEqual(
    offences.filter((o) => o.nodeId !== 'node_3').map((o) => o.nodeId),
    [],
    'no honest node is reported for abandoning, as aux-info, a run it confirmed as a wallet keygen',
  );
});
