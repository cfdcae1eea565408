/**
 * Signing with scripted signers and dealer-made presignatures: the result verifies under the
 * wallet key (noble and node:crypto), is low-s and recoverable; a pair with presignatures ready is
 * preferred; a failing or silent node makes it retry with another pair; a wrong partial is blamed,
 * counted and avoided; no presignature is ever used twice; too few nodes is a 503-kind error.
 */
import test from 'ava';
import { setTimeout as sleep } from 'node:timers/promises';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { NodesUnavailableError, SigningFailedError, WalletNotFoundError } from '../../src/coordinator/errors.js';
import { CoordinatorMetrics } from '../../src/coordinator/metrics.js';
import { PresignPool, combinations } from '../../src/coordinator/pool.js';
import { PresignFailedError, orchestratedPresign } from '../../src/coordinator/presign.js';
import type { SessionOutcome } from '../../src/coordinator/orchestrator.js';
import { encodePresignaturePublic } from '../../src/protocol/storage-format.js';
import { SigningService } from '../../src/coordinator/signing.js';
import {
  MemoryInventory,
  type PresignInventory,
  type StoredEntry,
} from '../../src/coordinator/store/presign-inventory.js';
import { mulG, randomScalar } from '../../src/curve/secp256k1.js';
import { InProcessNodeLink } from '../../src/coordinator/links.js';
import { ConnectionClosedError } from '../../src/transport/errors.js';
import {
  Dealer,
  FakeLink,
  FakeRunner,
  NODE_IDS,
  never,
  readyCluster,
  signingNode,
  type Handler,
} from '../helpers/coordinator.js';

const WALLET = 'w_signing0';
const AUX = 'ab'.repeat(32);

function setup(
  handlers: (dealer: Dealer) => Handler[],
  options: {
    targetSize?: number;
    connected?: number[];
    signTimeoutMs?: number;
    presign?: (w: string, s: readonly number[]) => Promise<never>;
    inventory?: PresignInventory;
  } = {},
) {
  const dealer = new Dealer();
  const hs = handlers(dealer);
  const links = NODE_IDS.map((id, k) => new FakeLink(id, k, hs[k] as Handler));
  const cluster = readyCluster(links, options.connected ?? [0, 1, 2], AUX);
  const presigned: string[] = [];
  const pool = new PresignPool({
    presign:
      options.presign ??
      (async (w, s) => {
        const e = dealer.entry(w, s);
        presigned.push(e.id);
        return e;
      }),
    targetSize: options.targetSize ?? 0,
    ...(options.inventory === undefined ? {} : { inventory: options.inventory }),
    signerSets: () =>
      combinations(
        cluster.signerLinks().map((l) => l.index),
        2,
      ),
  });
  const metrics = new CoordinatorMetrics();
  const blamed: string[] = [];
  const signing = new SigningService({
    cluster,
    pool,
    publicKeyOf: (w) => (w === WALLET ? dealer.publicKeyHex : undefined),
    metrics,
    onBlame: (nodeId, protocol, _reason, code) => blamed.push(`${nodeId}/${protocol}/${code}`),
    ...(options.signTimeoutMs === undefined ? {} : { signTimeoutMs: options.signTimeoutMs }),
  });
  return { dealer, links, cluster, pool, metrics, signing, presigned, blamed };
}

const DIGEST = Uint8Array.from(Buffer.from('4b688df40bcedbe641ddb16ff0a1842d9c67ea1c3bf63f3e0471baa664531d1a', 'hex'));

function signIds(links: FakeLink[]): string[] {
  return links.flatMap((l) =>
    l.requests.flatMap((r) => (r.method === 'sign' ? [`${l.nodeId}:${r.presignatureId}`] : [])),
  );
}

