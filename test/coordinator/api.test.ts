/**
 * The wallet API over real HTTPS on loopback, with the real wallet, signing, pool and registry
 * services behind it and a fake session runner (keygen) and scripted signers (sign) below them:
 * the happy paths and the bad-input table — 401 without or with a wrong token, 400 for bad
 * digests, bodies and labels, 404 for unknown wallets and routes, 405 with Allow, 409 for a
 * reused Idempotency-Key, 413 for a large body, 415 for a wrong media type, 429 over the rate
 * limit, 503/502 for keygen that cannot or did not finish — every error as
 * application/problem+json with a matching status. The token never reaches a log; a node's text
 * never reaches a client. Rate limits: a bucket per credential, a small one per client address
 * without one, X-Forwarded-For believed only from trusted proxies.
 */
import test, { type ExecutionContext } from 'ava';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { brotliCompressSync, gzipSync } from 'node:zlib';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import {
  createApi,
  DEFAULT_ANONYMOUS_RATE_LIMIT,
  DEFAULT_RATE_LIMIT,
  loadOpenApiDocument,
} from '../../src/coordinator/api.js';
import type { NodeCluster } from '../../src/coordinator/cluster.js';
import { CoordinatorMetrics } from '../../src/coordinator/metrics.js';
import { combinations, PresignPool } from '../../src/coordinator/pool.js';
import { WalletRegistry } from '../../src/coordinator/registry.js';
import { SigningService } from '../../src/coordinator/signing.js';
import { InvalidLabelError } from '../../src/coordinator/errors.js';
import { labelIssue, WalletService } from '../../src/coordinator/wallets.js';
import type { SessionOutcome, SessionSpec } from '../../src/coordinator/orchestrator.js';
import type { ProtocolName } from '../../src/rpc/messages.js';
import type { RateLimitOptions } from '../../src/coordinator/rate-limit.js';
import { parseAddressRange, type AddressRange } from '../../src/util/ip.js';
import { createLogger } from '../../src/util/log.js';
import {
  Dealer,
  FakeLink,
  FakeRunner,
  NODE_IDS,
  keygenDone,
  readyCluster,
  signingNode,
  type Handler,
  type HttpAnswer,
} from '../helpers/coordinator.js';
import { httpsCall, serveHttps, type CallOptions } from '../helpers/https-api.js';
import { makePki, type Pki } from '../helpers/transport.js';

const TOKEN = 'Bearer wallet_dev_token_12345';
const METRICS_TOKEN = 'Bearer metrics_scraper_token_67890';
const AUTH = { authorization: TOKEN };
const METRICS_AUTH = { authorization: METRICS_TOKEN };
const JSON_AUTH = { ...AUTH, 'content-type': 'application/json' };
const AUX = 'cd'.repeat(32);
const DIGEST = '9c22ff5f21f0b81b113e63f7db6da94fedef11b2119b4088b89664fb9a3cb658';

let pki: Pki;
test.before(async () => {
  pki = await makePki();
});
test.after.always(() => pki.cleanup());

/** Every request of these tests goes over HTTPS to the API's real server on loopback. */
const http = (url: string, method: string, path: string, options: CallOptions = {}): Promise<HttpAnswer> =>
  httpsCall(url, pki.publicCaPem, method, path, options);

interface StartOptions {
  rateLimit?: RateLimitOptions;
  anonymousRateLimit?: RateLimitOptions;
  trustedProxies?: AddressRange[];
  /** default METRICS_TOKEN; null: /metrics off */
  metricsAuthorization?: string | null;
  now?: () => number;
  keygen?: (spec: SessionSpec<ProtocolName>) => SessionOutcome;
  node?: (dealer: Dealer) => Handler;
}

interface Env {
  url: string;
  dealer: Dealer;
  cluster: NodeCluster;
  runner: FakeRunner;
  registry: WalletRegistry;
  logText: () => string;
}

