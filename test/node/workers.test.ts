/**
 * A node's protocol workers (src/node/workers.ts) with real worker threads: two nodes run two
 * protocol workers each (NODE_WORKERS=2) and sign on the test's thread, as a node's main thread
 * does; the third node, a refresh peer only, runs in the test's thread. The stores are seeded with
 * a wallet's key shares and the fixture aux-info (the aux protocol and keygen have their own tests).
 *
 * Proven here: two presign sessions run at once on two workers (each worker waits at its `start`
 * until the other arrives: a deterministic rendezvous, not a timing); every request of a session
 * reaches the worker that prepared it; a refresh committed in one worker while the other worker
 * presigns for the same wallet leaves no presignature of the old epoch that can sign; a worker
 * storing a presignature waits for the scope lock the main thread holds.
 */
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { openLocalKms } from '../../src/kms/local.js';
import { AUX_RECORD, encodeEpoch, pack, unpackVersioned } from '../../src/node/records.js';
import { openNodeRuntime, type NodeRuntime } from '../../src/node/runtime.js';
import { KeyedLock } from '../../src/node/storage/lock.js';
import { RecordStore } from '../../src/node/storage/store.js';
import { ProtocolWorkers } from '../../src/node/workers.js';
import {
  decodePresignaturePublic,
  encodeAuxPublic,
  encodeAuxSecret,
  encodePublicKeyShare,
  encodeSecretKeyShare,
} from '../../src/protocol/storage-format.js';
import { combineSignature, toCompact } from '../../src/protocol/sign/index.js';
import { pointToBytes } from '../../src/curve/secp256k1.js';
import { decodeJson, encodeJson, RPC_VERSION } from '../../src/rpc/messages.js';
import { decodeEnvelope } from '../../src/envelope/envelope.js';
import { generateDevCertificates } from '../../src/transport/certs.js';
import { DEFAULT_COORDINATOR_ID } from '../../src/transport/identity.js';
import { auxFixture, keygenShares } from '../helpers/cluster.js';
import type { FailingStart } from '../helpers/failing-worker.js';
import type { Rendezvous } from '../helpers/rendezvous-worker.js';
import { FIXTURE_PRIMES } from '../helpers/in-process-nodes.js';

const IDS = ['node_1', 'node_2', 'node_3'];
const WALLET = 'wallet-workers';
/** a second wallet (the same key): a run of it is left pending by the abandonment test */
const WALLET_B = 'wallet-workers-b';
type Json = Record<string, unknown> & { ok: boolean };
type Call = (req: object) => Promise<Json>;

/** A lock that reports which keys were asked for (a worker asks the main thread for each). */
class WatchedLock extends KeyedLock {
  readonly asked: string[] = [];
  override run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    this.asked.push(key);
    return super.run(key, fn);
  }
}

interface WorkerNode {
  readonly workers: ProtocolWorkers;
  readonly main: NodeRuntime;
  readonly lock: WatchedLock;
  readonly routed: { sessionId: string; method: string; worker: number }[];
  readonly rendezvous: Int32Array;
}

let root = '';
let publicKey = '';
const stores: RecordStore[] = [];
const nodes: WorkerNode[] = [];
let peer: NodeRuntime | undefined;
const calls: Call[] = [];
/** the audit events the workers of nodes 0 and 1 recorded (their types), and what holds them back */
const audited: string[] = [];
let auditGate: Promise<void> = Promise.resolve();

const decode = (b: Uint8Array) => decodeJson(b) as Json;
const encode = (req: object) => encodeJson({ v: RPC_VERSION, ...req });

