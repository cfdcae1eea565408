/**
 * The node's request handler end to end in one process: three NodeServices with their own
 * encrypted stores, driven through aux-info, keygen, presign and sign by a minimal relay written
 * here (the coordinator's orchestrator has its own tests; the process-level test runs both).
 * Safe primes come from the fixture file; the aux-info protocol itself runs for real.
 */
import test from 'ava';
import { generateKeyPairSync, randomBytes, sign } from 'node:crypto';
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
import { decodeEnvelope, encodeSignedEnvelope } from '../../src/envelope/envelope.js';
import { KEYGEN_ROUND } from '../../src/protocol/keygen/index.js';
import { Transcript } from '../../src/zk/transcript.js';
import { abandonmentDigest } from '../../src/protocol/abandonment.js';
import { Writer } from '../../src/protocol/codec.js';
import {
  aeadOpen,
  deriveAeadKey,
  ecdh,
  publicKeyFromRaw,
  rawPublicKey,
  signSessionKey,
} from '../../src/envelope/session-keys.js';

const IDS = ['node_1', 'node_2', 'node_3'];
const PRIMES = fileURLToPath(new URL('../../../test/fixtures/safe-primes.json', import.meta.url));
let root = '';
let services: NodeService[] = [];
const stores: Awaited<ReturnType<typeof openNode>>['store'][] = [];
let group: { nodeId: string; publicKey: import('node:crypto').KeyObject }[] = [];
let privateKeys: import('node:crypto').KeyObject[] = [];
test.before(async () => {
  root = await mkdtemp(join(tmpdir(), 'mpc-node-'));
  const keys = IDS.map(() => generateKeyPairSync('ec', { namedCurve: 'P-256' }));
  group = IDS.map((nodeId, k) => ({ nodeId, publicKey: keys[k]!.publicKey }));
  privateKeys = keys.map((k) => k.privateKey);
  services = await Promise.all(
    IDS.map(async (id, k) => {
      const { store } = await openNode(root, id);
      stores[k] = store;
      const primes = await PrimeSource.open({ store, index: k, devFile: PRIMES });
      return new NodeService({
        nodeId: id,
        group,
        privateKey: keys[k]!.privateKey,
        threshold: 2,
        store,
        primes,
        log: silentLogger(),
      });
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
  const states: string[] = [];
  const sessionKeys: unknown[] = [];
  for (const k of participants) {
    const r = await call(k, { method: 'prepare', sessionId, protocol, parties: IDS, ...extra });
    if (!r.ok) return { error: r };
    nonces.push(r.nonce as string);
    states.push(r.state as string);
    sessionKeys.push(r.sessionKey);
  }
  const queues = new Map<number, string[]>(participants.map((k) => [k, []]));
  const results = new Map<number, Json>();
  const push = (from: number, update: Json) => {
    results.set(from, update);
    if (!update.ok) return;
    for (const o of update.outbox as { to: number | 'all'; envelope: string }[]) {
      for (const to of o.to === 'all' ? participants.filter((k) => k !== from) : [o.to])
        queues.get(to)?.push(...[tamper ? tamper(from, to, o.envelope) : o.envelope].flat());
    }
  };
  for (const k of participants) push(k, await call(k, { method: 'start', sessionId, nonces, states, sessionKeys }));
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

test.serial(
  'aux-info, keygen, presign and sign through the node handlers; the signature verifies with noble',
  async (t) => {
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

    t.is(
      (await call(0, { method: 'sign', walletId: 'other-wallet', presignatureId, digest: '00'.repeat(32) })).code,
      'wrong-wallet',
    );
    t.is(
      (
        await call(0, {
          method: 'sign',
          walletId,
          presignatureId: randomBytes(32).toString('hex'),
          digest: '00'.repeat(32),
        })
      ).code,
      'unknown-presignature',
    );
    // the refused request above did not spend the presignature: it still signs
    const digest = randomBytes(32);
    const partials = await Promise.all(
      [0, 2].map((k) => call(k, { method: 'sign', walletId, presignatureId, digest: digest.toString('hex') })),
    );
    const sig = combineSignature(
      pub,
      digest,
      partials.map((p) => ({
        presignatureId: pub.id,
        signer: p.signer as number,
        sigma: BigInt('0x' + (p.sigma as string)),
      })),
    );
    t.true(secp256k1.verify(toCompact(sig), digest, Buffer.from(pks[0] as string, 'hex'), { prehash: false }));
  },
);

/** A fresh session key for party `k`, signed as that party signs it at prepare (by default with its identity key). */
function signedSessionKey(
  k: number,
  sessionId: string,
  protocol: string,
  nonce: string,
  by = privateKeys[k]!,
): { key: string; signature: string } {
  const key = rawPublicKey(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey);
  const signature = signSessionKey({ protocol, sessionId, index: k, nodeId: IDS[k]!, nonce, key }, by);
  return { key: Buffer.from(key).toString('hex'), signature: Buffer.from(signature).toString('hex') };
}

/**
 * What a recorder of the relayed traffic can do with the identity keys it steals later: the
 * point-to-point key derivation keyed by the recipient's identity key alone (envelope version 1),
 * k = HKDF(ECDH(e, R) ‖ ECDH(S, R), info = tag ‖ protocol ‖ sid ‖ both parties ‖ e). Returns the
 * plaintext, or undefined when the envelope does not open that way.
 */
function openWithIdentityKeys(envelope: string): Uint8Array | undefined {
  const d = decodeEnvelope(Buffer.from(envelope, 'base64'));
  if (d.kind !== 'p2p' || d.to === 'all') return undefined;
  const to = d.to;
  const raw = (k: number) => rawPublicKey(group[k]!.publicKey);
  const info = new Writer()
    .bytes(new TextEncoder().encode('mpc-engine/v1/envelope/p2p-key'))
    .bytes(new TextEncoder().encode(d.protocol))
    .bytes(d.sid)
    .u32(d.from)
    .bytes(new TextEncoder().encode(IDS[d.from]))
    .bytes(raw(d.from))
    .u32(to)
    .bytes(new TextEncoder().encode(IDS[to]))
    .bytes(raw(to))
    .bytes(d.ephemeral)
    .finish();
  const key = deriveAeadKey(
    ecdh(privateKeys[to]!, publicKeyFromRaw(d.ephemeral)),
    ecdh(privateKeys[to]!, group[d.from]!.publicKey),
    info,
  );
  return aeadOpen(key, d.prefix, d.payload);
}

test.serial(
  'forward secrecy: a recorded keygen’s point-to-point envelopes (the shares) stay sealed to whoever later steals every node’s identity private key',
  async (t) => {
    const recorded: string[] = [];
    const kg = await run('keygen', [0, 1, 2], { walletId: randomBytes(8).toString('hex') }, (_f, _t, env) => {
      recorded.push(env);
      return env;
    });
    t.true(
      [...kg.results!.values()].every((r) => r.status === 'done'),
      'the recorded run completed',
    );
    const p2p = recorded.filter((e) => decodeEnvelope(Buffer.from(e, 'base64')).kind === 'p2p');
    t.true(p2p.length >= 6, 'every party sent each other party its share point to point');
    const opened = p2p.filter((e) => openWithIdentityKeys(e) !== undefined);
    t.is(
      opened.length,
      0,
      `${opened.length} of ${p2p.length} recorded point-to-point envelopes open with the identity keys alone`,
    );
  },
);

test.serial(
  'session keys: a start whose key list holds another key at the node’s own position, or a key its party did not sign for this session, is refused',
  async (t) => {
    const sessionId = randomBytes(12).toString('hex');
    const r = await call(0, { method: 'prepare', sessionId, protocol: 'refresh', parties: IDS, walletId });
    t.true(r.ok);
    const own = r.sessionKey as { key: string; signature: string };
    t.regex(own.key, /^04[0-9a-f]{128}$/, 'prepare answers a fresh P-256 session key');
    const nonces = [r.nonce as string, '22'.repeat(32), '33'.repeat(32)];
    const states = [r.state, r.state, r.state];
    const start = (sessionKeys: unknown[]) => call(0, { method: 'start', sessionId, nonces, states, sessionKeys });
    const k1 = signedSessionKey(1, sessionId, 'refresh', nonces[1]!);
    const k2 = signedSessionKey(2, sessionId, 'refresh', nonces[2]!);
    // a relay's own key, signed by another party, at node 1's position
    t.is(
      (await start([signedSessionKey(1, sessionId, 'refresh', nonces[0]!), k1, k2])).code,
      'bad-session-keys',
      'another key at our position',
    );
    t.is((await start([k1, own, k2])).code, 'bad-session-keys', 'our key at another position');
    const relayKey = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    t.is(
      (await start([own, signedSessionKey(1, sessionId, 'refresh', nonces[1]!, relayKey.privateKey), k2])).code,
      'bad-session-keys',
      'a key not signed by its party',
    );
    t.is(
      (await start([own, signedSessionKey(1, 'another-session', 'refresh', nonces[1]!), k2])).code,
      'bad-session-keys',
      'a key signed for another session',
    );
    t.is((await start([own, k1])).code, 'bad-session-keys', 'a key missing');
    const identityAsSessionKey = rawPublicKey(group[1]!.publicKey);
    const selfSigned = {
      key: Buffer.from(identityAsSessionKey).toString('hex'),
      signature: Buffer.from(
        signSessionKey(
          { protocol: 'refresh', sessionId, index: 1, nodeId: IDS[1]!, nonce: nonces[1]!, key: identityAsSessionKey },
          privateKeys[1]!,
        ),
      ).toString('hex'),
    };
    t.is((await start([own, selfSigned, k2])).code, 'bad-session-keys', 'an identity key handed out as a session key');
    t.true((await start([own, k1, k2])).ok, 'the honest list starts the session');
    await call(0, { method: 'abort', sessionId });
  },
);

test.serial('A10: a used presignature is refused, also under concurrent requests', async (t) => {
  const again = await call(0, { method: 'sign', walletId, presignatureId, digest: randomBytes(32).toString('hex') });
  t.false(again.ok);
  t.is(again.code, 'presignature-used');
  const ps = await run('presign', [0, 1], { walletId, signers: [0, 1] });
  const id = Buffer.from(
    decodePresignaturePublic(
      Buffer.from((ps.results!.get(0)!.result as { presignature: string }).presignature, 'base64'),
    ).id,
  ).toString('hex');
  const racing = await Promise.all(
    [1, 2, 3, 4].map(() =>
      call(1, { method: 'sign', walletId, presignatureId: id, digest: randomBytes(32).toString('hex') }),
    ),
  );
  t.is(racing.filter((r) => r.ok).length, 1, 'exactly one partial signature is ever released');
});

test.serial(
  'the node checks what the coordinator asks: party list, signer set, wallet, its own nonce, message shape',
  async (t) => {
    const sessionId = randomBytes(12).toString('hex');
    t.is(
      (
        await call(0, {
          method: 'prepare',
          sessionId,
          protocol: 'keygen',
          parties: ['node_2', 'node_1', 'node_3'],
          walletId: 'wallet-xyz',
        })
      ).code,
      'bad-parties',
    );
    t.is(
      (await call(0, { method: 'prepare', sessionId, protocol: 'presign', parties: IDS, walletId, signers: [1, 2] }))
        .code,
      'not-a-participant',
    );
    t.is(
      (await call(0, { method: 'prepare', sessionId, protocol: 'presign', parties: IDS, walletId, signers: [0] })).code,
      'bad-signers',
    );
    t.is(
      (
        await call(0, {
          method: 'prepare',
          sessionId,
          protocol: 'presign',
          parties: IDS,
          walletId: 'no-such-wallet',
          signers: [0, 1],
        })
      ).code,
      'unknown-wallet',
    );
    t.is(
      (await call(0, { method: 'prepare', sessionId, protocol: 'keygen', parties: IDS, walletId })).code,
      'wallet-exists',
    );
    t.is(
      (await call(0, { method: 'sign', walletId: 'other-wallet', presignatureId, digest: '00'.repeat(32) })).code,
      'presignature-used',
    );
    const r = await call(0, { method: 'prepare', sessionId, protocol: 'keygen', parties: IDS, walletId: 'wallet-abc' });
    const keysFor = (own: unknown, n: readonly string[]) => [
      own,
      signedSessionKey(1, sessionId, 'keygen', n[1]!),
      signedSessionKey(2, sessionId, 'keygen', n[2]!),
    ];
    const nonces = [r.nonce as string, '22'.repeat(32), '33'.repeat(32)];
    t.is(
      (
        await call(0, {
          method: 'start',
          sessionId,
          nonces: ['11'.repeat(32), '22'.repeat(32), '33'.repeat(32)],
          states: [r.state, r.state, r.state],
          sessionKeys: keysFor(r.sessionKey, nonces),
        })
      ).code,
      'bad-nonces',
    );
    const mine = r.state as string;
    t.is(
      (
        await call(0, {
          method: 'start',
          sessionId,
          nonces,
          states: [mine, 'ab'.repeat(32), mine],
          sessionKeys: keysFor(r.sessionKey, nonces),
        })
      ).code,
      'state-mismatch',
      'P4: different states are refused before any proof',
    );
    const again = await call(0, {
      method: 'prepare',
      sessionId,
      protocol: 'keygen',
      parties: IDS,
      walletId: 'wallet-abc',
    });
    const states = [again.state as string, again.state as string, again.state as string];
    t.is(again.state, mine, 'the fingerprint is a function of the state');
    const nonces2 = [again.nonce as string, '22'.repeat(32), '33'.repeat(32)];
    t.true(
      (
        await call(0, {
          method: 'start',
          sessionId,
          nonces: nonces2,
          states,
          sessionKeys: keysFor(again.sessionKey, nonces2),
        })
      ).ok,
    );
    t.is(
      (
        await call(0, {
          method: 'start',
          sessionId,
          nonces: nonces2,
          states,
          sessionKeys: keysFor(again.sessionKey, nonces2),
        })
      ).code,
      'unknown-session',
      'a started session cannot be started again',
    );
    t.is((await call(0, { method: 'deliver', sessionId: 'nope-nope', envelopes: [] })).code, 'unknown-session');
    for (const bad of [
      'not json',
      '{"v":1,"method":"sign"}',
      '{"v":2,"method":"info"}',
      '{"v":1,"method":"info","extra":1}',
    ]) {
      const out = decodeJson(await services[0]!.handleBytes(new TextEncoder().encode(bad))) as Json;
      t.is(out.code, 'bad-request', bad);
    }
  },
);

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
  t.is((res.results!.get(2)?.abort as { code: string }).code, 'envelope-rejected');
  t.is((await call(2, { method: 'info' })).wallets, before, 'no share stored by the aborting node');
});

test.serial(
  'a relay that replays, misroutes or drops envelopes gets an abort or a stall, never an output',
  async (t) => {
    const wallets = async () =>
      Promise.all([0, 1, 2].map(async (k) => (await call(k, { method: 'info' })).wallets as number));
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
    t.is((misroute.results!.get(2)?.abort as { code: string }).code, 'envelope-rejected');
    // drop: nothing from node 1 reaches node 3
    const dropped = await run('keygen', [0, 1, 2], { walletId: randomBytes(8).toString('hex') }, (from, to, env) =>
      from === 0 && to === 2 ? [] : env,
    );
    t.false(
      [...dropped.results!.values()].some((r) => r.status === 'done'),
      'nobody finishes',
    );
    t.deepEqual(await wallets(), before, 'no tampered session stored a share anywhere');
  },
);

/** Drops every confirmation envelope `from` sends to `to` (a relay, or a node showing its confirmation to one peer only). */
const withholdConfirmation =
  (from: number, to: number): Tamper =>
  (f, t, env) =>
    f === from && t === to && decodeEnvelope(Buffer.from(env, 'base64')).round === KEYGEN_ROUND.confirm ? [] : env;

test.serial(
  'P1: a confirmation withheld from one node leaves it pending on its committed state; the others’ evidence finishes its switch, forged evidence does not',
  async (t) => {
    const id = randomBytes(8).toString('hex');
    const res = await run('keygen', [0, 1, 2], { walletId: id }, withholdConfirmation(2, 0));
    t.is(res.results!.get(1)?.status, 'done');
    t.is(res.results!.get(2)?.status, 'done');
    t.is(res.results!.get(0)?.status, 'running', 'node 1 lacks one confirmation: no commit');
    t.is(
      (
        await call(0, {
          method: 'prepare',
          sessionId: randomBytes(12).toString('hex'),
          protocol: 'presign',
          parties: IDS,
          walletId: id,
          signers: [0, 1],
        })
      ).code,
      'unknown-wallet',
      'nothing committed at node 1',
    );

    const ev = await call(1, { method: 'evidence', scope: id });
    t.true(ev.ok);
    const envelopes = ev.envelopes as string[];
    t.is(envelopes.length, 3);
    t.deepEqual(
      [...envelopes].sort(),
      [...(res.results!.get(1)!.evidence as string[])].sort(),
      'the stored evidence is what the node reported',
    );
    // forged or incomplete evidence commits nothing
    t.is((await call(0, { method: 'finalize', scope: id, envelopes: envelopes.slice(0, 2) })).code, 'bad-evidence');
    const flipped = Buffer.from(envelopes[2] as string, 'base64');
    flipped.writeUInt8((flipped[flipped.length - 70] as number) ^ 1, flipped.length - 70);
    t.is(
      (
        await call(0, {
          method: 'finalize',
          scope: id,
          envelopes: [envelopes[0], envelopes[1], flipped.toString('base64')],
        })
      ).code,
      'bad-evidence',
    );
    const otherSession = (await call(1, { method: 'evidence', scope: walletId })).envelopes as string[];
    t.is(
      (await call(0, { method: 'finalize', scope: id, envelopes: otherSession })).code,
      'bad-evidence',
      'evidence of another commit',
    );
    t.is(
      (await call(0, { method: 'finalize', scope: walletId, envelopes })).code,
      'no-pending',
      'nothing pending for an already committed wallet',
    );

    const fin = await call(0, { method: 'finalize', scope: id, envelopes });
    t.true(fin.ok, JSON.stringify(fin));
    t.deepEqual(fin.result, res.results!.get(1)!.result, 'the same public key as the others');
    t.true((await call(0, { method: 'finalize', scope: id, envelopes })).ok, 'finalize is idempotent');
    const ps = await run('presign', [0, 1], { walletId: id, signers: [0, 1] });
    t.is(ps.results!.get(0)?.status, 'done', 'the finalized node signs with the others');
  },
);

test.serial(
  'P1/P2: a refresh switches only on every confirmation; presignatures of the old epoch are destroyed; a restarted node finishes the switch from evidence',
  async (t) => {
    const ps = await run('presign', [0, 1], { walletId, signers: [0, 1] });
    const pub = decodePresignaturePublic(
      Buffer.from((ps.results!.get(0)!.result as { presignature: string }).presignature, 'base64'),
    );
    const oldId = Buffer.from(pub.id).toString('hex');

    const refresh = await run('refresh', [0, 1, 2], { walletId }, withholdConfirmation(1, 2));
    t.is(refresh.results!.get(0)?.status, 'done');
    t.is(refresh.results!.get(2)?.status, 'running', 'node 3 keeps its committed share');
    for (const k of [0, 1]) {
      const r = await call(k, {
        method: 'sign',
        walletId,
        presignatureId: oldId,
        digest: randomBytes(32).toString('hex'),
      });
      t.false(r.ok, 'a presignature made before the refresh cannot sign after it');
    }
    // node 3 is on the old epoch: a session with it is refused as a state mismatch before any proof
    const mismatch = await run('presign', [0, 2], { walletId, signers: [0, 2] });
    t.is(mismatch.results!.get(0)?.code, 'state-mismatch');

    // node 3 restarts mid-switch: it keeps its pending successor and commits it on the evidence
    const restarted = new NodeService({
      nodeId: IDS[2]!,
      group,
      privateKey: privateKeys[2]!,
      threshold: 2,
      store: stores[2]!,
      primes: await PrimeSource.open({ store: stores[2]!, index: 2, devFile: PRIMES }),
      log: silentLogger(),
    });
    t.deepEqual(await restarted.recover(), { pendingDropped: 0, presignaturesBurnt: 0, backupsWritten: 0 });
    services[2] = restarted;
    const envelopes = refresh.results!.get(0)!.evidence as string[];
    const fin = await call(2, { method: 'finalize', scope: walletId, envelopes });
    t.true(fin.ok, JSON.stringify(fin));
    t.deepEqual(fin.result, refresh.results!.get(0)!.result);

    const fresh = await run('presign', [0, 2], { walletId, signers: [0, 2] });
    const freshPub = decodePresignaturePublic(
      Buffer.from((fresh.results!.get(0)!.result as { presignature: string }).presignature, 'base64'),
    );
    const digest = randomBytes(32);
    const partials = await Promise.all(
      [0, 2].map((k) =>
        call(k, {
          method: 'sign',
          walletId,
          presignatureId: Buffer.from(freshPub.id).toString('hex'),
          digest: digest.toString('hex'),
        }),
      ),
    );
    const sig = combineSignature(
      freshPub,
      digest,
      partials.map((p) => ({
        presignatureId: freshPub.id,
        signer: p.signer as number,
        sigma: BigInt('0x' + (p.sigma as string)),
      })),
    );
    const publicKey = (refresh.results!.get(0)!.result as { publicKey: string }).publicKey;
    t.true(
      secp256k1.verify(toCompact(sig), digest, Buffer.from(publicKey, 'hex'), { prehash: false }),
      'the refreshed shares sign for the same key',
    );
  },
);

test.serial(
  'P1: a node that shows one peer a different confirmation is named by it, and cannot split the group: the others’ evidence commits that peer too',
  async (t) => {
    const id = randomBytes(8).toString('hex');
    // node 3 signs a second, different confirmation for node 1 only (a relay routing by the outer address would deliver it)
    const alter: Tamper = (from, to, env) => {
      const d = decodeEnvelope(Buffer.from(env, 'base64'));
      if (from !== 2 || to !== 0 || d.round !== KEYGEN_ROUND.confirm) return env;
      const payload = Uint8Array.from(d.payload);
      payload[5] = (payload[5] as number) ^ 1;
      return Buffer.from(
        encodeSignedEnvelope(
          {
            kind: 'bcast',
            protocol: d.protocol,
            sid: d.sid,
            round: d.round,
            from: 2,
            to: 'all',
            seq: d.seq,
            ephemeral: d.ephemeral,
            payload,
          },
          privateKeys[2]!,
        ),
      ).toString('base64');
    };
    const res = await run('keygen', [0, 1, 2], { walletId: id }, alter);
    const r0 = res.results!.get(0)!;
    t.is(r0.status, 'aborted');
    t.deepEqual((r0.abort as { culprits: number[] }).culprits, [2], 'the lone differing confirmation names its signer');
    t.is((r0.abort as { code: string }).code, 'confirmation-mismatch');
    t.is(res.results!.get(1)?.status, 'done');
    const fin = await call(0, { method: 'finalize', scope: id, envelopes: res.results!.get(1)!.evidence as string[] });
    t.true(fin.ok, 'the aborted node still holds its pending share and commits on the honest evidence');
    t.deepEqual(fin.result, res.results!.get(1)!.result);
  },
);

test.serial(
  'one run per scope at a time: a second keygen or refresh of a wallet while one is open is refused (two interleaved runs could each gather every confirmation)',
  async (t) => {
    const first = randomBytes(12).toString('hex');
    t.true((await call(1, { method: 'prepare', sessionId: first, protocol: 'refresh', parties: IDS, walletId })).ok);
    const second = await call(1, {
      method: 'prepare',
      sessionId: randomBytes(12).toString('hex'),
      protocol: 'refresh',
      parties: IDS,
      walletId,
    });
    t.is(second.code, 'busy');
    t.true(
      (
        await call(1, {
          method: 'prepare',
          sessionId: randomBytes(12).toString('hex'),
          protocol: 'presign',
          parties: IDS,
          walletId,
          signers: [0, 1],
        })
      ).ok,
      'presigning is not a switch',
    );
    t.true((await call(1, { method: 'abort', sessionId: first })).ok);
    const third = randomBytes(12).toString('hex');
    t.true(
      (await call(1, { method: 'prepare', sessionId: third, protocol: 'refresh', parties: IDS, walletId })).ok,
      'free again once the first ended',
    );
    await call(1, { method: 'abort', sessionId: third });
  },
);

test.serial(
  'F2: an abort that overtakes its prepare leaves no prepared session behind; a prepare arriving after its abort is refused',
  async (t) => {
    const sessionId = randomBytes(12).toString('hex');
    // the coordinator aborts as soon as another participant refuses: here while this prepare awaits its store
    const prepared = call(1, { method: 'prepare', sessionId, protocol: 'refresh', parties: IDS, walletId });
    const aborted = call(1, { method: 'abort', sessionId });
    t.true((await aborted).ok);
    t.is((await prepared).code, 'aborted', 'the overtaken prepare fails instead of registering a session');
    const next = randomBytes(12).toString('hex');
    const r = await call(1, { method: 'prepare', sessionId: next, protocol: 'refresh', parties: IDS, walletId });
    t.true(r.ok, `the next run of the scope is possible at once: ${String(r.error)}`);
    await call(1, { method: 'abort', sessionId: next });
    const late = randomBytes(12).toString('hex');
    t.true((await call(1, { method: 'abort', sessionId: late })).ok);
    t.is(
      (await call(1, { method: 'prepare', sessionId: late, protocol: 'refresh', parties: IDS, walletId })).code,
      'aborted',
      'an abort that arrived first bars its prepare',
    );
  },
);

/** Captures the sid of a run from the envelopes it relays, and drops what `drop` selects. */
function capture(drop: (from: number, to: number, round: string) => boolean): { tamper: Tamper; sid: () => string } {
  let sid = '';
  return {
    sid: () => sid,
    tamper: (f, to, env) => {
      const d = decodeEnvelope(Buffer.from(env, 'base64'));
      sid = Buffer.from(d.sid).toString('hex');
      return drop(f, to, d.round) ? [] : env;
    },
  };
}

/** A party's abandonment signed directly with its key (what a lying party can sign whatever it holds). */
const signedAbandonment = (k: number, scope: string, sid: string) => ({
  by: k,
  signature: sign(null, abandonmentDigest(scope, Buffer.from(sid, 'hex')), {
    key: privateKeys[k]!,
    dsaEncoding: 'ieee-p1363',
  }).toString('hex'),
});

test.serial(
  'F1: one party’s abandonment no longer drops a pending state: two nodes that confirmed keep it, whatever the third signs',
  async (t) => {
    // a fresh wallet: this test leaves its refresh pending on nodes 1 and 2 for good
    const id = randomBytes(8).toString('hex');
    const kg = await run('keygen', [0, 1, 2], { walletId: id });
    t.true([0, 1, 2].every((k) => kg.results!.get(k)?.status === 'done'));
    // node 3 never gets node 1's last proof, so it never confirms; nodes 1 and 2 confirm and wait
    const c = capture((f, to, round) => f === 0 && to === 2 && round === KEYGEN_ROUND.proof);
    const res = await run('refresh', [0, 1, 2], { walletId: id }, c.tamper);
    const sid = c.sid();
    t.is(res.results!.get(0)?.status, 'running');
    t.is(res.results!.get(1)?.status, 'running');
    for (const k of [0, 1, 2]) await call(k, { method: 'abort', sessionId: res.sessionId });

    const blocked = await call(0, {
      method: 'prepare',
      sessionId: randomBytes(12).toString('hex'),
      protocol: 'refresh',
      parties: IDS,
      walletId: id,
    });
    t.is(blocked.code, 'pending-unresolved', 'no new run while a confirmed successor awaits');
    t.is(
      (await call(0, { method: 'abandon', scope: id, sid })).code,
      'confirmed',
      'a node that confirmed the run cannot abandon it',
    );
    const a = await call(2, { method: 'abandon', scope: id, sid });
    t.true(a.ok);
    // node 3's abandonment alone (the old rule) drops nothing: node 2 confirmed, and node 3 might have
    // shown its own confirmation to node 2, which would then commit
    const alone = await call(0, {
      method: 'discard',
      scope: id,
      sid,
      abandonments: [{ by: a.by, signature: a.signature }],
    });
    t.is(alone.code, 'bad-abandonment');
    t.regex(alone.error as string, /missing from parties 1/);
    t.is(
      (
        await call(0, {
          method: 'prepare',
          sessionId: randomBytes(12).toString('hex'),
          protocol: 'refresh',
          parties: IDS,
          walletId: id,
        })
      ).code,
      'pending-unresolved',
      'still pending',
    );
  },
);

test.serial(
  'F1: a pending state is dropped on the signed abandonments of every other party (distinct, bound to the run), never on fewer or forged ones',
  async (t) => {
    // node 1's last proof reaches nobody: only node 1 confirms (and waits); nodes 2 and 3 never confirm
    const c = capture((f, to, round) => f === 0 && to !== 0 && round === KEYGEN_ROUND.proof);
    const res = await run('refresh', [0, 1, 2], { walletId }, c.tamper);
    const sid = c.sid();
    t.is(res.results!.get(0)?.status, 'running');
    for (const k of [0, 1, 2]) await call(k, { method: 'abort', sessionId: res.sessionId });
    const a1 = await call(1, { method: 'abandon', scope: walletId, sid });
    const a2 = await call(2, { method: 'abandon', scope: walletId, sid });
    t.true(a1.ok && a2.ok, 'nodes that never confirmed may abandon');
    const full = [
      { by: a1.by, signature: a1.signature },
      { by: a2.by, signature: a2.signature },
    ];
    const discard = (abandonments: object[], s = sid) =>
      call(0, { method: 'discard', scope: walletId, sid: s, abandonments });
    t.is((await discard([full[1]!])).code, 'bad-abandonment', 'one is not enough');
    t.is((await discard([full[1]!, full[1]!])).code, 'bad-abandonment', 'the same signer twice');
    t.is(
      (await discard([full[1]!, signedAbandonment(0, walletId, sid)])).code,
      'bad-abandonment',
      'the discarding node’s own does not count',
    );
    t.is((await discard([{ by: 1, signature: a2.signature }, full[1]!])).code, 'bad-abandonment', 'misattributed');
    t.is((await discard(full, 'ab'.repeat(32))).code, 'bad-abandonment', 'bound to the run');
    t.is(
      (await call(0, { method: 'discard', scope: 'aux', sid, abandonments: full })).code,
      'bad-abandonment',
      'bound to the scope',
    );
    t.deepEqual((await discard(full)).discarded, true);
    const again = await run('refresh', [0, 1, 2], { walletId });
    t.true(
      [0, 1, 2].every((k) => again.results!.get(k)?.status === 'done'),
      'the scope is free: a new refresh commits everywhere',
    );
  },
);

test.serial(
  'F1: an abandonment by a party whose confirmation of that run the node holds is proof of misbehaviour: refused, naming that party',
  async (t) => {
    const ev = await call(0, { method: 'evidence', scope: walletId });
    const sid = Buffer.from(
      decodeEnvelope(Buffer.from((ev.envelopes as string[])[0] as string, 'base64')).sid,
    ).toString('hex');
    const r = await call(0, {
      method: 'discard',
      scope: walletId,
      sid,
      abandonments: [signedAbandonment(1, walletId, sid), signedAbandonment(2, walletId, sid)],
    });
    t.is(r.code, 'abandoned-confirmed-run');
    t.regex(r.error as string, /node_2 signed an abandonment of a run whose confirmation it signed/);
  },
);

test.serial(
  'an abandonment signed between prepare and start (a relay can compute the sid) makes that run unstartable at the node: it can never confirm what it abandoned',
  async (t) => {
    const sessionId = randomBytes(12).toString('hex');
    const prepared = await Promise.all(
      [0, 1, 2].map((k) => call(k, { method: 'prepare', sessionId, protocol: 'refresh', parties: IDS, walletId })),
    );
    const nonces = prepared.map((r) => r.nonce as string);
    const states = prepared.map((r) => r.state as string);
    const sessionKeys = prepared.map((r) => r.sessionKey as { key: string; signature: string });
    // the sid as every node derives it (src/node/service.ts): public inputs only
    const sid = new Transcript('mpc-engine/v1/session')
      .text('protocol', 'refresh')
      .text('session', sessionId)
      .byteList(
        'parties',
        IDS.map((id) => new TextEncoder().encode(id)),
      )
      .text('wallet', walletId)
      .ints('signers', [0n, 1n, 2n])
      .byteList(
        'nonces',
        nonces.map((n) => Buffer.from(n, 'hex')),
      )
      .bytes('state', Buffer.from(states[2] as string, 'hex'))
      .byteList(
        'session keys',
        sessionKeys.map((k) => Buffer.from(k.key, 'hex')),
      )
      .digest('sid');
    const a = await call(2, { method: 'abandon', scope: walletId, sid: Buffer.from(sid).toString('hex') });
    t.true(a.ok, 'a node that has not confirmed may abandon');
    t.is(
      (await call(2, { method: 'start', sessionId, nonces, states, sessionKeys })).code,
      'abandoned',
      'and then never starts that run',
    );
    for (const k of [0, 1]) await call(k, { method: 'abort', sessionId });
  },
);

test.serial(
  'two concurrent starts of one prepared session: one goes ahead, the other is refused before it takes any safe primes',
  async (t) => {
    // node 0 with a prime source that counts takes (an aux-info run takes four primes at its start)
    const real = await PrimeSource.open({ store: stores[0]!, index: 0, devFile: PRIMES });
    let takes = 0;
    const counting = Object.create(real) as PrimeSource;
    counting.take = async () => {
      takes++;
      return real.take();
    };
    const original = services[0]!;
    services[0] = new NodeService({
      nodeId: IDS[0]!,
      group,
      privateKey: privateKeys[0]!,
      threshold: 2,
      store: stores[0]!,
      primes: counting,
      log: silentLogger(),
    });
    const sessionId = randomBytes(12).toString('hex');
    try {
      const nonces: string[] = [];
      const states: string[] = [];
      const sessionKeys: unknown[] = [];
      for (const k of [0, 1, 2]) {
        const r = await call(k, { method: 'prepare', sessionId, protocol: 'aux', parties: IDS });
        t.true(r.ok, JSON.stringify(r));
        nonces.push(r.nonce as string);
        states.push(r.state as string);
        sessionKeys.push(r.sessionKey);
      }
      const start = { method: 'start', sessionId, nonces, states, sessionKeys };
      const [a, b] = await Promise.all([call(0, start), call(0, start)]);
      t.deepEqual([a, b].map((r) => r.ok).sort(), [false, true]);
      t.like(
        [a, b].find((r) => !r.ok),
        { code: 'unknown-session' },
      );
      t.is(takes, 1, 'only the start that went ahead took primes');
    } finally {
      for (const k of [0, 1, 2]) await call(k, { method: 'abort', sessionId });
      services[0] = original;
    }
  },
);
