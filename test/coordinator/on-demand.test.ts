/**
 * Presignatures made on demand (the pool is empty when a signature is asked for) are bounded: too
 * many requests waiting at once are refused with 503 problem+json and Retry-After; a request waits
 * at most a set time; a request whose HTTP client has gone starts no presign session, and a
 * session already running when its client left still stocks the pool with its presignature.
 */
import test from 'ava';
import { createApi } from '../../src/coordinator/api.js';
import { CoordinatorMetrics } from '../../src/coordinator/metrics.js';
import {
  PresignBusyError,
  PresignCancelledError,
  PresignPool,
  PresignTimeoutError,
  combinations,
} from '../../src/coordinator/pool.js';
import { orchestratedPresign } from '../../src/coordinator/presign.js';
import { SigningService } from '../../src/coordinator/signing.js';
import { encodePresignaturePublic } from '../../src/protocol/storage-format.js';
import {
  Dealer,
  FakeLink,
  FakeRunner,
  NODE_IDS,
  http,
  readyCluster,
  serve,
  signingNode,
} from '../helpers/coordinator.js';

const WALLET = 'w_ondemand0';
const TOKEN = 'Bearer wallet_dev_token_12345';
const DIGEST = 'ab'.repeat(32);

/** A presign runner whose sessions end only when the test releases them, one at a time. */
function gatedRunner(dealer: Dealer) {
  const gates: (() => void)[] = [];
  const runner = new FakeRunner(async (spec) => {
    await new Promise<void>((resolve) => gates.push(resolve));
    const signers = spec.participants.map((l) => l.index);
    const pub = dealer.presignature(signers);
    return {
      status: 'done',
      sessionId: 'presign_test',
      protocol: 'presign',
      durationMs: 1,
      result: {
        protocol: 'presign',
        walletId: WALLET,
        presignature: Buffer.from(encodePresignaturePublic(pub)).toString('base64'),
      },
      participants: spec.participants.map((l) => l.nodeId),
    };
  });
  const releaseOne = async (): Promise<void> => {
    while (gates.length === 0) await new Promise((r) => setTimeout(r, 5));
    (gates.shift() as () => void)();
  };
  return { runner, releaseOne, started: () => runner.specs.length };
}

function setup(options: { maxOnDemand?: number; onDemandTimeoutMs?: number; maxConcurrent?: number } = {}) {
  const dealer = new Dealer();
  const links = NODE_IDS.map((id, k) => new FakeLink(id, k, signingNode(dealer)));
  const cluster = readyCluster(links);
  const gated = gatedRunner(dealer);
  const publicKeyOf = (w: string) => (w === WALLET ? dealer.publicKeyHex : undefined);
  const pool = new PresignPool({
    presign: orchestratedPresign({
      runner: gated.runner,
      cluster,
      publicKeyOf,
      maxConcurrent: options.maxConcurrent ?? 2,
    }),
    targetSize: 0,
    signerSets: () => combinations([0, 1, 2], 2),
    ...(options.maxOnDemand === undefined ? {} : { maxOnDemand: options.maxOnDemand }),
    ...(options.onDemandTimeoutMs === undefined ? {} : { onDemandTimeoutMs: options.onDemandTimeoutMs }),
  });
  const metrics = new CoordinatorMetrics();
  const signing = new SigningService({ cluster, pool, publicKeyOf, metrics });
  const app = createApi({
    wallets: {
      create: () => Promise.reject(new Error('unused')),
      find: (w) => Promise.resolve(w === WALLET ? ({ walletId: WALLET } as never) : undefined),
      list: () => Promise.resolve({ wallets: [], nextCursor: undefined }),
    },
    signer: signing,
    health: () => cluster.health(),
    metrics,
    authorization: TOKEN,
    anonymousRateLimit: { capacity: 1000, refillPerSecond: 1000 },
  });
  return { dealer, pool, signing, app, ...gated };
}

const signBody = {
  method: 'POST',
  headers: { authorization: TOKEN, 'content-type': 'application/json' },
  body: JSON.stringify({ digest: DIGEST }),
};