test.before(async () => {
  root = await mkdtemp(join(tmpdir(), 'mpc-workers-'));
  await mkdir(join(root, 'env'));
  await writeFile(
    join(root, 'env', '.env.test'),
    [
      'COORDINATOR_PLATFORM=LOCAL',
      'COORDINATOR_LOCAL_KMS_PATH=kms',
      `NODE_IDS=${IDS.join(',')}`,
      'NODE_HOSTS=127.0.0.1:1,127.0.0.1:2,127.0.0.1:3',
      'NODE_PLATFORMS=LOCAL,LOCAL,LOCAL',
      'MPC_THRESHOLD=2',
      'MPC_TOTAL_SHARDS=3',
      'DATA_DIR=data',
      'LOG_LEVEL=silent',
      'NODE_WORKERS=2',
    ].join('\n'),
  );
  await generateDevCertificates({ dir: join(root, 'certs'), caDir: join(root, 'certs-ca'), nodeIds: IDS });
  const aux = auxFixture(3);
  const shares = keygenShares(3, 2);
  publicKey = Buffer.from(pointToBytes(shares[0]!.public.Y)).toString('hex');
  for (const [k, id] of IDS.entries()) {
    const kms = await openLocalKms({ root: join(root, 'kms'), nodeId: id });
    const store = await RecordStore.open({ dir: join(root, 'data', id, 'records'), nodeId: id, kms });
    stores.push(store);
    // the aux-info as first stored (epoch 1); the share at epoch 0, made under it
    await store.put('aux', AUX_RECORD, pack(encodeAuxPublic(aux[k]!), encodeAuxSecret(aux[k]!)));
    for (const w of [WALLET, WALLET_B])
      await store.put(
        'keyshare',
        w,
        pack(
          encodePublicKeyShare(shares[k]!.public),
          encodeSecretKeyShare(shares[k]!.secret),
          encodeEpoch(0),
          encodeEpoch(1),
        ),
      );
  }
  const options = (id: string) => ({ env: 'test', id, rootDir: root, devPrimes: FIXTURE_PRIMES });
  for (const id of IDS.slice(0, 2)) {
    const lock = new WatchedLock();
    const routed: WorkerNode['routed'] = [];
    const buffer = new SharedArrayBuffer(8);
    const main = await openNodeRuntime(options(id), { scopeLock: lock });
    const workers = await ProtocolWorkers.start({
      count: main.config.nodeWorkers,
      runtime: options(id),
      lock,
      auxGeneration: new SharedArrayBuffer(4),
      // as the node's audit log: settles once the event is stored (`auditGate` holds it back)
      audit: (event) => {
        audited.push(event.type);
        return auditGate;
      },
      log: main.log,
      // only the node's first two starts must meet: the later ones pass at once
      testEntry: {
        url: new URL('../helpers/rendezvous-worker.js', import.meta.url),
        data: { buffer, parties: 2, timeoutMs: 8_000 } satisfies Rendezvous,
      },
      onRouted: (sessionId, method, worker) => routed.push({ sessionId, method, worker }),
    });
    nodes.push({ workers, main, lock, routed, rendezvous: new Int32Array(buffer) });
    calls.push(async (req) => {
      const body = encode(req);
      const method = (req as { method: string }).method;
      return decode(
        await (method === 'sign' ? main.service.handleBytes(body) : workers.handle(body, DEFAULT_COORDINATOR_ID)),
      );
    });
  }
  // one protocol worker, as a node with NODE_WORKERS=1 reports it
  peer = await openNodeRuntime(options('node_3'), { workers: 1 });
  const third = peer;
  calls.push(async (req) => decode(await third.service.handleBytes(encode(req))));
});

test.after.always(async () => {
  await Promise.all(nodes.map((n) => n.workers.stop()));
  await Promise.all([...nodes.map((n) => n.main.close()), peer?.close()]);
  await rm(root, { recursive: true, force: true });
});

/** One session driven by a minimal relay: `begin` (prepare, start), then `finish` (relay until the end). */
class Relay {
  readonly sessionId = randomBytes(12).toString('hex');
  readonly results = new Map<number, Json>();
  /** the run's sid (hex), as its envelopes carry it */
  sid = '';
  private readonly queues = new Map<number, string[]>();

  constructor(
    private readonly protocol: string,
    private readonly participants: number[],
    private readonly extra: object,
  ) {
    for (const k of participants) this.queues.set(k, []);
  }