async function start(t: ExecutionContext, options: StartOptions = {}): Promise<Env> {
  const dir = await mkdtemp(join(tmpdir(), 'mpc-api-'));
  const dealer = new Dealer();
  const links = NODE_IDS.map((id, k) => new FakeLink(id, k, (options.node ?? signingNode)(dealer)));
  const cluster = readyCluster(links, [0, 1, 2], AUX);
  const runner = new FakeRunner(options.keygen ?? ((spec) => keygenDone(spec, dealer.publicKeyHex)));
  const registry = await WalletRegistry.open(join(dir, 'wallets.jsonl'));
  const lines = new PassThrough();
  let logged = '';
  lines.on('data', (c: Buffer) => (logged += c.toString()));
  const log = createLogger({ level: 'trace', destination: lines });
  const metrics = new CoordinatorMetrics();
  const wallets = new WalletService({ registry, cluster, runner, log });
  const pool = new PresignPool({
    presign: async (w, s) => dealer.entry(w, s),
    targetSize: 0,
    signerSets: () => combinations([0, 1, 2], 2),
  });
  const signer = new SigningService({ cluster, pool, publicKeyOf: (w) => wallets.publicKeyOf(w), metrics, log });
  const app = createApi({
    wallets,
    signer,
    health: () => cluster.health(),
    metrics,
    authorization: TOKEN,
    ...(options.metricsAuthorization === null
      ? {}
      : { metricsAuthorization: options.metricsAuthorization ?? METRICS_TOKEN }),
    log,
    ...(options.rateLimit ? { rateLimit: options.rateLimit } : {}),
    // generous unless a test is about it: every request of these tests comes from 127.0.0.1
    anonymousRateLimit: options.anonymousRateLimit ?? { capacity: 10_000, refillPerSecond: 1_000 },
    ...(options.trustedProxies ? { trustedProxies: options.trustedProxies } : {}),
    ...(options.now ? { now: options.now } : {}),
  });
  const server = await serveHttps(app, pki);
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

test('health: status for anyone; nodes, threshold and suspended nodes only with a credential', async (t) => {
  const env = await start(t);
  const res = await http(env.url, 'GET', '/health');
  t.is(res.status, 200);
  t.deepEqual(res.json, { status: 'ok' }, 'no node details without a credential');
  t.deepEqual(
    (await http(env.url, 'GET', '/health', { headers: { authorization: 'Bearer not_the_token_at_all' } })).json,
    { status: 'ok' },
    'nor with a wrong one',
  );
  const authed = await http(env.url, 'GET', '/health', { headers: AUTH });
  t.deepEqual(authed.json, { status: 'ok', connectedNodes: 3, totalNodes: 3, threshold: 2, suspendedNodes: [] });
  t.deepEqual(
    (await http(env.url, 'GET', '/health', { headers: METRICS_AUTH })).json,
    authed.json,
    'the metrics scraper may see them too',
  );
  env.cluster.setSuspension((id) => id === 'node_2');
  const suspended = await http(env.url, 'GET', '/health');
  t.false(suspended.text.includes('node_2'), 'suspended node ids are not public');
  t.like((await http(env.url, 'GET', '/health', { headers: AUTH })).json, { suspendedNodes: ['node_2'] });
  env.cluster.setSuspension(() => false);
  env.cluster.setConnected(2, false);
  t.deepEqual((await http(env.url, 'GET', '/health')).json, { status: 'degraded' });
  t.like((await http(env.url, 'GET', '/health', { headers: AUTH })).json, { status: 'degraded', connectedNodes: 2 });
  env.cluster.setConnected(1, false);
  const down = await http(env.url, 'GET', '/health');
  t.is(down.status, 503);
  t.deepEqual(down.json, { status: 'unavailable' });
  t.like((await http(env.url, 'GET', '/health', { headers: AUTH })).json, { status: 'unavailable', connectedNodes: 1 });
});

test('create, get, list: the documented wallet shape', async (t) => {
  const env = await start(t);
  const created = await createWallet(env, { label: 'treasury' });
  t.is(created.status, 201, created.text);
  const w = created.json as Record<string, unknown>;
  t.regex(String(w.walletId), /^[A-Za-z0-9_-]{8,64}$/);
  t.is(created.headers.get('location'), `/v1/wallets/${String(w.walletId)}`);
  t.deepEqual(Object.keys(w).sort(), [
    'addresses',
    'createdAt',
    'label',
    'publicKey',
    'status',
    'threshold',
    'totalShards',
    'walletId',
  ]);
  t.like(w, { label: 'treasury', status: 'active', publicKey: env.dealer.publicKeyHex, threshold: 2, totalShards: 3 });
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
  const res = await http(env.url, 'POST', `/v1/wallets/${w.walletId}/sign`, {
    headers: JSON_AUTH,
    body: JSON.stringify({ digest: '0x' + DIGEST.toUpperCase() }),
  });
  t.is(res.status, 200, res.text);
  const sig = res.json as { r: string; s: string; v: number; der: string; signature: string; signers: string[] };
  t.deepEqual(Object.keys(sig).sort(), ['der', 'r', 's', 'signature', 'signers', 'v']);
  t.true(sig.v === 0 || sig.v === 1);
  t.is(sig.signature.length, 130);
  t.is(sig.signers.length, 2);
  t.true(
    secp256k1.verify(Buffer.from(sig.r + sig.s, 'hex'), Buffer.from(DIGEST, 'hex'), Buffer.from(w.publicKey, 'hex'), {
      prehash: false,
    }),
  );
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
      const res = await http(env.url, method, path, {
        headers: { ...headers, 'content-type': 'application/json' },
        ...(method === 'POST' ? { body: '{}' } : {}),
      });
      isProblem(t, res, 401, 'unauthorized', `${name} ${method} ${path}`);
      t.is(res.headers.get('www-authenticate'), 'Bearer realm="mpc-engine"');
    }
  }
  // each credential opens only its own routes
  for (const [method, path] of [
    ['GET', '/v1/wallets'],
    ['POST', '/v1/wallets'],
    ['POST', '/v1/wallets/w_whatever0/sign'],
  ] as const) {
    const res = await http(env.url, method, path, {
      headers: { ...METRICS_AUTH, 'content-type': 'application/json' },
      ...(method === 'POST' ? { body: '{}' } : {}),
    });
    isProblem(t, res, 401, 'unauthorized', `metrics token on ${method} ${path}`);
  }
  isProblem(
    t,
    await http(env.url, 'GET', '/metrics', { headers: AUTH }),
    401,
    'unauthorized',
    'wallet token on /metrics',
  );
  t.is(env.runner.specs.length, 0, 'nothing ran');
  t.regex(env.logText(), /"msg":"request"/, 'requests were logged');
  t.false(env.logText().includes('wallet_dev_token'), 'no token (right or wrong) in the log');
  t.false(env.logText().includes('metrics_scraper_token'), 'nor the metrics token');
});

