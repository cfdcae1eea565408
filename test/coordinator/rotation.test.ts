/**
 * Key rotation against three real NodeServices in one process (as in-process.test.ts): the
 * coordinator's orchestrator, group monitor, pool, signing, rotation and the HTTP API, over
 * InProcessNodeLinks. The nodes start from aux-info built from the fixture primes; the rotation's
 * aux-info run is real (about 20 s), with fixture primes the nodes hold in other pairings, so the
 * Paillier and ring-Pedersen moduli really change.
 *
 * Covered: the admin routes' credential; a refresh through the API keeps the public key and moves
 * the epoch; a rotation changes the aux-info id, keeps every public key and moves the shares'
 * epochs; a presignature made before it can no longer sign; a wallet whose refresh did not happen
 * is refused presigning ('share-stale') until the signing path refreshes it, then signs (verified
 * with @noble/curves).
 */
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import type { NodeService } from '../../src/node/service.js';
import { Writer } from '../../src/protocol/codec.js';
import { decodeJson, encodeJson, RPC_VERSION, type Request } from '../../src/rpc/messages.js';
import type { AuditEvent } from '../../src/util/audit-log.js';
import { createApi } from '../../src/coordinator/api.js';
import { NodeCluster } from '../../src/coordinator/cluster.js';
import { GroupMonitor } from '../../src/coordinator/group.js';
import { CoordinatorMetrics } from '../../src/coordinator/metrics.js';
import type { NodeLink } from '../../src/coordinator/node-link.js';
import { Orchestrator } from '../../src/coordinator/orchestrator.js';
import { combinations, PresignPool, type PoolEntry } from '../../src/coordinator/pool.js';
import { orchestratedPresign } from '../../src/coordinator/presign.js';
import { WalletRegistry } from '../../src/coordinator/registry.js';
import { allWalletIds, KeyRotation, type RotationJobView } from '../../src/coordinator/rotation.js';
import { SigningService } from '../../src/coordinator/signing.js';
import { WalletService } from '../../src/coordinator/wallets.js';
import { fixturePrime } from '../helpers/fixtures.js';
import { http, NODE_IDS, serve } from '../helpers/coordinator.js';
import { startInProcessNodes } from '../helpers/in-process-nodes.js';

const WALLET_TOKEN = 'Bearer wallet_server_token_rotation_0001';
const ADMIN_TOKEN = 'Bearer operator_admin_token_rotation_0002';
/** The primes each node holds for its next aux-info: other pairings than the starting aux-info's. */
const NEXT_PRIMES = [
  [0, 4, 1, 5],
  [2, 6, 3, 7],
  [8, 10, 9, 11],
];

/** A link whose requests a test can intercept. */
class Tap implements NodeLink {
  intercept: ((req: Request) => unknown) | undefined;
  constructor(private readonly inner: NodeLink) {}
  get nodeId(): string {
    return this.inner.nodeId;
  }
  get index(): number {
    return this.inner.index;
  }
  async request(req: Request, timeoutMs?: number): Promise<unknown> {
    const answer = this.intercept?.(req);
    return answer !== undefined ? answer : this.inner.request(req, timeoutMs);
  }
}

let root = '';
let services: NodeService[] = [];
let taps: Tap[] = [];
let cluster: NodeCluster;
let wallets: WalletService;
let signing: SigningService;
let pool: PresignPool;
let registry: WalletRegistry;
let monitor: GroupMonitor;
let rotation: KeyRotation;
let presign: ReturnType<typeof orchestratedPresign>;
let api: Awaited<ReturnType<typeof serve>>;
const audit: AuditEvent[] = [];

