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
import { startInProcessNodes } from '../helpers/in-process-nodes.js';

const IDS = ['node_1', 'node_2', 'node_3'];
let root = '';
let services: NodeService[] = [];
test.before(async () => {
  root = await mkdtemp(join(tmpdir(), 'mpc-tomb-'));
  services = (await startInProcessNodes(root, { ids: IDS, aux: false })).services;
});
test.after.always(() => rm(root, { recursive: true, force: true }));

type Json = Record<string, unknown> & { ok: boolean };
const call = async (k: number, req: object): Promise<Json> =>
  decodeJson(await services[k]!.handleBytes(encodeJson({ v: RPC_VERSION, ...req }))) as Json;

/** prepare → start → relay; `drop` selects relayed envelopes to drop; returns the statuses and the run's sid. */
async function run(
  protocol: string,
  extra: object,
  drop: (from: number, to: number, round: string) => boolean = () => false,
) {
  const sessionId = randomBytes(12).toString('hex');
  const all = [0, 1, 2];
  const nonces: string[] = [];
  const states: string[] = [];
  const sessionKeys: unknown[] = [];
  for (const k of all) {
    const r = await call(k, { method: 'prepare', sessionId, protocol, parties: IDS, ...extra });
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
  for (const k of all) await call(k, { method: 'abort', sessionId });
  return { status: all.map((k) => results.get(k)?.status), sid };
}

const walletId = randomBytes(8).toString('hex');

test.serial('setup: aux-info and a wallet', async (t) => {
  t.deepEqual((await run('aux', {})).status, ['done', 'done', 'done']);
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