test('400 for bad digests and bodies, 404 for unknown wallets', async (t) => {
  const env = await start(t);
  const w = (await createWallet(env)).json as { walletId: string };
  const sign = (body: string, walletId = w.walletId) =>
    http(env.url, 'POST', `/v1/wallets/${walletId}/sign`, { headers: JSON_AUTH, body });
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
  for (const [name, digest] of badDigests)
    isProblem(t, await sign(JSON.stringify({ digest })), 400, 'invalid-digest', name);
  isProblem(t, await sign('{}'), 400, 'invalid-body', 'missing digest');
  isProblem(t, await sign(JSON.stringify({ digest: DIGEST, message: 'hi' })), 400, 'invalid-body', 'unknown field');
  isProblem(t, await sign('{"digest":'), 400, 'invalid-json', 'truncated JSON');
  isProblem(t, await sign('"just a string"'), 400, 'invalid-json', 'a JSON string');
  isProblem(t, await sign('[]'), 400, 'invalid-body', 'a JSON array');
  isProblem(t, await createWallet(env, { label: 5 }), 400, 'invalid-body', 'label not a string');
  isProblem(t, await createWallet(env, { label: 'x'.repeat(129) }), 400, 'invalid-body', 'label too long');
  isProblem(t, await createWallet(env, { label: 'a\u0000b' }), 400, 'invalid-body', 'control character');
  const badLabels: [string, string][] = [
    ['right-to-left override', 'invoice\u202Egpj.exe'],
    ['left-to-right embedding', 'a\u202Ab'],
    ['first strong isolate', 'a\u2068b\u2069'],
    ['zero-width space', 'treas\u200Bury'],
    ['zero-width joiner', 'a\u200Db'],
    ['byte order mark', '\uFEFFtreasury'],
    ['word joiner', 'a\u2060b'],
    ['line separator', 'a\u2028b'],
    ['paragraph separator', 'a\u2029b'],
    ['DEL', 'a\u007Fb'],
  ];
  for (const [name, label] of badLabels) isProblem(t, await createWallet(env, { label }), 400, 'invalid-body', name);
  // a lone surrogate is valid JSON text, so it is written by hand (JSON.stringify would escape it the same way)
  for (const escaped of ['\\ud800', 'a\\udfffb', '\\udc00\\ud800']) {
    const res = await http(env.url, 'POST', '/v1/wallets', { headers: JSON_AUTH, body: `{"label":"${escaped}"}` });
    isProblem(t, res, 400, 'invalid-body', `lone surrogate ${escaped}`);
  }
  const fine = await createWallet(env, { label: 'Trésor – 财库 💰 (ünïcode)' });
  t.is(fine.status, 201, `ordinary Unicode is accepted: ${fine.text}`);
  isProblem(t, await createWallet(env, {}, { 'idempotency-key': 'has space' }), 400, 'invalid-idempotency-key');
  isProblem(t, await http(env.url, 'GET', '/v1/wallets?limit=0', { headers: AUTH }), 400, 'invalid-query');
  isProblem(t, await http(env.url, 'GET', '/v1/wallets?limit=101', { headers: AUTH }), 400, 'invalid-query');
  isProblem(t, await http(env.url, 'GET', '/v1/wallets?cursor=bogus', { headers: AUTH }), 400, 'invalid-cursor');
  isProblem(t, await http(env.url, 'GET', '/v1/wallets?sort=asc', { headers: AUTH }), 400, 'invalid-query');

  isProblem(t, await sign(JSON.stringify({ digest: DIGEST }), 'w_unknown000'), 404, 'wallet-not-found', 'sign unknown');
  isProblem(
    t,
    await http(env.url, 'GET', '/v1/wallets/w_unknown000', { headers: AUTH }),
    404,
    'wallet-not-found',
    'get unknown',
  );
  isProblem(t, await http(env.url, 'GET', '/v1/wallets/x', { headers: AUTH }), 404, 'wallet-not-found', 'malformed id');
  isProblem(t, await http(env.url, 'GET', '/v1/nothing', { headers: AUTH }), 404, 'not-found', 'unknown route');
});