test('too many requests waiting for an on-demand presignature: 503 problem+json with Retry-After, at once', async (t) => {
  const env = setup({ maxOnDemand: 2 });
  const server = await serve(env.app);
  t.teardown(async () => {
    await server.close();
    await env.pool.stop();
  });
  const first = http(server.url, 'POST', `/v1/wallets/${WALLET}/sign`, signBody);
  const second = http(server.url, 'POST', `/v1/wallets/${WALLET}/sign`, signBody);
  while (env.pool.waitingOnDemand < 2) await new Promise((r) => setTimeout(r, 5));
  const third = await http(server.url, 'POST', `/v1/wallets/${WALLET}/sign`, signBody);
  t.is(third.status, 503, third.text);
  t.is(third.headers.get('content-type')?.split(';')[0], 'application/problem+json');
  t.like(third.json, { type: 'urn:mpc-engine:problem:presign-busy', status: 503 });
  t.is(third.headers.get('retry-after'), '2');
  t.is(env.started(), 2, 'no session for the refused request');
  await env.releaseOne();
  await env.releaseOne();
  t.is((await first).status, 200);
  t.is((await second).status, 200);
});

test('a request waits for an on-demand presignature at most the timeout; the late session stocks the pool', async (t) => {
  const env = setup({ onDemandTimeoutMs: 150 });
  t.teardown(() => env.pool.stop());
  const started = Date.now();
  const err = await t.throwsAsync(env.signing.sign(WALLET, Buffer.from(DIGEST, 'hex')), {
    instanceOf: PresignTimeoutError,
  });
  t.is(err?.status, 503);
  t.true(Date.now() - started < 10_000, 'not the session deadline');
  t.is(env.started(), 1);
  await env.releaseOne();
  const end = Date.now() + 5_000;
  while (env.pool.size(WALLET, [0, 1]) === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
  t.is(env.pool.size(WALLET, [0, 1]), 1, 'the presignature made for nobody is kept for the next request');
  // and the next request signs with it, starting no session
  const sig = await env.signing.sign(WALLET, Buffer.from(DIGEST, 'hex'));
  t.deepEqual(sig.signers, ['node_1', 'node_2']);
  t.is(env.started(), 1);
});

test('a request whose HTTP client has gone starts no presign session; one already running stocks the pool', async (t) => {
  // one session at a time: the first request's session runs, the second waits for the slot
  const env = setup({ maxConcurrent: 1 });
  const server = await serve(env.app);
  t.teardown(async () => {
    await server.close();
    await env.pool.stop();
  });
  const clientA = new AbortController();
  const clientB = new AbortController();
  const a = fetch(`${server.url}/v1/wallets/${WALLET}/sign`, { ...signBody, signal: clientA.signal }).catch(
    () => 'gone',
  );
  while (env.started() < 1) await new Promise((r) => setTimeout(r, 5));
  const b = fetch(`${server.url}/v1/wallets/${WALLET}/sign`, { ...signBody, signal: clientB.signal }).catch(
    () => 'gone',
  );
  while (env.pool.waitingOnDemand < 2) await new Promise((r) => setTimeout(r, 5));
  // both clients leave: A's session is running, B's has not started
  clientA.abort();
  clientB.abort();
  t.is(await a, 'gone');
  t.is(await b, 'gone');
  const end = Date.now() + 5_000;
  // both requests stop waiting as their clients leave (not when a session ends)
  while (env.pool.waitingOnDemand > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
  t.is(env.pool.waitingOnDemand, 0);
  await env.releaseOne(); // A's session ends; the slot is free
  while (env.pool.size(WALLET, [0, 1]) === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
  await new Promise((r) => setTimeout(r, 100));
  t.is(env.started(), 1, 'no session was started for the request whose client had gone');
  t.is(env.pool.waitingOnDemand, 0);
  t.is(env.pool.size(WALLET, [0, 1]), 1, 'the running session’s presignature went to the pool');
});

test('the pool refuses, times out and cancels with its own errors', async (t) => {
  const never = () => new Promise<never>(() => undefined);
  const pool = new PresignPool({
    presign: never,
    targetSize: 0,
    signerSets: () => [[0, 1]],
    maxOnDemand: 1,
    onDemandTimeoutMs: 100,
  });
  t.teardown(() => pool.stop());
  const gone = new AbortController();
  const waiting = pool.obtain(WALLET, [0, 1], { signal: gone.signal });
  await t.throwsAsync(pool.obtain(WALLET, [0, 1]), { instanceOf: PresignBusyError });
  gone.abort();
  await t.throwsAsync(waiting, { instanceOf: PresignCancelledError });
  t.is(pool.waitingOnDemand, 0);
  await t.throwsAsync(pool.obtain(WALLET, [0, 1]), { instanceOf: PresignTimeoutError });
  const already = new AbortController();
  already.abort();
  await t.throwsAsync(pool.obtain(WALLET, [0, 1], { signal: already.signal }), { instanceOf: PresignCancelledError });
});
