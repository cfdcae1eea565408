/**
 * Archiving wallets through the API (a real registry, wallet, signing, pool, rotation and archive
 * service behind it; a fake session runner and scripted signers below): DELETE /v1/wallets/:id
 * and POST /v1/wallets/:id/restore take the admin credential only (401 for the wallet server's,
 * the metrics scraper's or none), answer 404 for an unknown wallet, 200 with the wallet's view
 * and its status, the same again for a repeat, and are audited once per change. An archived wallet
 * is refused signing (409, nothing asked of any node, nothing taken from the pool, its ready
 * presignatures dropped) and refresh (409; a rotation leaves it out); restored, it signs again.
 * The state survives a restart. A registry copy too old to be trusted on archive state (a shared
 * store out of reach) signs and refreshes nothing: 503 store-unavailable with Retry-After.
 */
import test, { type ExecutionContext } from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApi } from '../../src/coordinator/api.js';
import { WalletArchive } from '../../src/coordinator/archive.js';
import { CoordinatorMetrics } from '../../src/coordinator/metrics.js';
import { combinations, PresignPool } from '../../src/coordinator/pool.js';
import { WalletRegistry } from '../../src/coordinator/registry.js';
import { StoreUnavailableError } from '../../src/coordinator/store/database.js';
import { allWalletIds, KeyRotation } from '../../src/coordinator/rotation.js';
import { SigningService } from '../../src/coordinator/signing.js';
import { WalletService } from '../../src/coordinator/wallets.js';
import type { SessionOutcome } from '../../src/coordinator/orchestrator.js';
import type { AuditEvent } from '../../src/util/audit-log.js';
import {
  Dealer,
  FakeLink,
  FakeRunner,
  http,
  keygenDone,
  NODE_IDS,
  readyCluster,
  serve,
  signingNode,
  type HttpAnswer,
} from '../helpers/coordinator.js';

const WALLET_TOKEN = 'Bearer wallet_archive_test_token_1';
const ADMIN_TOKEN = 'Bearer admin_archive_test_token_2';
const METRICS_TOKEN = 'Bearer metrics_archive_test_token_3';
const WALLET = { authorization: WALLET_TOKEN };
const ADMIN = { authorization: ADMIN_TOKEN };
const DIGEST = '9c22ff5f21f0b81b113e63f7db6da94fedef11b2119b4088b89664fb9a3cb658';
const PAIRS = combinations([0, 1, 2], 2);

interface Env {
  url: string;
  dir: string;
  links: FakeLink[];
  runner: FakeRunner;
  pool: PresignPool;
  rotation: KeyRotation;
  audit: AuditEvent[];
  /** presignatures made, by wallet id */
  presigned: Map<string, number>;
  registry: WalletRegistry;
}

async function start(
  t: ExecutionContext,
  options: { poolSize?: number; current?: () => Promise<void> } = {},
): Promise<Env> {
  const dir = await mkdtemp(join(tmpdir(), 'mpc-archive-'));
  const dealer = new Dealer();
  const links = NODE_IDS.map((id, k) => new FakeLink(id, k, signingNode(dealer)));
  const cluster = readyCluster(links, [0, 1, 2]);
  const runner = new FakeRunner((spec): SessionOutcome => {
    if (spec.protocol === 'keygen') return keygenDone(spec, dealer.publicKeyHex);
    return {
      status: 'failed',
      sessionId: 'test',
      protocol: spec.protocol,
      durationMs: 1,
      failure: 'timeout',
      nodes: [],
      reason: 'not run in this test',
    } as unknown as SessionOutcome;
  });
  const registry = await WalletRegistry.open(join(dir, 'wallets.jsonl'));
  const audit: AuditEvent[] = [];
  const sink = { append: async (e: AuditEvent) => void audit.push(e) };
  const metrics = new CoordinatorMetrics();
  const presigned = new Map<string, number>();
  const pool = new PresignPool({
    presign: async (w, s) => {
      presigned.set(w, (presigned.get(w) ?? 0) + 1);
      return dealer.entry(w, s);
    },
    targetSize: options.poolSize ?? 0,
    signerSets: () => PAIRS,
  });
  const wallets = new WalletService({ registry, cluster, runner, onCreated: (w) => pool.track(w) });
  const publicKeyOf = (w: string): string | undefined => wallets.publicKeyOf(w);
  const isArchived = (w: string): boolean => registry.isArchived(w);
  const rotation = new KeyRotation({
    cluster,
    runner,
    walletIds: () => allWalletIds((o) => registry.list(o)),
    publicKeyOf,
    isArchived,
    ...(options.current === undefined ? {} : { current: options.current }),
    renewAux: async () => 'ef'.repeat(32),
    discardPresignatures: (w) => void pool.discard(w),
    audit: sink,
  });
  const signer = new SigningService({
    cluster,
    pool,
    publicKeyOf,
    isArchived,
    metrics,
    ...(options.current === undefined ? {} : { current: options.current }),
  });
  const archive = new WalletArchive({
    registry,
    view: (w) => wallets.get(w),
    audit: sink,
    onArchived: (w) => {
      pool.untrack(w);
      void pool.discard(w);
    },
    onRestored: (w) => pool.track(w),
  });
  const app = createApi({
    wallets,
    signer,
    health: () => cluster.health(),
    metrics,
    authorization: WALLET_TOKEN,
    metricsAuthorization: METRICS_TOKEN,
    adminAuthorization: ADMIN_TOKEN,
    admin: rotation,
    archive,
    adminCredentialId: 'cred_admin_test',
    anonymousRateLimit: { capacity: 10_000, refillPerSecond: 1_000 },
  });
  const server = await serve(app);
  t.teardown(async () => {
    rotation.stop();
    await server.close();
    await pool.stop();
    await registry.close();
    await rm(dir, { recursive: true, force: true });
  });
  return { url: server.url, dir, links, runner, pool, rotation, audit, presigned, registry };
}