test('a signature that verifies under the wallet key: low-s, recoverable, DER and r‖s‖v consistent', async (t) => {
  const { dealer, signing, links } = setup((d) => NODE_IDS.map(() => signingNode(d)));
  const sig = await signing.sign(WALLET, DIGEST);
  t.deepEqual(sig.signers, ['node_1', 'node_2'], 'first pair in index order when no pool');
  t.regex(sig.r, /^[0-9a-f]{64}$/);
  t.regex(sig.s, /^[0-9a-f]{64}$/);
  t.is(sig.signature, sig.r + sig.s + (sig.v === 1 ? '01' : '00'));
  t.true(BigInt(`0x${sig.s}`) <= secp256k1.Point.CURVE().n / 2n, 'low-s');
  const compact = Buffer.from(sig.r + sig.s, 'hex');
  t.true(secp256k1.verify(compact, DIGEST, dealer.Y.toBytes(true), { prehash: false }));
  const recovered = secp256k1.Signature.fromBytes(compact, 'compact').addRecoveryBit(sig.v).recoverPublicKey(DIGEST);
  t.true(recovered.equals(dealer.Y));
  const der = secp256k1.Signature.fromBytes(Buffer.from(sig.der, 'hex'), 'der');
  t.is(Buffer.from(der.toBytes('compact')).toString('hex'), sig.r + sig.s);
  t.is(signIds(links).length, 2);
  t.is(links[2]?.requests.length, 0);
});

test('the refill a request sets off starts once that request has its answer, not while its partials are computed', async (t) => {
  const made: number[] = [];
  let presignedSoFar: () => number = () => 0;
  const { signing, pool, presigned } = setup(
    (d) =>
      NODE_IDS.map(() => {
        const node = signingNode(d);
        return async (req, link) => {
          await sleep(20); // a signer at work
          made.push(presignedSoFar());
          return node(req, link);
        };
      }),
    { targetSize: 1 },
  );
  presignedSoFar = () => presigned.length;
  pool.track(WALLET);
  const stocked = async (n: number): Promise<void> => {
    for (let k = 0; k < 300 && presigned.length < n; k++) await sleep(10);
  };
  await stocked(3);
  t.is(presigned.length, 3, 'one presignature per pair');
  const sig = await signing.sign(WALLET, DIGEST);
  t.deepEqual(made, [3, 3], 'no presign session started while the signers were computing');
  await stocked(4);
  t.is(presigned.length, 4, 'the pair that signed is refilled afterwards');
  const pair = sig.signers.map((id) => (NODE_IDS as readonly string[]).indexOf(id));
  for (let k = 0; k < 300 && pool.size(WALLET, pair) === 0; k++) await sleep(10);
  t.is(pool.size(WALLET, pair), 1);
  await pool.stop();
});

test('a signature that does not verify under the wallet key is never returned (the independent check)', async (t) => {
  // partials and combining are consistent with the presignature, but its key is not the wallet's
  const { cluster, pool, links } = setup((d) => NODE_IDS.map(() => signingNode(d)));
  const otherKey = Buffer.from(secp256k1.getPublicKey(secp256k1.utils.randomSecretKey(), true)).toString('hex');
  const signing = new SigningService({ cluster, pool, publicKeyOf: () => otherKey });
  await t.throwsAsync(signing.sign(WALLET, DIGEST), {
    instanceOf: SigningFailedError,
    message: /did not verify under the wallet key/,
  });
  t.is(signIds(links).length, 6, 'every pair tried, each with its own presignature');
  t.is(new Set(signIds(links).map((s) => s.split(':')[1])).size, 3);
});

test('a pair with presignatures ready is preferred', async (t) => {
  const { signing, pool, presigned, links } = setup((d) => NODE_IDS.map(() => signingNode(d)), { targetSize: 1 });
  pool.track(WALLET);
  await new Promise((r) => setTimeout(r, 50));
  pool.untrack(WALLET); // no more refills: leave only [1,2] stocked
  t.truthy(await pool.take(WALLET, [0, 1]));
  t.truthy(await pool.take(WALLET, [0, 2]));
  t.is(pool.size(WALLET, [1, 2]), 1);
  const ready = presigned[2]; // made for [1,2], the third background job
  const sig = await signing.sign(WALLET, DIGEST);
  t.deepEqual(sig.signers, ['node_2', 'node_3']);
  t.like(links[1]?.requests[0], { method: 'sign', presignatureId: ready }, 'it used the ready one');
});