test('405 names the allowed methods in Allow; OPTIONS is 405 too, with or without a token (no CORS)', async (t) => {
  const env = await start(t);
  const cases: [string, string, string][] = [
    ['DELETE', '/v1/wallets', 'GET, HEAD, POST'],
    ['PUT', '/v1/wallets/w_whatever0', 'GET, HEAD'],
    ['GET', '/v1/wallets/w_whatever0/sign', 'POST'],
    ['POST', '/health', 'GET, HEAD'],
    ['PATCH', '/openapi.json', 'GET, HEAD'],
    ['OPTIONS', '/v1/wallets', 'GET, HEAD, POST'],
    ['OPTIONS', '/v1/wallets/w_whatever0/sign', 'POST'],
    ['OPTIONS', '/health', 'GET, HEAD'],
  ];
  for (const headers of [{}, AUTH]) {
    for (const [method, path, allow] of cases) {
      const res = await http(env.url, method, path, { headers });
      isProblem(t, res, 405, 'method-not-allowed', `${method} ${path}`);
      t.is(res.headers.get('allow'), allow, `${method} ${path} Allow`);
      t.is(res.headers.get('access-control-allow-origin'), null);
    }
  }
  const preflight = await http(env.url, 'OPTIONS', '/v1/wallets', {
    headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' },
  });
  t.is(preflight.status, 405, 'a browser preflight fails');
  isProblem(t, await http(env.url, 'OPTIONS', '/nothing/here'), 404, 'not-found');
  isProblem(t, await http(env.url, 'OPTIONS', '/metrics'), 405, 'method-not-allowed');
});

test('a compressed body that does not decompress is 400 invalid-encoding (no 500, no stack); a good one is read', async (t) => {
  const env = await start(t);
  const w = (await createWallet(env)).json as { walletId: string };
  const good = JSON.stringify({ digest: DIGEST });
  const bad: [string, Uint8Array][] = [
    ['gzip', Buffer.from('this is not gzip at all')],
    ['gzip', gzipSync(good).subarray(0, 12)],
    ['br', Buffer.from('not brotli either, not at all')],
    ['deflate', Buffer.from('nor deflate')],
  ];
  for (const [encoding, body] of bad) {
    const res = await http(env.url, 'POST', `/v1/wallets/${w.walletId}/sign`, {
      headers: { ...JSON_AUTH, 'content-encoding': encoding },
      body,
    });
    isProblem(t, res, 400, 'invalid-encoding', encoding);
    t.false(/at .*\.js:\d+/.test(res.text), 'no stack trace');
  }
  t.false(/"level":50/.test(env.logText()), 'not logged as an unexpected error');
  for (const [encoding, body] of [
    ['gzip', gzipSync(good)],
    ['br', brotliCompressSync(good)],
  ] as const) {
    const res = await http(env.url, 'POST', `/v1/wallets/${w.walletId}/sign`, {
      headers: { ...JSON_AUTH, 'content-encoding': encoding },
      body,
    });
    t.is(res.status, 200, `${encoding}: ${res.text}`);
  }
  isProblem(
    t,
    await http(env.url, 'POST', '/v1/wallets', {
      headers: { ...JSON_AUTH, 'content-encoding': 'compress' },
      body: '{}',
    }),
    415,
    'unsupported-media-type',
  );
  // the size limit applies to the decompressed body: 4 MiB of JSON whitespace is a few KiB of gzip
  const bomb = gzipSync(Buffer.from(`{"digest":"${DIGEST}"${' '.repeat(4 * 1024 * 1024)}}`));
  t.true(bomb.length < 16 * 1024);
  isProblem(
    t,
    await http(env.url, 'POST', `/v1/wallets/${w.walletId}/sign`, {
      headers: { ...JSON_AUTH, 'content-encoding': 'gzip' },
      body: bomb,
    }),
    413,
    'body-too-large',
    'decompression bomb',
  );
});