async function createWallet(env: Env): Promise<string> {
  const res = await http(env.url, 'POST', '/v1/wallets', {
    headers: { ...WALLET, 'content-type': 'application/json' },
    body: '{}',
  });
  if (res.status !== 201) throw new Error(`create: ${res.status} ${res.text}`);
  return (res.json as { walletId: string }).walletId;
}

const sign = (env: Env, walletId: string): Promise<HttpAnswer> =>
  http(env.url, 'POST', `/v1/wallets/${walletId}/sign`, {
    headers: { ...WALLET, 'content-type': 'application/json' },
    body: JSON.stringify({ digest: DIGEST }),
  });
const archive = (env: Env, walletId: string, headers: Record<string, string> = ADMIN): Promise<HttpAnswer> =>
  http(env.url, 'DELETE', `/v1/wallets/${walletId}`, { headers });
const restore = (env: Env, walletId: string, headers: Record<string, string> = ADMIN): Promise<HttpAnswer> =>
  http(env.url, 'POST', `/v1/wallets/${walletId}/restore`, { headers });

function isProblem(t: ExecutionContext, res: HttpAnswer, status: number, slug: string): void {
  t.is(res.status, status, res.text);
  t.is(res.headers.get('content-type')?.split(';')[0], 'application/problem+json');
  t.like(res.json, { status, type: `urn:mpc-engine:problem:${slug}` });
}

const statusOf = async (env: Env, walletId: string): Promise<unknown> =>
  ((await http(env.url, 'GET', `/v1/wallets/${walletId}`, { headers: WALLET })).json as { status?: unknown }).status;

test('archive and restore: admin only, 200 with the view, idempotent, audited once per change', async (t) => {
  const env = await start(t);
  const walletId = await createWallet(env);
  t.is(await statusOf(env, walletId), 'active');
  for (const headers of [{}, WALLET, { authorization: METRICS_TOKEN }, { authorization: 'Bearer wrong' }]) {
    isProblem(t, await archive(env, walletId, headers), 401, 'unauthorized');
    isProblem(t, await restore(env, walletId, headers), 401, 'unauthorized');
  }
  t.is(await statusOf(env, walletId), 'active', 'a refused request changed nothing');
  t.deepEqual(env.audit, []);

  const first = await archive(env, walletId);
  t.is(first.status, 200, first.text);
  t.like(first.json, { walletId, status: 'archived' });
  const again = await archive(env, walletId);
  t.is(again.status, 200);
  t.deepEqual(again.json, first.json, 'a repeat answers the same');
  t.is(await statusOf(env, walletId), 'archived');
  const list = (await http(env.url, 'GET', '/v1/wallets', { headers: WALLET })).json as {
    wallets: { walletId: string; status: string }[];
  };
  t.deepEqual(
    list.wallets.map((w) => [w.walletId, w.status]),
    [[walletId, 'archived']],
    'listed, with its status',
  );

  const back = await restore(env, walletId);
  t.is(back.status, 200, back.text);
  t.like(back.json, { walletId, status: 'active' });
  t.deepEqual((await restore(env, walletId)).json, back.json);
  t.deepEqual(
    env.audit.map((e) => [e.type, e.walletId, e.credentialId]),
    [
      ['wallet.archived', walletId, 'cred_admin_test'],
      ['wallet.restored', walletId, 'cred_admin_test'],
    ],
  );
  t.regex(env.audit[0]?.requestId as string, /^req_/);
});

test('unknown or malformed wallet ids are 404; a body is refused', async (t) => {
  const env = await start(t);
  const walletId = await createWallet(env);
  for (const id of ['w_doesnotexist0000000000', 'not%20an%20id']) {
    isProblem(t, await archive(env, id), 404, 'wallet-not-found');
    isProblem(t, await restore(env, id), 404, 'wallet-not-found');
  }
  const withBody = await http(env.url, 'DELETE', `/v1/wallets/${walletId}`, {
    headers: { ...ADMIN, 'content-type': 'application/json' },
    body: '{"force":true}',
  });
  isProblem(t, withBody, 400, 'invalid-body');
  t.is(await statusOf(env, walletId), 'active');
  t.deepEqual(env.audit, []);
});