test('a node that fails mid-request is dropped and another pair signs, with a fresh presignature', async (t) => {
  const { signing, links, metrics } = setup((d) => [
    signingNode(d),
    signingNode(d, {
      fail: () => {
        throw new ConnectionClosedError('not connected to node node_2');
      },
    }),
    signingNode(d),
  ]);
  const sig = await signing.sign(WALLET, DIGEST);
  t.deepEqual(sig.signers, ['node_1', 'node_3']);
  // attempt 1: node_1 and node_2 with presignature A; attempt 2: node_1 and node_3 with B ≠ A
  const asked = (k: number): string[] =>
    links[k]?.requests.flatMap((r) => (r.method === 'sign' ? [r.presignatureId] : [])) ?? [];
  const [a, b] = asked(0);
  t.is(asked(0).length, 2);
  t.not(a, b);
  t.deepEqual(asked(1), [a]);
  t.deepEqual(asked(2), [b]);
  const metricsText = (await metrics.exposition()).body;
  t.regex(metricsText, /mpc_sign_attempts_total\{signers="0-1",outcome="node-failed"\} 1/);
  t.regex(metricsText, /mpc_signatures_total\{outcome="ok"\} 1/);
});

test('a signer that does not answer in time is dropped like a failed one', async (t) => {
  // The in-process link enforces the request timeout, as the transport does.
  const dealer = new Dealer();
  const links = [
    new FakeLink('node_1', 0, signingNode(dealer)),
    new InProcessNodeLink('node_2', 1, () => never()),
    new FakeLink('node_3', 2, signingNode(dealer)),
  ];
  const cluster = readyCluster(links, [0, 1, 2], AUX);
  const pool = new PresignPool({ presign: async (w, s) => dealer.entry(w, s), targetSize: 0, signerSets: () => [] });
  const signing = new SigningService({ cluster, pool, publicKeyOf: () => dealer.publicKeyHex, signTimeoutMs: 50 });
  const started = Date.now();
  const sig = await signing.sign(WALLET, DIGEST);
  t.deepEqual(sig.signers, ['node_1', 'node_3']);
  t.true(Date.now() - started < 10_000, `${Date.now() - started} ms`);
});

test('a wrong partial is blamed on its signer, counted, reported for suspension, and that signer avoided', async (t) => {
  const { signing, metrics, links, blamed } = setup((d) => [
    signingNode(d),
    signingNode(d, { corrupt: true }),
    signingNode(d),
  ]);
  const sig = await signing.sign(WALLET, DIGEST);
  t.deepEqual(sig.signers, ['node_1', 'node_3']);
  const text = (await metrics.exposition()).body;
  t.regex(text, /mpc_blames_total\{node="node_2",protocol="sign"\} 1/);
  t.regex(text, /mpc_sign_attempts_total\{signers="0-1",outcome="blamed"\} 1/);
  // node_2 is not asked again in this request
  t.is(links[1]?.requests.filter((r) => r.method === 'sign').length, 1);
  t.deepEqual(
    blamed,
    ['node_2/sign/partial-signature-invalid'],
    'a verified offence, reported once (the coordinator suspends the node: quarantine.ts)',
  );
});

test('when every pair fails the request fails, and no presignature was used twice', async (t) => {
  const { signing, links } = setup((d) => [
    signingNode(d, { corrupt: true }),
    signingNode(d, { corrupt: true }),
    signingNode(d, { corrupt: true }),
  ]);
  await t.throwsAsync(signing.sign(WALLET, DIGEST), { instanceOf: SigningFailedError });
  const perNode = links.map((l) =>
    l.requests.filter((r) => r.method === 'sign').map((r) => (r.method === 'sign' ? r.presignatureId : '')),
  );
  for (const ids of perNode) t.is(new Set(ids).size, ids.length);
});

test('presigning on demand that fails avoids the nodes at fault', async (t) => {
  const failing = async (_w: string, s: readonly number[]): Promise<never> => {
    throw new PresignFailedError('presign aborted', s.includes(0) ? ['node_1'] : [], true);
  };
  const { signing } = setup((d) => NODE_IDS.map(() => signingNode(d)), { presign: failing });
  const err = await t.throwsAsync(signing.sign(WALLET, DIGEST), { instanceOf: SigningFailedError });
  t.regex(err?.message ?? '', /node_1\+node_2: presign aborted.*node_2\+node_3: presign aborted/);
});

test('fewer than two connected nodes → NodesUnavailableError; unknown wallet → WalletNotFoundError', async (t) => {
  const { signing } = setup((d) => NODE_IDS.map(() => signingNode(d)), { connected: [2] });
  await t.throwsAsync(signing.sign(WALLET, DIGEST), {
    instanceOf: NodesUnavailableError,
    message: /needs 2 of 3 nodes; 1 connected/,
  });
  await t.throwsAsync(signing.sign('w_unknown0', DIGEST), { instanceOf: WalletNotFoundError });
  await t.throwsAsync(signing.sign(WALLET, new Uint8Array(31)), { instanceOf: RangeError });
});

