/**
 * A node never signs an abandonment of a run it confirmed, however long ago: not after a later
 * commit of the same scope replaced that run's evidence, and not after the run's pending state was
 * dropped (on every other party's abandonment, or by an operator). Otherwise a relay or a lying
 * node that asks for one pairs it with the node's relayed confirmation: a "proof" of misbehaviour
 * against an honest node.
 */
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NodeService } from '../../src/node/service.js';
import { decodeJson, encodeJson, RPC_VERSION } from '../../src/rpc/messages.js';
import { allFiles } from '../helpers/storage.js';
import { decodeEnvelope } from '../../src/envelope/envelope.js';
import { KEYGEN_ROUND } from '../../src/protocol/keygen/index.js';
import { deriveSessionId } from '../../src/protocol/session-id.js';
import type { Lifecycle } from '../../src/node/lifecycle.js';
import { startInProcessNodes } from '../helpers/in-process-nodes.js';

const IDS = ['node_1', 'node_2', 'node_3'];
let root = '';
let services: NodeService[] = [];
test.before(async () => {
  root = await mkdtemp(join(tmpdir(), 'mpc-tomb-'));
  services = (await startInProcessNodes(root, { ids: IDS })).services;
});
test.after.always(() => rm(root, { recursive: true, force: true }));

type Json = Record<string, unknown> & { ok: boolean };
const call = async (k: number, req: object): Promise<Json> =>
  decodeJson(await services[k]!.handleBytes(encodeJson({ v: RPC_VERSION, ...req }))) as Json;

/** prepare → start → relay; `drop` selects relayed envelopes to drop; returns the statuses and the run's sid. */
async function run(
  protocol: string,
  extra: { walletId?: string; sessionId?: string; keep?: boolean },
  drop: (from: number, to: number, round: string) => boolean = () => false,
  dropped: (envelope: string) => void = () => undefined,
) {
  const { sessionId = randomBytes(12).toString('hex'), keep = false, ...rest } = extra;
  const all = [0, 1, 2];
  const nonces: string[] = [];
  const states: string[] = [];
  const sessionKeys: unknown[] = [];
  for (const k of all) {
    const r = await call(k, { method: 'prepare', sessionId, protocol, parties: IDS, ...rest });
    if (!r.ok) throw new Error(`prepare: ${String(r.error)}`);
    nonces.push(r.nonce as string);
    states.push(r.state as string);
    sessionKeys.push(r.sessionKey);
  }
  let sid = '';
  const queues = new Map<number, string[]>(all.map((k) => [k, []]));
  const results = new Map<number, Json>();
  const push = (from: number, u: Json) => {
    results.set(from, u);
    if (!u.ok) return;
    for (const o of u.outbox as { to: number | 'all'; envelope: string }[]) {
      const d = decodeEnvelope(Buffer.from(o.envelope, 'base64'));
      sid = Buffer.from(d.sid).toString('hex');
      for (const to of o.to === 'all' ? all.filter((k) => k !== from) : [o.to])
        if (!drop(from, to, d.round)) queues.get(to)?.push(o.envelope);
        else dropped(o.envelope);
    }
  };
  for (const k of all) push(k, await call(k, { method: 'start', sessionId, nonces, states, sessionKeys }));
  for (let guard = 0; guard < 50; guard++) {
    const busy = all.filter((k) => (queues.get(k) as string[]).length > 0);
    if (busy.length === 0) break;
    for (const k of busy) {
      const envelopes = queues.get(k) as string[];
      queues.set(k, []);
      push(k, await call(k, { method: 'deliver', sessionId, envelopes }));
    }
  }
  if (!keep) for (const k of all) await call(k, { method: 'abort', sessionId });
  return { status: all.map((k) => results.get(k)?.status), sid };
}

const walletId = randomBytes(8).toString('hex');

test.serial('setup: a wallet (the aux-info is seeded from the fixture primes)', async (t) => {
  t.deepEqual((await run('keygen', { walletId })).status, ['done', 'done', 'done']);
});

test.serial('a run committed before the last commit of its scope is never abandoned', async (t) => {
  const first = await run('refresh', { walletId });
  t.deepEqual(first.status, ['done', 'done', 'done']);
  t.deepEqual((await run('refresh', { walletId })).status, ['done', 'done', 'done']);
  for (const k of [0, 1, 2]) {
    const r = await call(k, { method: 'abandon', scope: walletId, sid: first.sid });
    t.is(r.code, 'confirmed', `node ${k} confirmed and committed run ${first.sid.slice(0, 8)}`);
  }
});