test('413 for a body over the limit, 415 for anything but JSON', async (t) => {
  const env = await start(t);
  const w = (await createWallet(env)).json as { walletId: string };
  const big = JSON.stringify({ digest: DIGEST, pad: 'x'.repeat(64 * 1024) });
  isProblem(
    t,
    await http(env.url, 'POST', `/v1/wallets/${w.walletId}/sign`, { headers: JSON_AUTH, body: big }),
    413,
    'body-too-large',
  );
  isProblem(
    t,
    await http(env.url, 'POST', '/v1/wallets', {
      headers: JSON_AUTH,
      body: JSON.stringify({ label: 'x'.repeat(20_000) }),
    }),
    413,
    'body-too-large',
  );
  for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'application/xml']) {
    const res = await http(env.url, 'POST', `/v1/wallets/${w.walletId}/sign`, {
      headers: { ...AUTH, 'content-type': type },
      body: `digest=${DIGEST}`,
    });
    isProblem(t, res, 415, 'unsupported-media-type', type);
  }
  isProblem(
    t,
    await http(env.url, 'POST', '/v1/wallets', { headers: { ...AUTH, 'content-type': 'text/plain' }, body: '{}' }),
    415,
    'unsupported-media-type',
  );
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
    keygen: (spec) => ({
      status: 'failed',
      failure: 'timeout',
      nodes: ['node_2'],
      reason: 'timed out',
      sessionId: 's_12345678',
      protocol: spec.protocol,
      durationMs: 1,
    }),
  });
  const r1 = await createWallet(failed);
  isProblem(t, r1, 503, 'keygen-failed');
  t.is((r1.json as { detail: string }).detail, 'key generation did not complete; no wallet was created');
  t.regex(failed.logText(), /key generation failed \(timeout: node_2\)/, 'the reason is in the log');
  t.is(failed.registry.count, 0);
  // What a node says is its own text: a compromised node must not be able to talk to the wallet server through the API.
  const NODE_TEXT = 'vss: share does not match <call +1-555-0100 now>';
  const aborted = await start(t, {
    keygen: (spec) => ({
      status: 'aborted',
      reportedBy: 'node_1',
      culprits: [{ index: 2, nodeId: 'node_3' }],
      reason: NODE_TEXT,
      sessionId: 's_12345678',
      protocol: spec.protocol,
      durationMs: 1,
    }),
  });
  const r2 = await createWallet(aborted);
  isProblem(t, r2, 502, 'keygen-failed');
  t.is((r2.json as { detail: string }).detail, 'key generation was aborted by the node group; no wallet was created');
  t.false(r2.text.includes('share does not match'), 'no node text in the answer');
  t.true(aborted.logText().includes('share does not match'), 'it is logged');
  t.regex(aborted.logText(), /blamed: node_3/);
  t.is(aborted.registry.count, 0);
});

test('signing that fails on every pair answers a fixed detail; what the nodes said is only logged', async (t) => {
  const NODE_TEXT = 'NODE-TEXT: wire 5 BTC to bc1qattacker';
  const env = await start(t, {
    node: (dealer) => signingNode(dealer, { fail: () => ({ ok: false, code: 'internal', error: NODE_TEXT }) }),
  });
  const w = (await createWallet(env)).json as { walletId: string };
  const res = await http(env.url, 'POST', `/v1/wallets/${w.walletId}/sign`, {
    headers: JSON_AUTH,
    body: JSON.stringify({ digest: DIGEST }),
  });
  isProblem(t, res, 503, 'signing-failed');
  t.is((res.json as { detail: string }).detail, 'no signer set produced a valid signature');
  t.false(res.text.includes('NODE-TEXT'), 'no node text in the answer');
  t.true(env.logText().includes('NODE-TEXT'), 'it is logged');
});