test('with one node down, existing wallets are signed by the other two', async (t) => {
  const { signing, links } = setup((d) => NODE_IDS.map(() => signingNode(d)), { connected: [0, 2] });
  const sig = await signing.sign(WALLET, DIGEST);
  t.deepEqual(sig.signers, ['node_1', 'node_3']);
  t.is(links[1]?.requests.length, 0);
});

test('a connected node without the group’s aux-info is not chosen to sign', async (t) => {
  const { signing, cluster, links } = setup((d) => NODE_IDS.map(() => signingNode(d)));
  cluster.setInfo(0, { nodeId: 'node_1', index: 0, primesReady: 0, wallets: 0 }); // lost its aux-info
  const sig = await signing.sign(WALLET, DIGEST);
  t.deepEqual(sig.signers, ['node_2', 'node_3']);
  t.is(links[0]?.requests.length, 0);
  cluster.setInfo(1, { nodeId: 'node_2', index: 1, auxId: 'ff'.repeat(32), primesReady: 0, wallets: 0 });
  await t.throwsAsync(signing.sign(WALLET, DIGEST), { instanceOf: NodesUnavailableError, message: /1 have it/ });
});

// F3: presignatures made before an aux-info or key share commit are burnt by the nodes. The pool is
// stocked through the real presign source (orchestratedPresign: entries tagged with the group's aux
// id and the signers' state fingerprint); nodes refuse burnt ids as 'presignature-used'.
test('F3: the first sign request after an aux-info commit succeeds: pool entries of the old aux-info are dropped, nobody is avoided', async (t) => {
  const dealer = new Dealer();
  const burnt = new Set<string>();
  const links = NODE_IDS.map((id, k) => {
    const inner = signingNode(dealer);
    return new FakeLink(id, k, (req, link) =>
      req.method === 'sign' && burnt.has(req.presignatureId)
        ? { ok: false, code: 'presignature-used', error: 'presignature already used' }
        : inner(req, link),
    );
  });
  const cluster = readyCluster(links, [0, 1, 2], AUX);
  let state = '11'.repeat(32);
  const made: string[] = [];
  const runner = new FakeRunner((spec): SessionOutcome => {
    const pub = dealer.presignature(spec.participants.map((l) => l.index));
    made.push(Buffer.from(pub.id).toString('hex'));
    const presignature = Buffer.from(encodePresignaturePublic(pub)).toString('base64');
    return {
      status: 'done',
      result: { protocol: 'presign', walletId: spec.walletId as string, presignature },
      participants: spec.participants.map((l) => l.nodeId),
      state,
      sessionId: 'presign_12345678',
      protocol: 'presign',
      durationMs: 1,
    };
  });
  const pool = new PresignPool({
    presign: orchestratedPresign({ runner, cluster, publicKeyOf: () => dealer.publicKeyHex }),
    targetSize: 1,
    signerSets: () => cluster.usableSignerSets(),
    currentAux: () => cluster.auxId,
  });
  const signing = new SigningService({
    cluster,
    pool,
    publicKeyOf: (w) => (w === WALLET ? dealer.publicKeyHex : undefined),
  });
  pool.track(WALLET);
  const pairs = combinations([0, 1, 2], 2);
  for (let k = 0; k < 300 && pairs.some((p) => pool.size(WALLET, p) === 0); k++) await sleep(10);
  t.true(
    pairs.every((p) => pool.size(WALLET, p) === 1),
    'stocked',
  );
  // an aux-info commit: every node burns its presignatures and reports the new aux id
  for (const id of made) burnt.add(id);
  const NEW_AUX = 'cd'.repeat(32);
  state = '22'.repeat(32);
  for (const k of [0, 1, 2])
    cluster.setInfo(k, { nodeId: NODE_IDS[k] as string, index: k, auxId: NEW_AUX, primesReady: 4, wallets: 1 });
  cluster.setAux(NEW_AUX, 'ready');
  const sig = await signing.sign(WALLET, DIGEST);
  t.true(
    secp256k1.verify(
      Buffer.from(sig.signature, 'hex').subarray(0, 64),
      DIGEST,
      Buffer.from(dealer.publicKeyHex, 'hex'),
      { prehash: false },
    ),
  );
  t.false(
    signIds(links).some((s) => burnt.has(s.split(':')[1] as string)),
    'no burnt presignature was offered to a node',
  );
  await pool.stop();
});