  async begin(): Promise<void> {
    const nonces: string[] = [];
    const states: string[] = [];
    const sessionKeys: unknown[] = [];
    for (const k of this.participants) {
      const r = await calls[k]!({
        method: 'prepare',
        sessionId: this.sessionId,
        protocol: this.protocol,
        parties: IDS,
        ...this.extra,
      });
      if (!r.ok) throw new Error(`prepare at ${k}: ${JSON.stringify(r)}`);
      nonces.push(r.nonce as string);
      states.push(r.state as string);
      sessionKeys.push(r.sessionKey);
    }
    // every participant's start at once, as the coordinator sends them
    const started = await Promise.all(
      this.participants.map((k) =>
        calls[k]!({ method: 'start', sessionId: this.sessionId, nonces, states, sessionKeys }),
      ),
    );
    started.forEach((u, j) => this.push(this.participants[j]!, u));
  }

  async finish(): Promise<Map<number, Json>> {
    for (let guard = 0; guard < 50; guard++) {
      if ([...this.results.values()].some((r) => !r.ok || r.status === 'aborted')) break;
      const busy = this.participants.filter((k) => this.queues.get(k)!.length > 0);
      if (busy.length === 0) break;
      const answers = await Promise.all(
        busy.map((k) => {
          const envelopes = this.queues.get(k)!;
          this.queues.set(k, []);
          return calls[k]!({ method: 'deliver', sessionId: this.sessionId, envelopes });
        }),
      );
      answers.forEach((u, j) => this.push(busy[j]!, u));
    }
    return this.results;
  }

  async run(): Promise<Map<number, Json>> {
    await this.begin();
    return this.finish();
  }

  private push(from: number, update: Json): void {
    this.results.set(from, update);
    if (!update.ok) return;
    for (const o of update.outbox as { to: number | 'all'; envelope: string }[]) {
      this.sid = Buffer.from(decodeEnvelope(Buffer.from(o.envelope, 'base64')).sid).toString('hex');
      for (const to of o.to === 'all' ? this.participants.filter((k) => k !== from) : [o.to])
        this.queues.get(to)?.push(o.envelope);
    }
  }
}

const presign = () => new Relay('presign', [0, 1], { walletId: WALLET, signers: [0, 1] });

/** Unused presignatures of the wallet held by node k, with the key-share epoch each was made under. */
async function livePresignatures(k: number): Promise<{ id: string; shareEpoch: number }[]> {
  const store = stores[k]!;
  const out: { id: string; shareEpoch: number }[] = [];
  for (const id of await store.list('presig')) {
    if (await store.has('presig-used', id)) continue;
    const rec = await store.get('presig', id);
    if (!rec) continue;
    const [w, , secret, epochs] = unpackVersioned(rec, 4, 'presignature');
    secret!.fill(0);
    if (new TextDecoder().decode(w) === WALLET) out.push({ id, shareEpoch: Buffer.from(epochs!).readUInt32BE(0) });
  }
  return out;
}

/** Sign `digest` with one presignature on both signers; the signature checked with noble. */
async function signWith(presignature: string, digest: Uint8Array): Promise<{ ok: boolean; codes: unknown[] }> {
  const pub = decodePresignaturePublic(Buffer.from(presignature, 'base64'));
  const presignatureId = Buffer.from(pub.id).toString('hex');
  const partials = await Promise.all(
    [0, 1].map((k) =>
      calls[k]!({ method: 'sign', walletId: WALLET, presignatureId, digest: Buffer.from(digest).toString('hex') }),
    ),
  );
  if (!partials.every((p) => p.ok)) return { ok: false, codes: partials.map((p) => p.code) };
  const sig = combineSignature(
    pub,
    digest,
    partials.map((p) => ({
      presignatureId: pub.id,
      signer: p.signer as number,
      sigma: BigInt('0x' + (p.sigma as string)),
    })),
  );
  return {
    ok: secp256k1.verify(toCompact(sig), digest, Buffer.from(publicKey, 'hex'), { prehash: false }),
    codes: [],
  };
}