test.before(async () => {
  root = await mkdtemp(join(tmpdir(), 'mpc-rotation-'));
  const nodes = await startInProcessNodes(root, {
    devPrimes: false,
    // the starting aux-info as records written before epochs existed store it (epoch 1)
    seed: (store, k) =>
      store.put(
        'aux',
        'pending-primes',
        new Writer()
          .list(
            NEXT_PRIMES[k]!.map((i) => fixturePrime(1536, i)),
            (w, p) => w.int(p),
          )
          .finish(),
      ),
  });
  services = nodes.services;
  taps = nodes.links.map((l) => new Tap(l));
  cluster = new NodeCluster(taps, 2);
  const metrics = new CoordinatorMetrics();
  const orchestrator = new Orchestrator({ onOutcome: (o) => metrics.recordSession(o) });
  registry = await WalletRegistry.open(join(root, 'coordinator', 'wallets.jsonl'));
  const sink = { append: async (e: AuditEvent) => void audit.push(e) };
  wallets = new WalletService({ registry, cluster, runner: orchestrator, audit: sink });
  const publicKeyOf = (w: string) => wallets.publicKeyOf(w);
  presign = orchestratedPresign({ runner: orchestrator, cluster, publicKeyOf });
  pool = new PresignPool({
    presign,
    targetSize: 0,
    signerSets: () =>
      combinations(
        cluster.signerLinks().map((l) => l.index),
        2,
      ),
  });
  monitor = new GroupMonitor({ cluster, runner: orchestrator });
  rotation = new KeyRotation({
    cluster,
    runner: orchestrator,
    walletIds: () => allWalletIds((o) => registry.list(o)),
    publicKeyOf,
    renewAux: () => monitor.renewAux(),
    discardPresignatures: (w) => void pool.discard(w),
    audit: sink,
  });
  rotation.watch();
  signing = new SigningService({ cluster, pool, publicKeyOf, metrics, refreshStale: (w) => rotation.refreshStale(w) });
  const app = createApi({
    wallets,
    signer: signing,
    health: () => cluster.health(),
    metrics,
    authorization: WALLET_TOKEN,
    adminAuthorization: ADMIN_TOKEN,
    admin: rotation,
    adminCredentialId: 'cred_admin_test',
    anonymousRateLimit: { capacity: 10_000, refillPerSecond: 1_000 },
  });
  api = await serve(app);
  for (const k of [0, 1, 2]) monitor.onConnected(k);
  const end = Date.now() + 20_000;
  while (!cluster.keygenReadiness().ready && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
});
test.after.always(async () => {
  monitor?.stop();
  rotation?.stop();
  await pool?.stop();
  await api?.close();
  await registry?.close();
  await rm(root, { recursive: true, force: true, maxRetries: 5 });
});

async function node(k: number, req: object): Promise<Record<string, unknown>> {
  return decodeJson(await services[k]!.handleBytes(encodeJson({ v: RPC_VERSION, ...req }))) as Record<string, unknown>;
}

/** The committed epoch of a wallet's key share at node k (from its commit evidence). */
async function shareEpoch(k: number, walletId: string): Promise<number> {
  const e = await node(k, { method: 'evidence', scope: walletId });
  if (!e.ok) throw new Error(`no evidence for ${walletId} at node ${k}: ${String(e.code)}`);
  return e.epoch as number;
}

const admin = { authorization: ADMIN_TOKEN, 'content-type': 'application/json' };

let walletA = '';
let walletB = '';
let keyA = '';
let keyB = '';
let oldEntry: PoolEntry;

test.serial('setup: two wallets, and a presignature for one of them made before any rotation', async (t) => {
  const a = await wallets.create({ label: 'a' });
  const b = await wallets.create({ label: 'b' });
  walletA = a.wallet.walletId;
  keyA = a.wallet.publicKey;
  walletB = b.wallet.walletId;
  keyB = b.wallet.publicKey;
  oldEntry = await presign(walletA, [0, 1]);
  t.is(oldEntry.walletId, walletA);
});

test.serial(
  'the admin routes refuse calls without a credential and with the wallet server’s; a refresh through the API keeps the key and moves the epoch',
  async (t) => {
    const path = `/v1/wallets/${walletB}/refresh`;
    const none = await http(api.url, 'POST', path);
    t.is(none.status, 401);
    t.is(none.headers.get('content-type'), 'application/problem+json');
    const walletServer = await http(api.url, 'POST', path, { headers: { authorization: WALLET_TOKEN } });
    t.is(walletServer.status, 401);
    t.is((await http(api.url, 'POST', '/v1/admin/rotation', { headers: { authorization: WALLET_TOKEN } })).status, 401);
    t.is(
      (await http(api.url, 'GET', '/v1/admin/jobs/job_AAAAAAAAAAAAAAAA', { headers: { authorization: WALLET_TOKEN } }))
        .status,
      401,
    );
    // and the admin credential does not sign or list wallets
    t.is((await http(api.url, 'GET', '/v1/wallets', { headers: { authorization: ADMIN_TOKEN } })).status, 401);
    t.is(await shareEpoch(0, walletB), 0, 'no refresh happened on the refused calls');

    const ok = await http(api.url, 'POST', path, { headers: admin, body: '{}' });
    t.is(ok.status, 200, ok.text);
    t.deepEqual(ok.json, { walletId: walletB, publicKey: keyB, epoch: 1 });
    for (const k of [0, 1, 2]) t.is(await shareEpoch(k, walletB), 1);
    const second = await http(api.url, 'POST', path, { headers: { authorization: ADMIN_TOKEN } });
    t.is(second.status, 200, second.text);
    t.deepEqual(
      second.json,
      { walletId: walletB, publicKey: keyB, epoch: 2 },
      'a second refresh (no body at all) moves the epoch again',
    );
    t.is(await shareEpoch(0, walletB), 2);
    t.is(
      (
        (await http(api.url, 'GET', `/v1/wallets/${walletB}`, { headers: { authorization: WALLET_TOKEN } })).json as {
          publicKey: string;
        }
      ).publicKey,
      keyB,
    );
    t.is(
      (await http(api.url, 'POST', `/v1/wallets/w_unknown_wallet_id/refresh`, { headers: admin, body: '{}' })).status,
      404,
    );
    t.is((await http(api.url, 'POST', path, { headers: admin, body: '{"epoch":7}' })).status, 400);
    const refreshed = audit.filter((e) => e.type === 'wallet.refreshed' && e.walletId === walletB);
    t.is(refreshed.length, 2);
    t.like(refreshed[0], { reason: 'admin', epoch: 1, publicKey: keyB, credentialId: 'cred_admin_test' });
  },
);

test.serial(
  'a rotation makes new aux-info and refreshes the wallets; a wallet left stale is refused presigning; an old presignature cannot sign',
  async (t) => {
    const auxBefore = cluster.auxId as string;
    const epochB = await shareEpoch(0, walletB);
    // wallet A's refresh is refused by node_1 during the rotation: it stays on its old share
    let blockA = true;
    taps[0]!.intercept = (req) =>
      blockA && req.method === 'prepare' && req.protocol === 'refresh' && req.walletId === walletA
        ? { ok: false, code: 'busy', error: 'test: refused' }
        : undefined;
    try {
      const started = await http(api.url, 'POST', '/v1/admin/rotation', { headers: admin, body: '{}' });
      t.is(started.status, 202, started.text);
      const { jobId } = started.json as RotationJobView;
      t.is(started.headers.get('location'), `/v1/admin/jobs/${jobId}`);
      t.is(
        (await http(api.url, 'POST', '/v1/admin/rotation', { headers: admin })).status,
        409,
        'one rotation at a time',
      );
      const running = await http(api.url, 'GET', `/v1/admin/jobs/${jobId}`, { headers: admin });
      t.is(running.status, 200);
      t.like(running.json, { jobId, kind: 'rotation', status: 'running' });
      // the aux-info run blocks this process's event loop for seconds at a time (all three nodes
      // compute here), which can break idle HTTP connections: wait in-process, then ask over HTTP
      const end = Date.now() + 300_000;
      while (rotation.job(jobId)?.status === 'running' && Date.now() < end)
        await new Promise((r) => setTimeout(r, 200));
      const done = await http(api.url, 'GET', `/v1/admin/jobs/${jobId}`, { headers: admin }).catch(() =>
        http(api.url, 'GET', `/v1/admin/jobs/${jobId}`, { headers: admin }),
      );
      t.is(done.status, 200);
      const job = done.json as RotationJobView;
      t.like(job, { status: 'failed', phase: 'done', wallets: { total: 2, refreshed: 1, failed: 1 } });
      await rotation.idle();

      // the aux-info id changed, at every node
      const auxAfter = cluster.auxId as string;
      t.not(auxAfter, auxBefore);
      t.is(job?.auxId, auxAfter);
      for (const k of [0, 1, 2]) t.is((await node(k, { method: 'info' })).auxId, auxAfter);
      // wallet B: refreshed under the new aux-info, same key
      for (const k of [0, 1, 2]) t.true((await shareEpoch(k, walletB)) > epochB);
      // wallet A: stale; its nodes refuse to presign with it
      t.is(await shareEpoch(0, walletA), 0);
      const refused = await node(0, {
        method: 'prepare',
        sessionId: randomBytes(12).toString('hex'),
        protocol: 'presign',
        parties: [...NODE_IDS],
        walletId: walletA,
        signers: [0, 1],
      });
      t.is(refused.code, 'share-stale');
      await t.throwsAsync(presign(walletA, [0, 1]), { name: 'ShareStaleError' });
      // the presignature made before the rotation was burnt at the nodes: it signs nothing
      for (const k of [0, 1]) {
        const r = await node(k, {
          method: 'sign',
          walletId: walletA,
          presignatureId: oldEntry.id,
          digest: randomBytes(32).toString('hex'),
        });
        t.false(r.ok);
        t.is(r.code, 'presignature-used');
      }
      t.true(audit.some((e) => e.type === 'rotation.started' && e.jobId === jobId));
      t.true(audit.some((e) => e.type === 'rotation.finished' && e.jobId === jobId && e.status === 'failed'));
    } finally {
      blockA = false;
      taps[0]!.intercept = undefined;
    }
  },
);

test.serial('signing a stale wallet refreshes it first, then signs under the unchanged public key', async (t) => {
  const digest = randomBytes(32);
  const sig = await signing.sign(walletA, digest);
  t.true(secp256k1.verify(Buffer.from(sig.r + sig.s, 'hex'), digest, Buffer.from(keyA, 'hex'), { prehash: false }));
  for (const k of [0, 1, 2]) t.is(await shareEpoch(k, walletA), 1);
  t.true(audit.some((e) => e.type === 'wallet.refreshed' && e.walletId === walletA && e.reason === 'stale'));
  t.is(wallets.publicKeyOf(walletA), keyA);
  // and wallet B, refreshed by the rotation, signs as it is
  const sigB = await signing.sign(walletB, digest);
  t.true(secp256k1.verify(Buffer.from(sigB.r + sigB.s, 'hex'), digest, Buffer.from(keyB, 'hex'), { prehash: false }));
});