test('signing with too few nodes is 503', async (t) => {
  const env = await start(t);
  const w = (await createWallet(env)).json as { walletId: string };
  env.cluster.setConnected(0, false);
  env.cluster.setConnected(1, false);
  const res = await http(env.url, 'POST', `/v1/wallets/${w.walletId}/sign`, {
    headers: JSON_AUTH,
    body: JSON.stringify({ digest: DIGEST }),
  });
  isProblem(t, res, 503, 'nodes-unavailable');
});

test('429 with Retry-After once a credential has spent its burst; unauthenticated requests have their own bucket', async (t) => {
  const env = await start(t, {
    rateLimit: { capacity: 3, refillPerSecond: 0.01 },
    anonymousRateLimit: { capacity: 2, refillPerSecond: 0.01 },
  });
  for (let n = 0; n < 3; n++) t.is((await http(env.url, 'GET', '/v1/wallets', { headers: AUTH })).status, 200);
  const limited = await http(env.url, 'GET', '/v1/wallets', { headers: AUTH });
  isProblem(t, limited, 429, 'rate-limited');
  t.true(Number(limited.headers.get('retry-after')) >= 1);
  // the wallet server's budget is spent: that leaves the unauthenticated bucket (and the scraper's) whole
  t.is((await http(env.url, 'GET', '/health')).status, 200);
  t.is((await http(env.url, 'GET', '/metrics', { headers: METRICS_AUTH })).status, 200);
  // a wrong token spends the address's unauthenticated bucket: guessing tokens is limited too
  isProblem(
    t,
    await http(env.url, 'GET', '/v1/wallets', { headers: { authorization: 'Bearer guess_guess_guess_1' } }),
    401,
    'unauthorized',
  );
  isProblem(
    t,
    await http(env.url, 'GET', '/v1/wallets', { headers: { authorization: 'Bearer guess_guess_guess_2' } }),
    429,
    'rate-limited',
  );
  isProblem(t, await http(env.url, 'GET', '/health'), 429, 'rate-limited');
});

test('flood: an authenticated client keeps being served while unauthenticated requests from its own address are refused', async (t) => {
  // Default limits, and a clock that stands still so that nothing refills while the loop runs,
  // however slow the machine (the review's case: 160 unauthenticated /health calls made the
  // wallet server's next request 429).
  const frozen = (): number => 0;
  const env = await start(t, {
    rateLimit: { ...DEFAULT_RATE_LIMIT, now: frozen },
    anonymousRateLimit: { ...DEFAULT_ANONYMOUS_RATE_LIMIT, now: frozen },
  });
  let served = 0;
  let limited = 0;
  for (let round = 0; round < 20; round++) {
    const flood = await Promise.all(
      Array.from({ length: 8 }, (_, k) =>
        http(env.url, 'GET', k % 2 === 0 ? '/health' : '/v1/wallets', {
          headers: k % 2 === 0 ? {} : { authorization: `Bearer wrong_token_${round}_${k}_xx` },
        }),
      ),
    );
    limited += flood.filter((r) => r.status === 429).length;
    const res = await http(env.url, 'GET', '/v1/wallets', { headers: AUTH });
    t.is(res.status, 200, `round ${round}: ${res.text}`);
    if (res.status === 200) served++;
  }
  t.is(served, 20);
  t.is(limited, 160 - DEFAULT_ANONYMOUS_RATE_LIMIT.capacity, 'the flood itself was limited to its own burst');
  const created = await createWallet(env, { label: 'after the flood' });
  t.is(created.status, 201);
});