test.serial('a confirmed run is never abandoned under another scope either', async (t) => {
  const r = await run('refresh', { walletId });
  t.deepEqual(r.status, ['done', 'done', 'done']);
  // a lying node reports the run as pending in a scope of its choosing: the resolver asks the
  // others to abandon it there, and holds their relayed confirmations of that very sid
  for (const scope of [randomBytes(8).toString('hex'), 'aux']) {
    for (const k of [0, 1, 2]) {
      const a = await call(k, { method: 'abandon', scope, sid: r.sid });
      t.is(a.code, 'confirmed', `node ${k} confirmed run ${r.sid.slice(0, 8)} (in another scope)`);
    }
  }
});

test.serial(
  'a run whose pending state was dropped on every other party’s abandonment is never abandoned by the node that confirmed it',
  async (t) => {
    // node 1's last proof reaches nobody: only node 1 confirms
    const r = await run('refresh', { walletId }, (f, to, round) => f === 0 && to !== 0 && round === KEYGEN_ROUND.proof);
    t.is(r.status[0], 'running');
    const a1 = await call(1, { method: 'abandon', scope: walletId, sid: r.sid });
    const a2 = await call(2, { method: 'abandon', scope: walletId, sid: r.sid });
    t.true(a1.ok && a2.ok);
    const d = await call(0, {
      method: 'discard',
      scope: walletId,
      sid: r.sid,
      abandonments: [a1, a2].map((a) => ({ by: a.by, signature: a.signature })),
    });
    t.is(d.discarded, true);
    t.is((await call(0, { method: 'abandon', scope: walletId, sid: r.sid })).code, 'confirmed');
  },
);

/** The contents of every file under node `k`'s store (what a request could have written durably). */
async function durable(k: number): Promise<string[]> {
  const { readFile } = await import('node:fs/promises');
  const files = (await allFiles(join(root, `${IDS[k]}-store`))).sort();
  return Promise.all(files.map(async (f) => `${f}:${(await readFile(f)).toString('base64')}`));
}

/** Prepare (and leave open) a refresh of the wallet on every node; returns its session id. */
async function prepareRefresh(): Promise<string> {
  const sessionId = randomBytes(12).toString('hex');
  for (const k of [0, 1, 2]) {
    const r = await call(k, { method: 'prepare', sessionId, protocol: 'refresh', parties: IDS, walletId });
    if (!r.ok) throw new Error(`prepare: ${String(r.error)}`);
  }
  return sessionId;
}

test.serial('an abandonment of a run this node never saw writes nothing durable', async (t) => {
  const before = await durable(1);
  for (let k = 0; k < 20; k++) {
    const r = await call(1, { method: 'abandon', scope: walletId, sid: randomBytes(32).toString('hex') });
    t.true(r.ok, 'a run unknown here is abandoned (no session here can ever derive its sid)');
  }
  t.deepEqual(await durable(1), before, 'made-up runs cost no disk');
});

test.serial(
  'abandoned runs held while sessions are open are bounded; they are forgotten once those sessions end',
  async (t) => {
    const sessionId = await prepareRefresh(); // an open session: every sid abandoned now could still be its
    let refused: Json | undefined;
    for (let k = 0; k <= 4096 && !refused; k++) {
      const r = await call(1, { method: 'abandon', scope: walletId, sid: randomBytes(32).toString('hex') });
      if (!r.ok) refused = r;
      else t.true(k < 4096);
    }
    t.is(refused?.code, 'busy', 'the 4097th is refused (retryable), not remembered');
    for (const k of [0, 1, 2]) await call(k, { method: 'abort', sessionId });
    t.true(
      (await call(1, { method: 'abandon', scope: walletId, sid: randomBytes(32).toString('hex') })).ok,
      'no session that could derive them is open',
    );
  },
);

/** Hold `scope`'s lock on node `k` until the returned function is called. */
async function holdLock(k: number, scope: string): Promise<() => void> {
  const lifecycle = (services[k] as unknown as { lifecycle: Lifecycle }).lifecycle;
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  let held!: () => void;
  const taken = new Promise<void>((resolve) => (held = resolve));
  void lifecycle.exclusive(scope, async () => {
    held();
    await gate;
  });
  await taken;
  return release;
}