test('F3: a presignature the nodes already burnt (a key share refresh) is a stale entry: dropped with its siblings, retried, nobody avoided', async (t) => {
  const dealer = new Dealer();
  const burnt = new Set<string>();
  const links = NODE_IDS.map((id, k) => {
    const inner = signingNode(dealer);
    return new FakeLink(id, k, (req, link) =>
      req.method === 'sign' && burnt.has(req.presignatureId)
        ? { ok: false, code: 'presignature-used', error: 'presignature already used' }
        : inner(req, link),
    );
  });
  const cluster = readyCluster(links, [0, 1, 2], AUX);
  let state = '11'.repeat(32);
  const made: string[] = [];
  const runner = new FakeRunner((spec): SessionOutcome => {
    const pub = dealer.presignature(spec.participants.map((l) => l.index));
    made.push(Buffer.from(pub.id).toString('hex'));
    const presignature = Buffer.from(encodePresignaturePublic(pub)).toString('base64');
    return {
      status: 'done',
      result: { protocol: 'presign', walletId: spec.walletId as string, presignature },
      participants: spec.participants.map((l) => l.nodeId),
      state,
      sessionId: 'presign_12345678',
      protocol: 'presign',
      durationMs: 1,
    };
  });
  const pool = new PresignPool({
    presign: orchestratedPresign({ runner, cluster, publicKeyOf: () => dealer.publicKeyHex }),
    targetSize: 1,
    signerSets: () => cluster.usableSignerSets(),
    currentAux: () => cluster.auxId,
  });
  const signing = new SigningService({
    cluster,
    pool,
    publicKeyOf: (w) => (w === WALLET ? dealer.publicKeyHex : undefined),
  });
  pool.track(WALLET);
  const pairs = combinations([0, 1, 2], 2);
  for (let k = 0; k < 300 && pairs.some((p) => pool.size(WALLET, p) === 0); k++) await sleep(10);
  for (const id of made) burnt.add(id); // the refresh committed: same aux id, new share epoch
  state = '22'.repeat(32);
  const sig = await signing.sign(WALLET, DIGEST);
  t.deepEqual(sig.signers, ['node_1', 'node_2'], 'the pair that met the stale entry signs with a fresh one');
  const offered = signIds(links).filter((s) => burnt.has(s.split(':')[1] as string));
  t.is(
    new Set(offered.map((s) => s.split(':')[1])).size,
    1,
    'only the first stale entry was offered; its siblings were dropped',
  );
  await pool.stop();
});

/**
 * An inventory whose entries read as coming from the shared database; `forge` changes the first
 * one's public parts (`R`), or makes it a row no node holds (`id`: a made-up or relabelled row).
 */
class SharedRows extends MemoryInventory {
  forged = false;
  constructor(private readonly forge: boolean | 'id') {
    super();
  }
  override async claim(walletId: string, signers: readonly number[]): Promise<StoredEntry | undefined> {
    const e = await super.claim(walletId, signers);
    if (!e) return e;
    if (!this.forge || this.forged) return { ...e, shared: true };
    this.forged = true;
    if (this.forge === 'id') {
      const id = Uint8Array.from(Buffer.from('ee'.repeat(32), 'hex'));
      return { ...e, shared: true, id: Buffer.from(id).toString('hex'), pub: { ...e.pub, id } };
    }
    // a database writer changed R: the honest partials no longer combine nor check against it
    return { ...e, shared: true, pub: { ...e.pub, R: mulG(randomScalar()) } };
  }
}

test('a presignature row changed in the shared database blames nobody; another pair signs', async (t) => {
  const inventory = new SharedRows(true);
  const { signing, blamed, dealer } = setup((d) => NODE_IDS.map(() => signingNode(d)), { inventory });
  for (const pair of [
    [0, 1],
    [0, 2],
    [1, 2],
  ])
    await inventory.add(dealer.entry(WALLET, pair));
  const sig = await signing.sign(WALLET, DIGEST);
  t.true(inventory.forged);
  t.deepEqual(blamed, [], 'the honest signer of the changed row is not blamed');
  t.notDeepEqual(sig.signers, ['node_1', 'node_2'], 'the pair of the changed row was dropped for this request');
  t.true(secp256k1.verify(Buffer.from(sig.r + sig.s, 'hex'), DIGEST, dealer.Y.toBytes(true), { prehash: false }));
});

