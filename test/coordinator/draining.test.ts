/**
 * A node that is shutting down answers every new request with the code `unavailable` (NODE_DRAIN_MS,
 * src/node/main.ts). That is no fault: signing goes to another signer set, the node gets no new
 * work until it is back (a reconnect) — so no further presignature is spent on it — nothing is
 * blamed or suspended, and a request no other set can serve is a retryable 503, not a failure.
 */
import test from 'ava';
import { NodesUnavailableError, SigningFailedError } from '../../src/coordinator/errors.js';
import { CoordinatorMetrics } from '../../src/coordinator/metrics.js';
import { Orchestrator } from '../../src/coordinator/orchestrator.js';
import { combinations, PresignPool } from '../../src/coordinator/pool.js';
import { orchestratedPresign } from '../../src/coordinator/presign.js';
import { SigningService } from '../../src/coordinator/signing.js';
import { Dealer, FakeLink, NODE_IDS, readyCluster, signingNode, type Handler } from '../helpers/coordinator.js';

const WALLET = 'w_draining0';
const DIGEST = Uint8Array.from(Buffer.alloc(32, 7));
const SHUTTING_DOWN = { ok: false, code: 'unavailable', error: 'node is shutting down' };

function setup(draining: (index: number) => boolean, connected: readonly number[] = [0, 1, 2]) {
  const dealer = new Dealer();
  // one honest handler per link, so each keeps its own used-presignature set (as a real node)
  const links = NODE_IDS.map((id, k) => {
    const honest = signingNode(dealer);
    return new FakeLink(id, k, (req, link) => (draining(k) ? SHUTTING_DOWN : honest(req, link)));
  });
  const cluster = readyCluster(links, connected);
  const metrics = new CoordinatorMetrics();
  const blamed: string[] = [];
  const pool = new PresignPool({
    presign: async (w, s) => dealer.entry(w, s),
    targetSize: 0,
    signerSets: () => cluster.usableSignerSets(),
  });
  const signing = new SigningService({
    cluster,
    pool,
    publicKeyOf: (w) => (w === WALLET ? dealer.publicKeyHex : undefined),
    metrics,
    onBlame: (nodeId) => blamed.push(nodeId),
  });
  const signRequests = (k: number) => (links[k] as FakeLink).requests.filter((r) => r.method === 'sign').length;
  return { dealer, links, cluster, metrics, blamed, pool, signing, signRequests };
}

test('a signer shutting down: another pair signs, the node gets no new work until it is back, nobody is blamed', async (t) => {
  let drainingNow = true;
  const env = setup((k) => k === 0 && drainingNow);
  t.teardown(() => env.pool.stop());
  const first = await env.signing.sign(WALLET, DIGEST);
  t.deepEqual(first.signers, ['node_2', 'node_3']);
  t.is(env.signRequests(0), 1, 'asked once, before it said it is shutting down');
  t.deepEqual(env.blamed, []);
  t.notRegex((await env.metrics.exposition()).body, /mpc_blames_total\{/);
  t.true(env.cluster.isDraining(0));
  t.deepEqual(env.cluster.usableSignerSets(), [[1, 2]]);
  t.false(env.cluster.keygenReadiness().ready);
  t.regex((env.cluster.keygenReadiness() as { reason: string }).reason, /shutting down: node_1/);
  t.is(env.cluster.health().status, 'degraded');

  // the next requests do not spend a presignature on it
  const second = await env.signing.sign(WALLET, DIGEST);
  t.deepEqual(second.signers, ['node_2', 'node_3']);
  t.is(env.signRequests(0), 1, 'not asked again');

  // back (a new process: its connection dropped and came back): used again
  drainingNow = false;
  env.cluster.setConnected(0, false);
  env.cluster.setConnected(0, true);
  env.cluster.setInfo(0, { nodeId: 'node_1', index: 0, auxId: 'ab'.repeat(32), primesReady: 4, wallets: 0 });
  t.false(env.cluster.isDraining(0));
  const third = await env.signing.sign(WALLET, DIGEST);
  t.deepEqual(third.signers, ['node_1', 'node_2']);
  t.deepEqual(env.blamed, []);
});

test('no other pair: a retryable 503 nodes-unavailable, not a signing failure', async (t) => {
  const env = setup((k) => k === 0, [0, 1]);
  t.teardown(() => env.pool.stop());
  const err = await t.throwsAsync(env.signing.sign(WALLET, DIGEST));
  t.true(err instanceof NodesUnavailableError, String(err));
  t.false(err instanceof SigningFailedError);
  t.is((err as NodesUnavailableError).status, 503);
  t.is((err as NodesUnavailableError).retryAfterS, 5);
  t.deepEqual(env.blamed, []);
  // and the next request is refused at once, without a round trip to the draining node
  const before = env.links[0]?.requests.length;
  await t.throwsAsync(env.signing.sign(WALLET, DIGEST), { instanceOf: NodesUnavailableError });
  t.is(env.links[0]?.requests.length, before);
});

test('a presign session refused by a node shutting down fails as draining (no culprit, no refusal) and signing moves on', async (t) => {
  const dealer = new Dealer();
  const refusing: Handler = () => SHUTTING_DOWN;
  const links = NODE_IDS.map(
    (id, k) => new FakeLink(id, k, k === 0 ? refusing : () => ({ ok: false, code: 'bad-request', error: 'not used' })),
  );
  const cluster = readyCluster(links);
  const outcomes: unknown[] = [];
  const orchestrator = new Orchestrator({ onOutcome: (o) => outcomes.push(o) });
  const outcome = await orchestrator.run({
    protocol: 'presign',
    parties: cluster.parties,
    participants: [links[0] as FakeLink, links[1] as FakeLink],
    walletId: WALLET,
  });
  t.like(outcome, { status: 'failed', failure: 'draining', nodes: ['node_1'] });

  // through the pool and signing: the draining node is left out and the other pair presigns
  const presign = orchestratedPresign({ runner: orchestrator, cluster, publicKeyOf: () => dealer.publicKeyHex });
  const pool = new PresignPool({
    presign: (w, s, o) => (s.includes(0) ? presign(w, s, o) : Promise.resolve(dealer.entry(w, s))),
    targetSize: 0,
    signerSets: () => combinations([0, 1, 2], 2),
  });
  t.teardown(() => pool.stop());
  const honest = [signingNode(dealer), signingNode(dealer)];
  for (const k of [1, 2]) (links[k] as FakeLink).handler = (req, link) => (honest[k - 1] as Handler)(req, link);
  const blamed: string[] = [];
  const signing = new SigningService({
    cluster,
    pool,
    publicKeyOf: () => dealer.publicKeyHex,
    onBlame: (id) => blamed.push(id),
  });
  const sig = await signing.sign(WALLET, DIGEST);
  t.deepEqual(sig.signers, ['node_2', 'node_3']);
  t.true(cluster.isDraining(0));
  t.deepEqual(blamed, []);
});
