/**
 * The wallet API over HTTP, with the real wallet, signing, pool and registry services behind it
 * and a fake session runner (keygen) and scripted signers (sign) below them: the happy paths and
 * the bad-input table — 401 without or with a wrong token, 400 for bad digests and bodies, 404 for
 * unknown wallets and routes, 409 for a reused Idempotency-Key, 413 for a large body, 415 for a
 * wrong media type, 429 over the rate limit, 503/502 for keygen that cannot or did not finish —
 * every error as application/problem+json with a matching status. The token never reaches a log.
 */
import test, { type ExecutionContext } from 'ava';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { createApi, loadOpenApiDocument } from '../../src/coordinator/api.js';
import type { NodeCluster } from '../../src/coordinator/cluster.js';
import { CoordinatorMetrics } from '../../src/coordinator/metrics.js';
import { combinations, PresignPool } from '../../src/coordinator/pool.js';
import { WalletRegistry } from '../../src/coordinator/registry.js';
import { SigningService } from '../../src/coordinator/signing.js';
import { WalletService } from '../../src/coordinator/wallets.js';
import type { SessionOutcome, SessionSpec } from '../../src/coordinator/orchestrator.js';
import type { ProtocolName } from '../../src/rpc/messages.js';
import type { RateLimitOptions } from '../../src/coordinator/rate-limit.js';
import { createLogger } from '../../src/util/log.js';
import { Dealer, FakeLink, FakeRunner, NODE_IDS, http, keygenDone, readyCluster, serve, signingNode, type HttpAnswer } from '../helpers/coordinator.js';

const TOKEN = 'Bearer wallet_dev_token_12345';
const AUTH = { authorization: TOKEN };
const JSON_AUTH = { ...AUTH, 'content-type': 'application/json' };
const AUX = 'cd'.repeat(32);
const DIGEST = '9c22ff5f21f0b81b113e63f7db6da94fedef11b2119b4088b89664fb9a3cb658';

interface Env {
  url: string;
  dealer: Dealer;
  cluster: NodeCluster;
  runner: FakeRunner;
  registry: WalletRegistry;
  logText: () => string;
}

async function start(t: ExecutionContext, options: { rateLimit?: RateLimitOptions; keygen?: (spec: SessionSpec<ProtocolName>) => SessionOutcome } = {}): Promise<Env> {
  const dir = await mkdtemp(join(tmpdir(), 'mpc-api-'));
  const dealer = new Dealer();
  const links = NODE_IDS.map((id, k) => new FakeLink(id, k, signingNode(dealer)));
  const cluster = readyCluster(links, [0, 1, 2], AUX);
  const runner = new FakeRunner(options.keygen ?? ((spec) => keygenDone(spec, dealer.publicKeyHex)));
  const registry = await WalletRegistry.open(join(dir, 'wallets.jsonl'));
  const lines = new PassThrough();
  let logged = '';
  lines.on('data', (c: Buffer) => (logged += c.toString()));
  const log = createLogger({ level: 'trace', destination: lines });
  const metrics = new CoordinatorMetrics();
  const wallets = new WalletService({ registry, cluster, runner, log });
  const pool = new PresignPool({ presign: async (w, s) => dealer.entry(w, s), targetSize: 0, signerSets: () => combinations([0, 1, 2], 2) });
  const signer = new SigningService({ cluster, pool, publicKeyOf: (w) => wallets.publicKeyOf(w), metrics, log });
  const app = createApi({
    wallets,
    signer,
    health: () => cluster.health(),
    metrics,
    authorization: TOKEN,
    log,
    ...(options.rateLimit ? { rateLimit: options.rateLimit } : {}),
  });
  const server = await serve(app);
  t.teardown(async () => {
    await server.close();
    await pool.stop();
    await registry.close();
    await rm(dir, { recursive: true, force: true });
  });
  return { url: server.url, dealer, cluster, runner, registry, logText: () => logged };
}

/** A problem+json answer with this status and type slug. */
function isProblem(t: ExecutionContext, res: HttpAnswer, status: number, slug?: string, label = ''): void {
  t.is(res.status, status, `${label} status (${res.text})`);
  t.is(res.headers.get('content-type')?.split(';')[0], 'application/problem+json', `${label} content type`);
  const body = res.json as Record<string, unknown>;
  t.is(body.status, status, `${label} body status`);
  t.is(typeof body.title, 'string');
  t.is(typeof body.detail, 'string');
  t.regex(String(body.type), /^urn:mpc-engine:problem:[a-z-]+$/);
  if (slug) t.is(body.type, `urn:mpc-engine:problem:${slug}`, label);
}