test('a wrong partial on a presignature from the shared database is still blamed when the signers hold that row', async (t) => {
  const inventory = new SharedRows(false);
  const { signing, blamed, dealer } = setup(
    (d) => [signingNode(d), signingNode(d, { corrupt: true }), signingNode(d)],
    { inventory },
  );
  for (const pair of [
    [0, 1],
    [0, 2],
  ])
    await inventory.add(dealer.entry(WALLET, pair));
  const sig = await signing.sign(WALLET, DIGEST);
  t.deepEqual(sig.signers, ['node_1', 'node_3']);
  t.deepEqual(
    blamed.map((b) => b.split('/')[0]),
    ['node_2'],
  );
});

test('one signer saying its presignature was used drops that entry only: its siblings stay, nobody is blamed', async (t) => {
  const inventory = new MemoryInventory();
  // node_1 claims every presignature was already used (a lie, or a commit it saw first)
  const { signing, blamed, dealer, pool } = setup(
    (d) => [
      () => ({ ok: false, code: 'presignature-used', error: 'presignature already used' }),
      signingNode(d),
      signingNode(d),
    ],
    { inventory },
  );
  const pairs = combinations([0, 1, 2], 2);
  for (const pair of pairs)
    for (let k = 0; k < 2; k++) await inventory.add({ ...dealer.entry(WALLET, pair), state: 'st' });
  const sig = await signing.sign(WALLET, DIGEST);
  t.deepEqual(sig.signers, ['node_2', 'node_3']);
  t.true(secp256k1.verify(Buffer.from(sig.r + sig.s, 'hex'), DIGEST, dealer.Y.toBytes(true), { prehash: false }));
  t.deepEqual(blamed, []);
  t.deepEqual(
    pairs.map((p) => pool.size(WALLET, p)),
    [1, 2, 1],
    'the refused entry and the one that signed are gone; the other four presignatures stay ready',
  );
});

test('a signer naming another presignature than the row its partner confirms is not blamed, but avoided for the request', async (t) => {
  const inventory = new SharedRows(false);
  const { signing, blamed, dealer, links } = setup(
    (d) => {
      // node_1 sends a wrong partial and names some other presignature, so that the row looks changed
      const liar = signingNode(d, { corrupt: true });
      return [
        (req, link) => {
          const answer = liar(req, link) as { ok: boolean };
          return answer.ok ? { ...answer, presignature: '00'.repeat(32) } : answer;
        },
        signingNode(d),
        signingNode(d),
      ];
    },
    { inventory },
  );
  for (const pair of combinations([0, 1, 2], 2)) await inventory.add(dealer.entry(WALLET, pair));
  const sig = await signing.sign(WALLET, DIGEST);
  t.deepEqual(sig.signers, ['node_2', 'node_3']);
  t.deepEqual(blamed, [], 'one signer naming the row proves nothing: it may be the one lying');
  t.is(
    links[0]?.requests.filter((r) => r.method === 'sign').length,
    1,
    'node_1 is not asked again in this request (it spoilt one pair, not each of its pairs)',
  );
});

test('a row no signer holds (made up in the shared database) avoids nobody; the pair signs with another', async (t) => {
  const inventory = new SharedRows('id');
  const { signing, blamed, dealer, links } = setup((d) => NODE_IDS.map(() => signingNode(d)), { inventory });
  for (let k = 0; k < 2; k++) await inventory.add(dealer.entry(WALLET, [0, 1]));
  const sig = await signing.sign(WALLET, DIGEST);
  t.true(inventory.forged);
  t.deepEqual(sig.signers, ['node_1', 'node_2'], 'both signers said the row was not theirs: neither is avoided');
  t.deepEqual(blamed, []);
  t.deepEqual(
    links.slice(0, 2).map((l) => l.requests.filter((r) => r.method === 'sign').length),
    [2, 2],
  );
  t.true(secp256k1.verify(Buffer.from(sig.r + sig.s, 'hex'), DIGEST, dealer.Y.toBytes(true), { prehash: false }));
});
