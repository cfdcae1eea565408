/**
 * The node's request handler end to end in one process: three NodeServices with their own
 * encrypted stores, driven through aux-info, keygen, presign and sign by a minimal relay written
 * here (the coordinator's orchestrator has its own tests; the process-level test runs both).
 * Safe primes come from the fixture file; the aux-info protocol itself runs for real.
 */
import test from 'ava';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { NodeService } from '../../src/node/service.js';
import { PrimeSource } from '../../src/node/primes.js';
import { decodeJson, encodeJson, RPC_VERSION } from '../../src/rpc/messages.js';
import { decodePresignaturePublic } from '../../src/protocol/storage-format.js';
import { combineSignature, toCompact } from '../../src/protocol/sign/index.js';
import { silentLogger } from '../../src/util/log.js';
import { openNode } from '../helpers/storage.js';

const IDS = ['node_1', 'node_2', 'node_3'];
const PRIMES = fileURLToPath(new URL('../../../test/fixtures/safe-primes.json', import.meta.url));
let root = '';
let services: NodeService[] = [];
test.before(async () => {
  root = await mkdtemp(join(tmpdir(), 'mpc-node-'));
  const keys = IDS.map(() => generateKeyPairSync('ec', { namedCurve: 'P-256' }));
  const group = IDS.map((nodeId, k) => ({ nodeId, publicKey: keys[k]!.publicKey }));
  services = await Promise.all(
    IDS.map(async (id, k) => {
      const { store } = await openNode(root, id);
      const primes = await PrimeSource.open({ store, index: k, devFile: PRIMES });
      return new NodeService({ nodeId: id, group, privateKey: keys[k]!.privateKey, threshold: 2, store, primes, log: silentLogger() });
    }),
  );
});
test.after.always(() => rm(root, { recursive: true, force: true }));

type Json = Record<string, unknown> & { ok: boolean };
async function call(k: number, req: object): Promise<Json> {
  return decodeJson(await services[k]!.handleBytes(encodeJson({ v: RPC_VERSION, ...req }))) as Json;
}

/** Rewrite one relayed envelope: return the envelopes to deliver instead ([] drops it). */
type Tamper = (from: number, to: number, envelope: string) => string | string[];

/** prepare → start → relay envelopes until every participant is done or one aborts. */
async function run(protocol: string, participants: number[], extra: object = {}, tamper?: Tamper) {
  const sessionId = randomBytes(12).toString('hex');
  const nonces: string[] = [];
  for (const k of participants) {
    const r = await call(k, { method: 'prepare', sessionId, protocol, parties: IDS, ...extra });
    if (!r.ok) return { error: r };
    nonces.push(r.nonce as string);
  }
  const queues = new Map<number, string[]>(participants.map((k) => [k, []]));
  const results = new Map<number, Json>();
  const push = (from: number, update: Json) => {
    results.set(from, update);
    for (const o of update.outbox as { to: number | 'all'; envelope: string }[]) {
      for (const to of o.to === 'all' ? participants.filter((k) => k !== from) : [o.to]) queues.get(to)?.push(...[tamper ? tamper(from, to, o.envelope) : o.envelope].flat());
    }
  };
  for (const k of participants) push(k, await call(k, { method: 'start', sessionId, nonces }));
  for (let guard = 0; guard < 50; guard++) {
    if ([...results.values()].some((r) => r.status === 'aborted' || !r.ok)) break;
    const busy = participants.filter((k) => (queues.get(k) as string[]).length > 0);
    if (busy.length === 0) break;
    for (const k of busy) {
      const envelopes = queues.get(k) as string[];
      queues.set(k, []);
      push(k, await call(k, { method: 'deliver', sessionId, envelopes }));
    }
  }
  return { results, sessionId, nonces };
}

let walletId = '';
let presignatureId = '';
let presignature = '';