test('the rate limits use the injected monotonic clock: a spent bucket refills as it advances', async (t) => {
  let now = 1_000;
  const env = await start(t, {
    now: () => now,
    rateLimit: { capacity: 1, refillPerSecond: 1 },
    anonymousRateLimit: { capacity: 1, refillPerSecond: 1 },
  });
  t.is((await http(env.url, 'GET', '/v1/wallets', { headers: AUTH })).status, 200);
  const limited = await http(env.url, 'GET', '/v1/wallets', { headers: AUTH });
  isProblem(t, limited, 429, 'rate-limited');
  t.is(limited.headers.get('retry-after'), '1');
  t.is((await http(env.url, 'GET', '/health')).status, 200);
  isProblem(t, await http(env.url, 'GET', '/health'), 429, 'rate-limited');
  now += 999;
  isProblem(t, await http(env.url, 'GET', '/v1/wallets', { headers: AUTH }), 429, 'rate-limited', 'not yet');
  now += 1;
  t.is((await http(env.url, 'GET', '/v1/wallets', { headers: AUTH })).status, 200, 'one second later: one token');
  t.is((await http(env.url, 'GET', '/health')).status, 200);
});

test('X-Forwarded-For is believed only from a trusted proxy, read from the right', async (t) => {
  const small = { capacity: 1, refillPerSecond: 0.01 };
  // no trusted proxy: the header is the client's own invention and changes nothing
  const direct = await start(t, { anonymousRateLimit: small });
  t.is((await http(direct.url, 'GET', '/health', { headers: { 'x-forwarded-for': '203.0.113.1' } })).status, 200);
  isProblem(
    t,
    await http(direct.url, 'GET', '/health', { headers: { 'x-forwarded-for': '203.0.113.2' } }),
    429,
    'rate-limited',
    'spoofed address',
  );
  // loopback is a trusted proxy: each client address it reports has a bucket
  const proxied = await start(t, {
    anonymousRateLimit: small,
    trustedProxies: [parseAddressRange('127.0.0.0/8')!, parseAddressRange('10.0.0.0/8')!],
  });
  const via = (xff: string) => http(proxied.url, 'GET', '/health', { headers: { 'x-forwarded-for': xff } });
  t.is((await via('203.0.113.1')).status, 200);
  isProblem(t, await via('203.0.113.1'), 429, 'rate-limited', 'same client again');
  t.is((await via('203.0.113.2')).status, 200, 'another client');
  // the client prepends a made-up address; the proxy appends the real one: the rightmost untrusted counts
  isProblem(
    t,
    await via('198.51.100.77, 203.0.113.1'),
    429,
    'rate-limited',
    'spoofing the left of the list does not help',
  );
  isProblem(t, await via('198.51.100.78, 203.0.113.2, 10.1.2.3'), 429, 'rate-limited', 'trusted hops are skipped');
  t.is((await via('::ffff:203.0.113.3')).status, 200);
  isProblem(t, await via('203.0.113.3'), 429, 'rate-limited', 'an IPv4-mapped address is the same client');
  t.is((await via('not-an-address')).status, 200, 'garbage has a bucket of its own…');
  isProblem(t, await via('still not one'), 429, 'rate-limited', '…shared by all garbage from this proxy');
  t.is((await via('203.0.113.4')).status, 200, "and does not spend anyone else's");
  t.is(
    (await http(proxied.url, 'GET', '/v1/wallets', { headers: { ...AUTH, 'x-forwarded-for': '203.0.113.1' } })).status,
    200,
    'a credential has its own bucket',
  );
});

test('/metrics (Prometheus text) counts requests; /openapi.json documents every route', async (t) => {
  const env = await start(t);
  await createWallet(env);
  const m = await http(env.url, 'GET', '/metrics', { headers: METRICS_AUTH });
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
    ['/v1/wallets/{walletId}/refresh', 'post'],
    ['/v1/admin/rotation', 'post'],
    ['/v1/admin/reshare', 'post'],
    ['/v1/admin/jobs/{jobId}', 'get'],
    ['/v1/wallets/{walletId}', 'delete'],
    ['/v1/wallets/{walletId}/restore', 'post'],
  ] as const) {
    t.truthy(spec.paths[path]?.[method], `${method} ${path} documented`);
  }
  t.false(doc.text.includes('wallet_dev_token'), 'the development token is not in the served document');
  t.false(doc.text.includes(TOKEN.slice('Bearer '.length)), 'nor the configured one');
});

test('without a metrics credential /metrics is off (404), whatever token is presented', async (t) => {
  const env = await start(t, { metricsAuthorization: null });
  for (const headers of [{}, AUTH, METRICS_AUTH])
    isProblem(t, await http(env.url, 'GET', '/metrics', { headers }), 404, 'not-found');
  // nor, without an admin credential, do the admin routes exist
  isProblem(t, await http(env.url, 'POST', '/v1/admin/rotation', { headers: AUTH }), 404, 'not-found');
  isProblem(t, await http(env.url, 'POST', '/v1/admin/reshare', { headers: AUTH }), 404, 'not-found');
  t.is((await http(env.url, 'GET', '/v1/wallets', { headers: AUTH })).status, 200);
});