async function createWallet(env: Env, body: unknown = {}, headers: Record<string, string> = {}): Promise<HttpAnswer> {
  return http(env.url, 'POST', '/v1/wallets', { headers: { ...JSON_AUTH, ...headers }, body: JSON.stringify(body) });
}

test('health needs no token and reports nodes and threshold', async (t) => {
  const env = await start(t);
  const res = await http(env.url, 'GET', '/health');
  t.is(res.status, 200);
  t.deepEqual(res.json, { status: 'ok', connectedNodes: 3, totalNodes: 3, threshold: 2, suspendedNodes: [] });
  env.cluster.setConnected(2, false);
  t.like((await http(env.url, 'GET', '/health')).json, { status: 'degraded', connectedNodes: 2 });
  env.cluster.setConnected(1, false);
  const down = await http(env.url, 'GET', '/health');
  t.is(down.status, 503);
  t.like(down.json, { status: 'unavailable', connectedNodes: 1 });
});

test('create, get, list: the documented wallet shape', async (t) => {
  const env = await start(t);
  const created = await createWallet(env, { label: 'treasury' });
  t.is(created.status, 201, created.text);
  const w = created.json as Record<string, unknown>;
  t.regex(String(w.walletId), /^[A-Za-z0-9_-]{8,64}$/);
  t.is(created.headers.get('location'), `/v1/wallets/${String(w.walletId)}`);
  t.deepEqual(Object.keys(w).sort(), ['addresses', 'createdAt', 'label', 'publicKey', 'threshold', 'totalShards', 'walletId']);
  t.like(w, { label: 'treasury', publicKey: env.dealer.publicKeyHex, threshold: 2, totalShards: 3 });
  const addresses = w.addresses as { ethereum: string; bitcoin: string };
  t.regex(addresses.ethereum, /^0x[0-9a-fA-F]{40}$/);
  t.regex(addresses.bitcoin, /^bc1q[02-9ac-hj-np-z]{38}$/);
  t.false(Number.isNaN(Date.parse(String(w.createdAt))));
  // keygen ran with every node and this wallet id
  t.like(env.runner.specs[0], { protocol: 'keygen', walletId: w.walletId, parties: [...NODE_IDS] });
  t.is(env.runner.specs[0]?.participants.length, 3);
  t.is(env.registry.count, 1, 'recorded before the 201');

  const got = await http(env.url, 'GET', `/v1/wallets/${String(w.walletId)}`, { headers: AUTH });
  t.is(got.status, 200);
  t.deepEqual(got.json, w);
  t.is(got.headers.get('cache-control'), 'no-store');

  const second = await http(env.url, 'POST', '/v1/wallets', { headers: AUTH }); // no body at all
  t.is(second.status, 201, second.text);
  t.false('label' in (second.json as object));
  const page1 = await http(env.url, 'GET', '/v1/wallets?limit=1', { headers: AUTH });
  const p1 = page1.json as { wallets: { walletId: string }[]; nextCursor: string | null };
  t.is(p1.wallets.length, 1);
  t.is(p1.wallets[0]?.walletId, String(w.walletId));
  t.truthy(p1.nextCursor);
  const page2 = await http(env.url, 'GET', `/v1/wallets?limit=1&cursor=${p1.nextCursor ?? ''}`, { headers: AUTH });
  t.like(page2.json, { nextCursor: null });
  t.is((page2.json as { wallets: unknown[] }).wallets.length, 1);
});

test('sign: 200 with r, s, v, der, signature, signers — verifying under the wallet key', async (t) => {
  const env = await start(t);
  const w = (await createWallet(env)).json as { walletId: string; publicKey: string };
  const res = await http(env.url, 'POST', `/v1/wallets/${w.walletId}/sign`, { headers: JSON_AUTH, body: JSON.stringify({ digest: '0x' + DIGEST.toUpperCase() }) });
  t.is(res.status, 200, res.text);
  const sig = res.json as { r: string; s: string; v: number; der: string; signature: string; signers: string[] };
  t.deepEqual(Object.keys(sig).sort(), ['der', 'r', 's', 'signature', 'signers', 'v']);
  t.true(sig.v === 0 || sig.v === 1);
  t.is(sig.signature.length, 130);
  t.is(sig.signers.length, 2);
  t.true(secp256k1.verify(Buffer.from(sig.r + sig.s, 'hex'), Buffer.from(DIGEST, 'hex'), Buffer.from(w.publicKey, 'hex'), { prehash: false }));
});