test.serial('aux-info, keygen, presign and sign through the node handlers; the signature verifies with noble', async (t) => {
  const aux = await run('aux', [0, 1, 2]);
  const auxIds = [...aux.results!.values()].map((r) => (r.result as { auxId: string }).auxId);
  t.is(new Set(auxIds).size, 1, 'every node holds the same aux-info');
  for (const k of [0, 1, 2]) t.is(((await call(k, { method: 'info' })) as { auxId?: string }).auxId, auxIds[0]);

  walletId = randomBytes(8).toString('hex');
  const kg = await run('keygen', [0, 1, 2], { walletId });
  const pks = [...kg.results!.values()].map((r) => (r.result as { publicKey: string }).publicKey);
  t.is(new Set(pks).size, 1);

  const ps = await run('presign', [0, 2], { walletId, signers: [0, 2] });
  const pubs = [...ps.results!.values()].map((r) => (r.result as { presignature: string }).presignature);
  t.is(pubs[0], pubs[1], 'both signers hold the same public presignature');
  presignature = pubs[0] as string;
  const pub = decodePresignaturePublic(Buffer.from(presignature, 'base64'));
  presignatureId = Buffer.from(pub.id).toString('hex');

  t.is((await call(0, { method: 'sign', walletId: 'other-wallet', presignatureId, digest: '00'.repeat(32) })).code, 'wrong-wallet');
  t.is((await call(0, { method: 'sign', walletId, presignatureId: randomBytes(32).toString('hex'), digest: '00'.repeat(32) })).code, 'unknown-presignature');
  // the refused request above did not spend the presignature: it still signs
  const digest = randomBytes(32);
  const partials = await Promise.all([0, 2].map((k) => call(k, { method: 'sign', walletId, presignatureId, digest: digest.toString('hex') })));
  const sig = combineSignature(pub, digest, partials.map((p) => ({ presignatureId: pub.id, signer: p.signer as number, sigma: BigInt('0x' + (p.sigma as string)) })));
  t.true(secp256k1.verify(toCompact(sig), digest, Buffer.from(pks[0] as string, 'hex'), { prehash: false }));
});

test.serial('A10: a used presignature is refused, also under concurrent requests', async (t) => {
  const again = await call(0, { method: 'sign', walletId, presignatureId, digest: randomBytes(32).toString('hex') });
  t.false(again.ok);
  t.is(again.code, 'presignature-used');
  const ps = await run('presign', [0, 1], { walletId, signers: [0, 1] });
  const id = Buffer.from(decodePresignaturePublic(Buffer.from((ps.results!.get(0)!.result as { presignature: string }).presignature, 'base64')).id).toString('hex');
  const racing = await Promise.all([1, 2, 3, 4].map(() => call(1, { method: 'sign', walletId, presignatureId: id, digest: randomBytes(32).toString('hex') })));
  t.is(racing.filter((r) => r.ok).length, 1, 'exactly one partial signature is ever released');
});

test.serial('the node checks what the coordinator asks: party list, signer set, wallet, its own nonce, message shape', async (t) => {
  const sessionId = randomBytes(12).toString('hex');
  t.is((await call(0, { method: 'prepare', sessionId, protocol: 'keygen', parties: ['node_2', 'node_1', 'node_3'], walletId: 'wallet-xyz' })).code, 'bad-parties');
  t.is((await call(0, { method: 'prepare', sessionId, protocol: 'presign', parties: IDS, walletId, signers: [1, 2] })).code, 'not-a-participant');
  t.is((await call(0, { method: 'prepare', sessionId, protocol: 'presign', parties: IDS, walletId, signers: [0] })).code, 'bad-signers');
  t.is((await call(0, { method: 'prepare', sessionId, protocol: 'presign', parties: IDS, walletId: 'no-such-wallet', signers: [0, 1] })).code, 'unknown-wallet');
  t.is((await call(0, { method: 'prepare', sessionId, protocol: 'keygen', parties: IDS, walletId })).code, 'wallet-exists');
  t.is((await call(0, { method: 'sign', walletId: 'other-wallet', presignatureId, digest: '00'.repeat(32) })).code, 'presignature-used');
  const r = await call(0, { method: 'prepare', sessionId, protocol: 'keygen', parties: IDS, walletId: 'wallet-abc' });
  t.is((await call(0, { method: 'start', sessionId, nonces: ['11'.repeat(32), '22'.repeat(32), '33'.repeat(32)] })).code, 'bad-nonces');
  const nonces = [r.nonce as string, '22'.repeat(32), '33'.repeat(32)];
  t.true((await call(0, { method: 'start', sessionId, nonces })).ok);
  t.is((await call(0, { method: 'start', sessionId, nonces })).code, 'unknown-session', 'a started session cannot be started again');
  t.is((await call(0, { method: 'deliver', sessionId: 'nope-nope', envelopes: [] })).code, 'unknown-session');
  for (const bad of ['not json', '{"v":1,"method":"sign"}', '{"v":2,"method":"info"}', '{"v":1,"method":"info","extra":1}']) {
    const out = decodeJson(await services[0]!.handleBytes(new TextEncoder().encode(bad))) as Json;
    t.is(out.code, 'bad-request', bad);
  }
});