test.serial(
  'two presign sessions run at the same time, each on its own worker; a presignature made there signs',
  async (t) => {
    const [a, b] = [presign(), presign()];
    const [ra, rb] = await Promise.all([a.run(), b.run()]);
    for (const r of [ra, rb]) for (const k of [0, 1]) t.is(r.get(k)?.status, 'done', JSON.stringify(r.get(k)));
    for (const [k, node] of nodes.entries()) {
      // each worker was inside its `start` until the other arrived: the two ran at the same time
      t.true(Atomics.load(node.rendezvous, 0) >= 2, `node ${k}: both starts met`);
      t.is(Atomics.load(node.rendezvous, 1), 0, `node ${k}: no start waited in vain`);
      t.is(new Set(node.workers.threadIds).size, 2);
      const workerOf = (sessionId: string) =>
        new Set(node.routed.filter((r) => r.sessionId === sessionId).map((r) => r.worker));
      t.deepEqual([...workerOf(a.sessionId)].length, 1, 'every request of a session reached one worker');
      t.deepEqual([...workerOf(b.sessionId)].length, 1);
      t.not([...workerOf(a.sessionId)][0], [...workerOf(b.sessionId)][0], 'the two sessions on two workers');
      t.true(node.routed.filter((r) => r.sessionId === a.sessionId).length >= 3, 'prepare, start and delivers');
    }
    // the node tells the coordinator how many sessions it runs at once
    t.is((await calls[0]!({ method: 'info' })).workers, 2);
    // one is left out (its absence means one), so coordinators older than the field accept it
    const single = await calls[2]!({ method: 'info' });
    t.true(single.ok);
    t.false('workers' in single, JSON.stringify(single));
    // one of them signs on the main thread (the other is left unused: the next test's commit burns it)
    const p = (rb.get(0)?.result as { presignature: string }).presignature;
    t.true((await signWith(p, randomBytes(32))).ok, 'a presignature made on a worker signs on the main thread');
  },
);

test.serial(
  'a refresh committed in one worker while the other presigns for the same wallet: no presignature of the old epoch can sign',
  async (t) => {
    const old = presign();
    await old.begin(); // both signers now hold the session in a worker, made with the epoch-0 share
    const owner = nodes.map((n) => n.workers.workerOf(old.sessionId));
    const refresh = new Relay('refresh', [0, 1, 2], { walletId: WALLET });
    const refreshed = await refresh.run();
    for (const k of [0, 1, 2]) t.is(refreshed.get(k)?.status, 'done', JSON.stringify(refreshed.get(k)));
    for (const [k, node] of nodes.entries()) {
      const w = new Set(node.routed.filter((r) => r.sessionId === refresh.sessionId).map((r) => r.worker));
      t.deepEqual([...w].length, 1);
      t.not([...w][0], owner[k], `node ${k}: the refresh ran in the other worker than the presign`);
    }
    const ended = await old.finish();
    for (const k of [0, 1]) {
      const u = ended.get(k) as Json & { abort?: { code: string } };
      t.is(u.status, 'aborted', `node ${k}: a presignature of the replaced share is not reported`);
      // refused at the store step, under the lock, on the epoch check (not some unrelated failure)
      t.is(u.abort?.code, 'storage-failed', JSON.stringify(u));
    }
    // nothing stored of the old epoch that could sign (the one presignature the first test left
    // unused was burnt at the commit)
    for (const k of [0, 1]) t.deepEqual(await livePresignatures(k), []);
    for (const k of [0, 1]) {
      const described = await calls[k]!({ method: 'wallet', walletId: WALLET });
      t.is((described.committed as { epoch: number }).epoch, 1, `node ${k}: the refresh is committed`);
    }
  },
);

test.serial(
  "a worker storing a presignature waits for the main thread's scope lock (a commit elsewhere holds it)",
  async (t) => {
    const node = nodes[0]!;
    const run = presign();
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let holding!: () => void;
    const taken = new Promise<void>((r) => (holding = r));
    // the main thread holds the aux-info scope, as an aux-info commit does, while the presign runs
    const holder = node.lock.run('aux', async () => {
      holding();
      await held;
    });
    await taken;
    const asked = node.lock.asked.length;
    const finished = run.run();
    // the worker reaches the store step and asks for the lock: it is not granted while held
    while (!node.lock.asked.slice(asked).includes('aux')) await new Promise((r) => setTimeout(r, 20));
    const raced = await Promise.race([
      finished.then(() => 'finished'),
      new Promise((r) => setTimeout(() => r('waiting'), 300)),
    ]);
    t.is(raced, 'waiting', 'node 0 does not finish its presign while the main thread holds the lock');
    // a worker waiting for (or holding) a shared lock starts no other request meanwhile: an abort
    // goes to every worker, so its answer waits for the one queued behind the lock
    const aborted = calls[0]!({ method: 'abort', sessionId: randomBytes(12).toString('hex') });
    t.is(
      await Promise.race([aborted.then(() => 'answered'), new Promise((r) => setTimeout(() => r('queued'), 300))]),
      'queued',
      'the worker waiting for the lock took up no other request',
    );
    // as a commit would under that lock: the share moves to a new epoch
    const rec = (await stores[0]!.get('keyshare', WALLET)) as Uint8Array;
    const [pub, secret, epoch] = unpackVersioned(rec, 4, 'key share', 2);
    const next = Buffer.from(epoch!).readUInt32BE(0) + 1;
    await stores[0]!.put('keyshare', WALLET, pack(pub!, secret!, encodeEpoch(next), encodeEpoch(1)));
    release();
    await holder;
    t.true((await aborted).ok, 'the queued request is taken up once the lock is released');
    const ended = await finished;
    t.is((ended.get(0) as Json & { abort?: { code: string } }).abort?.code, 'storage-failed');
    t.deepEqual(
      (await livePresignatures(0)).filter((p) => p.shareEpoch < next),
      [],
    );
  },
);