test('401 without a token, with a wrong one, or with anything but the exact value', async (t) => {
  const env = await start(t);
  const cases: [string, Record<string, string>][] = [
    ['missing', {}],
    ['wrong token', { authorization: 'Bearer wallet_dev_token_12346' }],
    ['no scheme', { authorization: 'wallet_dev_token_12345' }],
    ['trailing text', { authorization: `${TOKEN}x` }],
    ['lower-case scheme', { authorization: 'bearer wallet_dev_token_12345' }],
    ['prefix only', { authorization: 'Bearer ' }],
  ];
  for (const [name, headers] of cases) {
    for (const [method, path] of [
      ['GET', '/v1/wallets'],
      ['POST', '/v1/wallets'],
      ['GET', '/v1/wallets/w_whatever0'],
      ['POST', '/v1/wallets/w_whatever0/sign'],
      ['GET', '/metrics'],
    ] as const) {
      const res = await http(env.url, method, path, { headers: { ...headers, 'content-type': 'application/json' }, ...(method === 'POST' ? { body: '{}' } : {}) });
      isProblem(t, res, 401, 'unauthorized', `${name} ${method} ${path}`);
      t.is(res.headers.get('www-authenticate'), 'Bearer realm="mpc-engine"');
    }
  }
  t.is(env.runner.specs.length, 0, 'nothing ran');
  t.regex(env.logText(), /"msg":"request"/, 'requests were logged');
  t.false(env.logText().includes('wallet_dev_token'), 'no token (right or wrong) in the log');
});

test('400 for bad digests and bodies, 404 for unknown wallets', async (t) => {
  const env = await start(t);
  const w = (await createWallet(env)).json as { walletId: string };
  const sign = (body: string, walletId = w.walletId) => http(env.url, 'POST', `/v1/wallets/${walletId}/sign`, { headers: JSON_AUTH, body });
  const badDigests: [string, unknown][] = [
    ['not hex', 'zz'.repeat(32)],
    ['31 bytes', DIGEST.slice(2)],
    ['33 bytes', DIGEST + 'ab'],
    ['odd length', DIGEST.slice(1)],
    ['0x and 31 bytes', '0x' + DIGEST.slice(2)],
    ['0X prefix', '0X' + DIGEST],
    ['inner space', DIGEST.slice(0, 10) + ' ' + DIGEST.slice(11)],
    ['empty', ''],
    ['a number', 12345],
    ['null', null],
    ['an array', [DIGEST]],
  ];
  for (const [name, digest] of badDigests) isProblem(t, await sign(JSON.stringify({ digest })), 400, 'invalid-digest', name);
  isProblem(t, await sign('{}'), 400, 'invalid-body', 'missing digest');
  isProblem(t, await sign(JSON.stringify({ digest: DIGEST, message: 'hi' })), 400, 'invalid-body', 'unknown field');
  isProblem(t, await sign('{"digest":'), 400, 'invalid-json', 'truncated JSON');
  isProblem(t, await sign('"just a string"'), 400, 'invalid-json', 'a JSON string');
  isProblem(t, await sign('[]'), 400, 'invalid-body', 'a JSON array');
  isProblem(t, await createWallet(env, { label: 5 }), 400, 'invalid-body', 'label not a string');
  isProblem(t, await createWallet(env, { label: 'x'.repeat(129) }), 400, 'invalid-body', 'label too long');
  isProblem(t, await createWallet(env, { label: 'a\u0000b' }), 400, 'invalid-body', 'control character');
  isProblem(t, await createWallet(env, {}, { 'idempotency-key': 'has space' }), 400, 'invalid-idempotency-key');
  isProblem(t, await http(env.url, 'GET', '/v1/wallets?limit=0', { headers: AUTH }), 400, 'invalid-query');
  isProblem(t, await http(env.url, 'GET', '/v1/wallets?limit=101', { headers: AUTH }), 400, 'invalid-query');
  isProblem(t, await http(env.url, 'GET', '/v1/wallets?cursor=bogus', { headers: AUTH }), 400, 'invalid-cursor');
  isProblem(t, await http(env.url, 'GET', '/v1/wallets?sort=asc', { headers: AUTH }), 400, 'invalid-query');

  isProblem(t, await sign(JSON.stringify({ digest: DIGEST }), 'w_unknown000'), 404, 'wallet-not-found', 'sign unknown');
  isProblem(t, await http(env.url, 'GET', '/v1/wallets/w_unknown000', { headers: AUTH }), 404, 'wallet-not-found', 'get unknown');
  isProblem(t, await http(env.url, 'GET', '/v1/wallets/x', { headers: AUTH }), 404, 'wallet-not-found', 'malformed id');
  isProblem(t, await http(env.url, 'GET', '/v1/nothing', { headers: AUTH }), 404, 'not-found', 'unknown route');
  isProblem(t, await http(env.url, 'DELETE', '/v1/wallets', { headers: AUTH }), 405, 'method-not-allowed');
});