test.serial('a relay that alters an envelope makes the session abort; nothing is stored', async (t) => {
  const before = (await call(2, { method: 'info' })).wallets;
  const id = randomBytes(8).toString('hex');
  let flipped = false;
  const res = await run('keygen', [0, 1, 2], { walletId: id }, (_from, to, env) => {
    if (flipped || to !== 2) return env;
    flipped = true;
    const b = Buffer.from(env, 'base64');
    b.writeUInt8((b[b.length - 70] as number) ^ 1, b.length - 70);
    return b.toString('base64');
  });
  t.is(res.results!.get(2)?.status, 'aborted');
  t.regex((res.results!.get(2)?.abort as { reason: string }).reason, /envelope rejected/);
  t.is((await call(2, { method: 'info' })).wallets, before, 'no share stored by the aborting node');
});

test.serial('a relay that replays, misroutes or drops envelopes gets an abort or a stall, never an output', async (t) => {
  const wallets = async () => Promise.all([0, 1, 2].map(async (k) => (await call(k, { method: 'info' })).wallets as number));
  const kindOf = (env: string) => Buffer.from(env, 'base64')[1]; // envelope byte 1: 1 broadcast, 2 point to point
  const old: string[] = [];
  await run('keygen', [0, 1, 2], { walletId: randomBytes(8).toString('hex') }, (_f, _t, env) => {
    old.push(env);
    return env;
  });
  const before = await wallets();
  // replay: an envelope of the earlier session slipped in with the new ones
  let replayed = false;
  const replay = await run('keygen', [0, 1, 2], { walletId: randomBytes(8).toString('hex') }, (_f, to, env) => {
    if (replayed || to !== 1) return env;
    replayed = true;
    return [old[0] as string, env];
  });
  t.is(replay.results!.get(1)?.status, 'aborted');
  t.regex((replay.results!.get(1)?.abort as { reason: string }).reason, /wrong-session/);
  // misrouting: node 1's point-to-point envelope for node 2 is also handed to node 3
  let forTwo: string | undefined;
  const misroute = await run('keygen', [0, 1, 2], { walletId: randomBytes(8).toString('hex') }, (from, to, env) => {
    if (from !== 0 || kindOf(env) !== 2) return env;
    if (to === 1 && !forTwo) forTwo = env;
    return to === 2 && forTwo ? [env, forTwo] : env;
  });
  t.is(misroute.results!.get(2)?.status, 'aborted');
  t.regex((misroute.results!.get(2)?.abort as { reason: string }).reason, /wrong-recipient/);
  // drop: nothing from node 1 reaches node 3
  const dropped = await run('keygen', [0, 1, 2], { walletId: randomBytes(8).toString('hex') }, (from, to, env) => (from === 0 && to === 2 ? [] : env));
  t.false([...dropped.results!.values()].some((r) => r.status === 'done'), 'nobody finishes');
  t.deepEqual(await wallets(), before, 'no tampered session stored a share anywhere');
});