test.serial(
  'a new presign on an idle node goes to its highest worker (worker 0 also carries aux-info and info)',
  async (t) => {
    const run = presign();
    const r = await calls[0]!({
      method: 'prepare',
      sessionId: run.sessionId,
      protocol: 'presign',
      parties: IDS,
      walletId: WALLET,
      signers: [0, 1],
    });
    t.true(r.ok, JSON.stringify(r));
    t.is(nodes[0]!.workers.workerOf(run.sessionId), 1);
    t.true((await calls[0]!({ method: 'abort', sessionId: run.sessionId })).ok);
  },
);

test.serial(
  "a worker's answer waits until the audit events it recorded for it are durable (docs/architecture.md, durability rule 6)",
  async (t) => {
    let store!: () => void;
    auditGate = new Promise((r) => (store = r));
    try {
      const before = audited.length;
      // refused (a committed key share is a finished key), and audited as `wallet.archive-refused`
      let answered = false;
      const answer = calls[0]!({ method: 'archive', walletId: WALLET, reason: 'unregistered' }).then((a) => {
        answered = true;
        return a;
      });
      while (!audited.slice(before).includes('wallet.archive-refused')) await new Promise((r) => setTimeout(r, 10));
      // the answer was posted right after the event, by the same port: given time to arrive
      await new Promise((r) => setTimeout(r, 200));
      t.false(answered, 'the answer waits while its audit event is not stored');
      store();
      t.is((await answer).code, 'archive-refused');
    } finally {
      auditGate = Promise.resolve();
      store();
    }
  },
);

test.serial(
  "a node's only worker takes up requests while it waits for a lock, as a node did before workers (no other worker waits for it)",
  async (t) => {
    const lock = new WatchedLock();
    const single = await ProtocolWorkers.start({
      count: 1,
      runtime: { env: 'test', id: 'node_1', rootDir: root, devPrimes: FIXTURE_PRIMES },
      lock,
      auxGeneration: new SharedArrayBuffer(4),
      audit: () => Promise.resolve(),
      log: nodes[0]!.main.log,
    });
    try {
      const call = async (req: object) => decode(await single.handle(encode(req), DEFAULT_COORDINATOR_ID));
      const sessionId = randomBytes(12).toString('hex');
      const prepared = await call({
        method: 'prepare',
        sessionId,
        protocol: 'refresh',
        parties: IDS,
        walletId: WALLET,
      });
      t.true(prepared.ok, JSON.stringify(prepared));
      let release!: () => void;
      const held = new Promise<void>((r) => (release = r));
      let holding!: () => void;
      const taken = new Promise<void>((r) => (holding = r));
      const holder = lock.run(WALLET, async () => {
        holding();
        await held;
      });
      await taken;
      const asked = lock.asked.length;
      // the abort of a wallet's run is answered once no stage of it can be written: it waits for the lock
      const aborted = call({ method: 'abort', sessionId });
      while (!lock.asked.slice(asked).includes(WALLET)) await new Promise((r) => setTimeout(r, 20));
      const info = call({ method: 'info' });
      t.is(
        await Promise.race([info.then(() => 'answered'), new Promise((r) => setTimeout(() => r('queued'), 5_000))]),
        'answered',
        'info is not held behind the lock the worker waits for',
      );
      t.true((await info).ok);
      release();
      await holder;
      t.true((await aborted).ok);
    } finally {
      await single.stop();
    }
  },
);