test('413 for a body over the limit, 415 for anything but JSON', async (t) => {
  const env = await start(t);
  const w = (await createWallet(env)).json as { walletId: string };
  const big = JSON.stringify({ digest: DIGEST, pad: 'x'.repeat(64 * 1024) });
  isProblem(t, await http(env.url, 'POST', `/v1/wallets/${w.walletId}/sign`, { headers: JSON_AUTH, body: big }), 413, 'body-too-large');
  isProblem(t, await http(env.url, 'POST', '/v1/wallets', { headers: JSON_AUTH, body: JSON.stringify({ label: 'x'.repeat(20_000) }) }), 413, 'body-too-large');
  for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'application/xml']) {
    const res = await http(env.url, 'POST', `/v1/wallets/${w.walletId}/sign`, { headers: { ...AUTH, 'content-type': type }, body: `digest=${DIGEST}` });
    isProblem(t, res, 415, 'unsupported-media-type', type);
  }
  isProblem(t, await http(env.url, 'POST', '/v1/wallets', { headers: { ...AUTH, 'content-type': 'text/plain' }, body: '{}' }), 415, 'unsupported-media-type');
  t.is(env.registry.count, 1);
});

test('Idempotency-Key: a repeat returns the same wallet, a different body is 409', async (t) => {
  const env = await start(t);
  const first = await createWallet(env, { label: 'a' }, { 'idempotency-key': 'order-42' });
  t.is(first.status, 201);
  const again = await createWallet(env, { label: 'a' }, { 'idempotency-key': 'order-42' });
  t.is(again.status, 201);
  t.is(again.headers.get('idempotent-replayed'), 'true');
  t.deepEqual(again.json, first.json);
  isProblem(t, await createWallet(env, { label: 'b' }, { 'idempotency-key': 'order-42' }), 409, 'idempotency-conflict');
  t.is(env.runner.specs.length, 1, 'one keygen');
  const other = await createWallet(env, { label: 'a' }, { 'idempotency-key': 'order-43' });
  t.not((other.json as { walletId: string }).walletId, (first.json as { walletId: string }).walletId);
});

test('Idempotency-Key: a repeat while the first is still running is 409', async (t) => {
  let release: () => void = () => undefined;
  const gate = new Promise<void>((r) => (release = r));
  const dealer = new Dealer();
  const env = await start(t, { keygen: (spec) => keygenDone(spec, dealer.publicKeyHex) });
  env.runner.outcome = async (spec) => {
    await gate;
    return keygenDone(spec, dealer.publicKeyHex);
  };
  const first = createWallet(env, {}, { 'idempotency-key': 'slow-1' });
  await new Promise((r) => setTimeout(r, 50));
  isProblem(t, await createWallet(env, {}, { 'idempotency-key': 'slow-1' }), 409, 'idempotency-conflict');
  release();
  t.is((await first).status, 201);
});

test('wallet creation with a node missing is 503 with the reason; no keygen, no wallet', async (t) => {
  const env = await start(t);
  env.cluster.setConnected(2, false);
  const res = await createWallet(env);
  isProblem(t, res, 503, 'nodes-unavailable');
  t.regex((res.json as { detail: string }).detail, /all 3 nodes; not connected: node_3/);
  t.truthy(res.headers.get('retry-after'));
  t.is(env.runner.specs.length, 0);
  t.is(env.registry.count, 0);
});

test('a failed or aborted keygen leaves no wallet (503 / 502)', async (t) => {
  const failed = await start(t, {
    keygen: (spec) => ({ status: 'failed', failure: 'timeout', nodes: ['node_2'], reason: 'timed out', sessionId: 's_12345678', protocol: spec.protocol, durationMs: 1 }),
  });
  const r1 = await createWallet(failed);
  isProblem(t, r1, 503, 'keygen-failed');
  t.regex((r1.json as { detail: string }).detail, /node_2/);
  t.is(failed.registry.count, 0);
  const aborted = await start(t, {
    keygen: (spec) => ({ status: 'aborted', reportedBy: 'node_1', culprits: [{ index: 2, nodeId: 'node_3' }], reason: 'vss: share does not match', sessionId: 's_12345678', protocol: spec.protocol, durationMs: 1 }),
  });
  const r2 = await createWallet(aborted);
  isProblem(t, r2, 502, 'keygen-failed');
  t.regex((r2.json as { detail: string }).detail, /blamed: node_3/);
  t.is(aborted.registry.count, 0);
});

