/**
 * A wallet's run that a coordinator left open gives way to a new prepare of its wallet once it has
 * been idle for supersedeIdleMs, and only if no node's successor of it is pending here
 * (src/node/service.ts, `supersede`): a run that staged nothing here confirmed nothing here, so it
 * can be cancelled; one that staged is left to the resolver, and a new run is refused until then.
 */
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NodeService } from '../../src/node/service.js';
import { decodeEnvelope } from '../../src/envelope/envelope.js';
import { KEYGEN_ROUND } from '../../src/protocol/keygen/index.js';
import { decodeJson, encodeJson, RPC_VERSION } from '../../src/rpc/messages.js';
import { startInProcessNodes } from '../helpers/in-process-nodes.js';

const IDS = ['node_1', 'node_2', 'node_3'];
const ALL = [0, 1, 2];
const IDLE_MS = 300;
let root = '';
let services: NodeService[] = [];
test.before(async () => {
  root = await mkdtemp(join(tmpdir(), 'mpc-supersede-'));
  services = (await startInProcessNodes(root, { ids: IDS, supersedeIdleMs: IDLE_MS })).services;
});
test.after.always(() => rm(root, { recursive: true, force: true }));

type Json = Record<string, unknown> & { ok: boolean };
const call = async (k: number, req: object): Promise<Json> =>
  decodeJson(await services[k]!.handleBytes(encodeJson({ v: RPC_VERSION, ...req }))) as Json;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** prepare + start on every node, then relay until quiet (`drop` filters relayed envelopes). */
async function open(
  protocol: string,
  walletId: string,
  drop: (from: number, to: number, round: string) => boolean = () => false,
  relay = true,
): Promise<{ sessionId: string; sid: string; status: unknown[] }> {
  const sessionId = randomBytes(12).toString('hex');
  const nonces: string[] = [];
  const states: string[] = [];
  const sessionKeys: unknown[] = [];
  for (const k of ALL) {
    const r = await call(k, { method: 'prepare', sessionId, protocol, parties: IDS, walletId });
    if (!r.ok) throw new Error(`prepare at ${k}: ${String(r.code)}`);
    nonces.push(r.nonce as string);
    states.push(r.state as string);
    sessionKeys.push(r.sessionKey);
  }
  let sid = '';
  const queues = new Map<number, string[]>(ALL.map((k) => [k, []]));
  const status = new Map<number, unknown>();
  const push = (from: number, u: Json) => {
    status.set(from, u.ok ? u.status : u.code);
    if (!u.ok) return;
    for (const o of u.outbox as { to: number | 'all'; envelope: string }[]) {
      const d = decodeEnvelope(Buffer.from(o.envelope, 'base64'));
      sid = Buffer.from(d.sid).toString('hex');
      for (const to of o.to === 'all' ? ALL.filter((k) => k !== from) : [o.to])
        if (!drop(from, to, d.round)) queues.get(to)?.push(o.envelope);
    }
  };
  for (const k of ALL) push(k, await call(k, { method: 'start', sessionId, nonces, states, sessionKeys }));
  for (let guard = 0; relay && guard < 50; guard++) {
    const busy = ALL.filter((k) => (queues.get(k) as string[]).length > 0);
    if (busy.length === 0) break;
    for (const k of busy) {
      const envelopes = queues.get(k) as string[];
      queues.set(k, []);
      push(k, await call(k, { method: 'deliver', sessionId, envelopes }));
    }
  }
  return { sessionId, sid, status: ALL.map((k) => status.get(k)) };
}

const prepare = (k: number, walletId: string, sessionId = randomBytes(12).toString('hex')) =>
  call(k, { method: 'prepare', sessionId, protocol: 'refresh', parties: IDS, walletId });

test.serial('an idle run that staged nothing gives way after supersedeIdleMs, not before', async (t) => {
  const walletId = randomBytes(8).toString('hex');
  t.deepEqual((await open('keygen', walletId)).status, ['done', 'done', 'done']);
  // a refresh started and left open: the coordinator "died" before relaying anything
  const a = await open('refresh', walletId, () => false, false);
  t.deepEqual(a.status, ['running', 'running', 'running']);
  for (const k of ALL) t.is((await prepare(k, walletId)).code, 'busy', `node ${k}: the run is not idle yet`);
  await sleep(IDLE_MS + 50);
  const b = randomBytes(12).toString('hex');
  for (const k of ALL) t.true((await prepare(k, walletId, b)).ok, `node ${k}: the idle run gave way`);
  for (const k of ALL) {
    t.is((await call(k, { method: 'deliver', sessionId: a.sessionId, envelopes: [] })).code, 'unknown-session');
    t.is((await prepare(k, walletId, a.sessionId)).code, 'aborted', 'its session id is never taken again');
    await call(k, { method: 'abort', sessionId: b });
  }
  // the wallet still refreshes, nothing is pending
  t.deepEqual((await open('refresh', walletId)).status, ['done', 'done', 'done']);
  for (const k of ALL) t.is((await call(k, { method: 'wallet', walletId })).pending, undefined);
});

test.serial(
  'a run one node staged is never superseded there; nobody commits it, and it is dropped only on abandonments',
  async (t) => {
    const walletId = randomBytes(8).toString('hex');
    t.deepEqual((await open('keygen', walletId)).status, ['done', 'done', 'done']);
    const before = await Promise.all(ALL.map((k) => call(k, { method: 'wallet', walletId })));
    // node_1's last proof reaches nobody: only node_1 stages (and confirms); the others wait for it
    const a = await open('refresh', walletId, (f, to, round) => f === 0 && to !== 0 && round === KEYGEN_ROUND.proof);
    t.deepEqual(a.status, ['running', 'running', 'running']);
    t.is(((await call(0, { method: 'wallet', walletId })).pending as { sid: string } | undefined)?.sid, a.sid);
    await sleep(IDLE_MS + 50);
    t.is((await prepare(0, walletId)).code, 'pending-unresolved', 'node_1 holds the run’s successor');
    // nodes 2 and 3 staged nothing: their idle sessions give way (the new run is then aborted)
    for (const k of [1, 2]) {
      const b = randomBytes(12).toString('hex');
      t.true((await prepare(k, walletId, b)).ok);
      await call(k, { method: 'abort', sessionId: b });
    }
    // it can never gather nodes 2 and 3's confirmations: every node keeps its committed epoch
    for (const k of ALL) {
      const now = (await call(k, { method: 'wallet', walletId })).committed as { epoch: number } | undefined;
      t.is(now?.epoch, (before[k]?.committed as { epoch: number } | undefined)?.epoch);
      t.is(typeof now?.epoch, 'number');
    }
    const abandonments = [];
    for (const k of [1, 2]) {
      const r = await call(k, { method: 'abandon', scope: walletId, sid: a.sid });
      t.true(r.ok, `node ${k} never confirmed the run`);
      abandonments.push({ by: r.by, signature: r.signature });
    }
    t.is((await call(0, { method: 'abandon', scope: walletId, sid: a.sid })).code, 'confirmed');
    t.is((await call(0, { method: 'discard', scope: walletId, sid: a.sid, abandonments })).discarded, true);
    t.deepEqual((await open('refresh', walletId)).status, ['done', 'done', 'done']);
  },
);