test.serial('the safe primes are in one thread of a node: a runtime that runs no aux-info holds none', async (t) => {
  // the fixture primes (devPrimes) would report 4 ready to any runtime opened with them
  t.is((await calls[0]!({ method: 'info' })).primesReady, 4, 'worker 0 holds them');
  const other = await openNodeRuntime(
    { env: 'test', id: 'node_1', rootDir: root, devPrimes: FIXTURE_PRIMES },
    { runsAux: false },
  );
  try {
    const info = decode(await other.service.handleBytes(encode({ method: 'info' })));
    t.is(info.primesReady, 0);
  } finally {
    await other.close();
  }
});

test.serial(
  'a worker failing at start fails the start with its own error; the workers already ready are ended, not the process',
  async (t) => {
    const buffer = new SharedArrayBuffer(4);
    const options = { env: 'test', id: 'node_1', rootDir: root, devPrimes: FIXTURE_PRIMES };
    // before the fix, the exit of the ready worker 0 ended this process here (process.exit(1))
    await t.throwsAsync(
      ProtocolWorkers.start({
        count: 2,
        runtime: options,
        lock: new KeyedLock(),
        auxGeneration: new SharedArrayBuffer(4),
        audit: () => Promise.resolve(),
        log: nodes[0]!.main.log,
        testEntry: {
          url: new URL('../helpers/failing-worker.js', import.meta.url),
          data: { buffer, fails: 1, afterMs: 300 } satisfies FailingStart,
        },
      }),
      // `any`: a worker's error reaches this thread as a copy, not an instance of this realm's Error
      { any: true, message: 'worker 1 failed at start (test)' },
    );
    t.is(Atomics.load(new Int32Array(buffer), 0), 1, 'worker 0 was ready before worker 1 failed');
  },
);

// Last: it leaves a run of WALLET_B pending at nodes 1 and 2.
test.serial(
  "an abandonment naming another wallet's scope reaches the worker running the run: its stage is refused",
  async (t) => {
    const run = new Relay('refresh', [0, 1, 2], { walletId: WALLET_B });
    await run.begin();
    // the precondition of the attack: the run is not on worker 0, where a request naming a wallet
    // with no open run (WALLET_B's abandonment under another scope) would be routed alone
    t.is(nodes[0]!.workers.workerOf(run.sessionId), 1);
    t.regex(run.sid, /^[0-9a-f]{64}$/);
    // the abandonment names another scope; the sid is the run's (docs/security.md: the node's
    // abandoned-run list is checked by sid whatever the scope)
    const a = await calls[0]!({ method: 'abandon', scope: 'wallet-unrelated', sid: run.sid });
    t.true(a.ok, JSON.stringify(a));
    const ended = await run.finish();
    const u = ended.get(0) as Json & { abort?: { code: string } };
    // node 0 signed an abandonment of this run: it must never confirm it too
    t.not(u.status, 'done', `node 0 went on to confirm the run it abandoned: ${JSON.stringify(u)}`);
    const c = await calls[0]!({ method: 'confirmation', scope: WALLET_B });
    t.is(c.code, 'no-confirmation', 'node 0 holds no confirmation of the run');
  },
);

// Last: it stops node 1's workers.
test.serial('stop() answers the requests still waiting for a worker unavailable', async (t) => {
  const node = nodes[1]!;
  // sent to every worker, then stopped before any of them answers
  const pending = calls[1]!({ method: 'abort', sessionId: randomBytes(12).toString('hex') });
  const stopped = node.workers.stop();
  const answer = await Promise.race([pending, new Promise<'hung'>((r) => setTimeout(() => r('hung'), 3_000))]);
  t.not(answer, 'hung', 'a request waiting for a stopped worker is answered');
  t.is((answer as Json).code, 'unavailable');
  await stopped;
  // and a request after stop() is answered at once
  t.is((await calls[1]!({ method: 'info' })).code, 'unavailable');
});