test('signing with too few nodes is 503', async (t) => {
  const env = await start(t);
  const w = (await createWallet(env)).json as { walletId: string };
  env.cluster.setConnected(0, false);
  env.cluster.setConnected(1, false);
  const res = await http(env.url, 'POST', `/v1/wallets/${w.walletId}/sign`, { headers: JSON_AUTH, body: JSON.stringify({ digest: DIGEST }) });
  isProblem(t, res, 503, 'nodes-unavailable');
});

test('429 with Retry-After once a client has spent its burst', async (t) => {
  const env = await start(t, { rateLimit: { capacity: 3, refillPerSecond: 0.01 } });
  for (let n = 0; n < 3; n++) t.is((await http(env.url, 'GET', '/health')).status, 200);
  const limited = await http(env.url, 'GET', '/v1/wallets', { headers: AUTH });
  isProblem(t, limited, 429, 'rate-limited');
  t.true(Number(limited.headers.get('retry-after')) >= 1);
});

test('/metrics (Prometheus text) counts requests; /openapi.json documents every route', async (t) => {
  const env = await start(t);
  await createWallet(env);
  const m = await http(env.url, 'GET', '/metrics', { headers: AUTH });
  t.is(m.status, 200);
  t.regex(m.headers.get('content-type') ?? '', /^text\/plain/);
  t.regex(m.text, /mpc_http_requests_total\{method="POST",route="\/v1\/wallets",status="201"\} 1/);
  t.regex(m.text, /mpc_http_request_duration_seconds_bucket/);
  const doc = await http(env.url, 'GET', '/openapi.json');
  t.is(doc.status, 200);
  const spec = doc.json as { openapi: string; paths: Record<string, Record<string, unknown>> };
  t.is(spec.openapi, '3.1.0');
  t.deepEqual(spec, loadOpenApiDocument());
  for (const [path, method] of [
    ['/v1/wallets', 'post'],
    ['/v1/wallets', 'get'],
    ['/v1/wallets/{walletId}', 'get'],
    ['/v1/wallets/{walletId}/sign', 'post'],
    ['/health', 'get'],
    ['/metrics', 'get'],
    ['/openapi.json', 'get'],
  ] as const) {
    t.truthy(spec.paths[path]?.[method], `${method} ${path} documented`);
  }
});

test('a restart loses no wallet: a new app over the reopened registry serves it', async (t) => {
  const env = await start(t);
  const created = (await createWallet(env, { label: 'kept' }, { 'idempotency-key': 'restart-1' })).json as { walletId: string };
  const path = env.registry.path;
  await env.registry.close();
  const registry = await WalletRegistry.open(path);
  t.teardown(() => registry.close());
  const wallets = new WalletService({ registry, cluster: env.cluster, runner: env.runner });
  t.like(wallets.get(created.walletId), { walletId: created.walletId, label: 'kept', publicKey: env.dealer.publicKeyHex });
  const again = await wallets.create({ label: 'kept', idempotencyKey: 'restart-1' });
  t.true(again.replayed, 'the idempotency key is remembered across the restart');
  t.is(again.wallet.walletId, created.walletId);
});

test.serial('a registry that failed a write answers wallet creation with a 503 registry-unavailable problem, and runs no keygen', async (t) => {
  const env = await start(t);
  const probe = await open(env.registry.path, 'r');
  const proto = Object.getPrototypeOf(probe) as { write: (...a: unknown[]) => Promise<unknown> };
  await probe.close();
  const original = proto.write;
  proto.write = () => Promise.reject(Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' }));
  let first: HttpAnswer;
  try {
    first = await createWallet(env);
  } finally {
    proto.write = original;
  }
  isProblem(t, first, 503, 'registry-unavailable');
  t.is(env.runner.specs.length, 0, 'the pending record failed: keygen never ran');
  const second = await createWallet(env);
  isProblem(t, second, 503, 'registry-unavailable');
  t.regex((second.json as { detail: string }).detail, /restarted/);
  t.notRegex(second.text, /ENOSPC|wallets\.jsonl/);
  t.is(env.runner.specs.length, 0);
  t.is((await http(env.url, 'GET', '/v1/wallets', { headers: AUTH })).status, 200, 'reads still work');
});