test('an archived wallet is refused signing (409) with nothing used; restored, it signs again', async (t) => {
  const env = await start(t, { poolSize: 1 });
  const walletId = await createWallet(env);
  await waitFor(() => PAIRS.every((p) => env.pool.size(walletId, p) === 1));
  t.is(env.presigned.get(walletId), PAIRS.length);
  t.is((await archive(env, walletId)).status, 200);
  t.true(
    PAIRS.every((p) => env.pool.size(walletId, p) === 0),
    'the pool dropped what it held',
  );
  const refused = await sign(env, walletId);
  isProblem(t, refused, 409, 'wallet-archived');
  t.regex(String((refused.json as { detail: string }).detail), /archived.*restore/);
  t.deepEqual(
    env.links.map((l) => l.requests.length),
    [0, 0, 0],
    'no node was asked anything',
  );
  await new Promise((r) => setTimeout(r, 50));
  t.is(env.presigned.get(walletId), PAIRS.length, 'the pool does not stock it');

  t.is((await restore(env, walletId)).status, 200);
  const signed = await sign(env, walletId);
  t.is(signed.status, 200, signed.text);
  t.regex(String((signed.json as { signature?: unknown }).signature), /^[0-9a-f]{130}$/);
  t.is(env.links.flatMap((l) => l.requests).filter((r) => r.method === 'sign').length, 2);
});

test('an archived wallet is not refreshed: the admin route answers 409, a rotation leaves it out', async (t) => {
  const env = await start(t);
  const kept = await createWallet(env);
  const archived = await createWallet(env);
  t.is((await archive(env, archived)).status, 200);
  const refresh = await http(env.url, 'POST', `/v1/wallets/${archived}/refresh`, { headers: ADMIN });
  isProblem(t, refresh, 409, 'wallet-archived');
  const job = await http(env.url, 'POST', '/v1/admin/rotation', { headers: ADMIN });
  t.is(job.status, 202, job.text);
  const jobId = (job.json as { jobId: string }).jobId;
  let view: { status: string; wallets: { total: number } } | undefined;
  await waitFor(async () => {
    view = (await http(env.url, 'GET', `/v1/admin/jobs/${jobId}`, { headers: ADMIN })).json as typeof view;
    return view?.status !== 'running';
  });
  t.is(view?.wallets.total, 1, 'only the active wallet is counted');
  const refreshed = env.runner.specs.filter((s) => s.protocol === 'refresh').map((s) => s.walletId);
  t.true(refreshed.includes(kept), 'the active wallet was refreshed');
  t.false(refreshed.includes(archived), 'the archived one was not');
});

test('the archived state survives a restart', async (t) => {
  const env = await start(t);
  const walletId = await createWallet(env);
  t.is((await archive(env, walletId)).status, 200);
  const again = await WalletRegistry.open(join(env.dir, 'wallets.jsonl'));
  t.teardown(() => again.close());
  t.true(again.isArchived(walletId));
});

async function waitFor(check: () => boolean | Promise<boolean>, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('a purged wallet is listed as purged, never restored (409 wallet-purged), and never signs', async (t) => {
  const env = await start(t);
  const walletId = await createWallet(env);
  t.is((await archive(env, walletId)).status, 200);
  t.true(await env.registry.purge(walletId)); // npm run wallet:purge -- --coordinator (the registry step)
  t.is(await statusOf(env, walletId), 'purged');
  isProblem(t, await restore(env, walletId), 409, 'wallet-purged');
  t.is(await statusOf(env, walletId), 'purged');
  isProblem(t, await sign(env, walletId), 409, 'wallet-archived');
  t.is((await archive(env, walletId)).status, 200, 'archiving again changes nothing');
  t.false(env.audit.some((e) => e.type === 'wallet.restored'));
});

test('a registry copy too old to trust, its store out of reach: signing and refresh answer 503 store-unavailable, no node asked', async (t) => {
  let reachable = true;
  // WalletStore.ensureCurrent of a shared store whose copy is older than the bound
  const current = (): Promise<void> =>
    reachable ? Promise.resolve() : Promise.reject(new StoreUnavailableError('database unreachable (test)'));
  const env = await start(t, { poolSize: 1, current });
  const walletId = await createWallet(env);
  await waitFor(() => PAIRS.every((p) => env.pool.size(walletId, p) === 1));
  reachable = false;
  const refused = await sign(env, walletId);
  isProblem(t, refused, 503, 'store-unavailable');
  t.is(refused.headers.get('retry-after'), '2');
  t.notRegex(refused.text, /unreachable \(test\)/, 'the detail is the fixed sentence');
  const refresh = await http(env.url, 'POST', `/v1/wallets/${walletId}/refresh`, { headers: ADMIN });
  isProblem(t, refresh, 503, 'store-unavailable');
  t.deepEqual(
    env.links.map((l) => l.requests.length),
    [0, 0, 0],
    'no node was asked anything',
  );
  t.true(
    PAIRS.every((p) => env.pool.size(walletId, p) === 1),
    'nothing taken from the pool',
  );
  t.false(env.runner.specs.some((s) => s.protocol === 'refresh'));
  reachable = true;
  const signed = await sign(env, walletId);
  t.is(signed.status, 200, signed.text);
});