test('an API document that carries a credential, or one credential for both roles, refuses to start', (t) => {
  const base = {
    wallets: {} as never,
    signer: {} as never,
    health: () => ({}) as never,
    metrics: new CoordinatorMetrics(),
  };
  const doc = loadOpenApiDocument() as { info: { description: string } };
  const leaky = { ...doc, info: { ...doc.info, description: `${doc.info.description} (e.g. ${TOKEN})` } };
  t.throws(() => createApi({ ...base, authorization: TOKEN, openApi: leaky }), {
    instanceOf: RangeError,
    message: /contains an API credential/,
  });
  const leakyMetrics = { ...doc, info: { ...doc.info, description: `scrape with ${METRICS_TOKEN.slice(7)}` } };
  t.throws(
    () => createApi({ ...base, authorization: TOKEN, metricsAuthorization: METRICS_TOKEN, openApi: leakyMetrics }),
    { instanceOf: RangeError },
  );
  t.throws(() => createApi({ ...base, authorization: TOKEN, metricsAuthorization: TOKEN }), {
    instanceOf: RangeError,
    message: /must differ/,
  });
  const admin = {
    refresh: async () => ({ walletId: 'w', publicKey: '', epoch: 1 }),
    startRotation: () => {
      throw new Error('unused');
    },
    job: () => undefined,
  };
  t.throws(() => createApi({ ...base, authorization: TOKEN, adminAuthorization: TOKEN, admin }), {
    instanceOf: RangeError,
    message: /admin credential must differ/,
  });
  t.throws(
    () =>
      createApi({
        ...base,
        authorization: TOKEN,
        metricsAuthorization: METRICS_TOKEN,
        adminAuthorization: METRICS_TOKEN,
        admin,
      }),
    { instanceOf: RangeError, message: /admin credential must differ/ },
  );
  t.throws(() => createApi({ ...base, authorization: TOKEN, adminAuthorization: 'Bearer admin_token_0003' }), {
    instanceOf: RangeError,
    message: /needs the admin service/,
  });
  t.notThrows(() => createApi({ ...base, authorization: TOKEN, metricsAuthorization: METRICS_TOKEN }));
});

test('a restart loses no wallet: a new app over the reopened registry serves it', async (t) => {
  const env = await start(t);
  const created = (await createWallet(env, { label: 'kept' }, { 'idempotency-key': 'restart-1' })).json as {
    walletId: string;
  };
  const path = env.registry.path;
  await env.registry.close();
  const registry = await WalletRegistry.open(path);
  t.teardown(() => registry.close());
  const wallets = new WalletService({ registry, cluster: env.cluster, runner: env.runner });
  t.like(wallets.get(created.walletId), {
    walletId: created.walletId,
    label: 'kept',
    publicKey: env.dealer.publicKeyHex,
  });
  const again = await wallets.create({ label: 'kept', idempotencyKey: 'restart-1' });
  t.true(again.replayed, 'the idempotency key is remembered across the restart');
  t.is(again.wallet.walletId, created.walletId);
});

test('the wallet service itself refuses a label the API would refuse (defence in depth), before any keygen', async (t) => {
  const env = await start(t);
  const wallets = new WalletService({ registry: env.registry, cluster: env.cluster, runner: env.runner });
  for (const label of [
    'a\u202Eb',
    'a\u200Bb',
    'a\u2028b',
    '\uD800',
    'x'.repeat(129),
    '',
    'a\u3164b',
    'a\u115Fb',
    'a\u034Fb',
    'a\uFE0Fb',
    '   ',
  ]) {
    await t.throwsAsync(wallets.create({ label }), { instanceOf: InvalidLabelError }, JSON.stringify(label));
  }
  t.is(env.runner.specs.length, 0, 'no keygen ran');
  t.is(labelIssue('ordinary label – ünïcode 💰'), undefined);
});

test.serial(
  'a registry that failed a write answers wallet creation with a 503 registry-unavailable problem, and runs no keygen',
  async (t) => {
    const env = await start(t);
    const probe = await open(env.registry.path, 'r');
    const proto = Object.getPrototypeOf(probe) as { write: (...a: unknown[]) => Promise<unknown> };
    await probe.close();
    const original = proto.write;
    proto.write = () =>
      Promise.reject(Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' }));
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
  },
);