test.serial(
  'a session cancelled by an abandonment while its stage waits for the lock stores nothing, even once the abandonment is forgotten',
  async (t) => {
    // node 1 misses node 0's last proof: nodes 0 and 2 confirm, node 1 is one envelope short
    let withheld: string | undefined;
    const sessionId = randomBytes(12).toString('hex');
    const r = await run(
      'refresh',
      { walletId, sessionId, keep: true },
      (f, to, round) => f === 0 && to === 1 && round === KEYGEN_ROUND.proof,
      (envelope) => (withheld = envelope),
    );
    t.is(r.status[1], 'running');
    t.truthy(withheld);
    // the refresh's stage takes the aux-info's lock first: while it is held, node 1's stage waits
    const release = await holdLock(1, 'aux');
    const delivered = call(1, { method: 'deliver', sessionId, envelopes: [withheld] });
    await new Promise((resolve) => setTimeout(resolve, 50));
    const a = await call(1, { method: 'abandon', scope: walletId, sid: r.sid });
    t.true(a.ok, 'node 1 had not confirmed: it abandons the run and cancels its session');
    // a later abandonment finds no open session that could derive the first sid, and forgets it
    t.true((await call(1, { method: 'abandon', scope: walletId, sid: randomBytes(32).toString('hex') })).ok);
    release();
    await delivered;
    t.is(
      (await call(1, { method: 'confirmation', scope: walletId })).code,
      'no-confirmation',
      'the cancelled session staged nothing: node 1 never holds a confirmation beside its abandonment',
    );
    for (const k of [0, 2]) {
      const p = (await call(k, { method: 'confirmation', scope: walletId })) as Json & { sid?: string };
      if (p.ok && p.sid === r.sid) {
        // clean up: drop node k's pending state of the run on the other parties' abandonments
        const others = [0, 1, 2].filter((j) => j !== k);
        const abandonments: Json[] = [];
        for (const j of others) abandonments.push(await call(j, { method: 'abandon', scope: walletId, sid: r.sid }));
        if (abandonments.every((x) => x.ok))
          await call(k, {
            method: 'discard',
            scope: walletId,
            sid: r.sid,
            abandonments: abandonments.map((x) => ({ by: x.by, signature: x.signature })),
          });
      }
    }
  },
);

test.serial('a start whose prepared session was aborted while it awaited does not revive it', async (t) => {
  // a wallet of its own: the wallet above stays pending on the nodes that confirmed its last refresh
  const walletId = randomBytes(8).toString('hex');
  t.deepEqual((await run('keygen', { walletId })).status, ['done', 'done', 'done']);
  const sessionId = randomBytes(12).toString('hex');
  const nonces: string[] = [];
  const states: string[] = [];
  const sessionKeys: { key: string; signature: string }[] = [];
  for (const k of [0, 1, 2]) {
    const r = await call(k, { method: 'prepare', sessionId, protocol: 'refresh', parties: IDS, walletId });
    t.true(r.ok, String(r.error));
    nonces.push(r.nonce as string);
    states.push(r.state as string);
    sessionKeys.push(r.sessionKey as { key: string; signature: string });
  }
  const sid = Buffer.from(
    deriveSessionId({
      protocol: 'refresh',
      sessionId,
      parties: IDS,
      walletId,
      participants: [0, 1, 2],
      nonces,
      state: states[0] as string,
      sessionKeys: sessionKeys.map((k) => k.key),
    }),
  ).toString('hex');
  const started = call(1, { method: 'start', sessionId, nonces, states, sessionKeys });
  // while node 1's start awaits: its run is abandoned, its session aborted, and the abandonment forgotten
  t.true((await call(1, { method: 'abandon', scope: walletId, sid })).ok);
  await call(1, { method: 'abort', sessionId });
  t.true((await call(1, { method: 'abandon', scope: walletId, sid: randomBytes(32).toString('hex') })).ok);
  const s = await started;
  t.is(s.code, 'aborted', 'the aborted session is not started');
  for (const k of [0, 1, 2]) await call(k, { method: 'abort', sessionId });
});
