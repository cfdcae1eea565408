import test, { type ExecutionContext } from 'ava';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import type { Expectation, Msg } from '../../src/protocol/machine.js';
import {
  DEFAULT_MAX_ENVELOPE_BYTES,
  ENVELOPE_VERSION,
  EnvelopeError,
  EnvelopeSession,
  TO_ALL,
  decodeEnvelope,
  encodeSignedEnvelope,
  verifyEquivocationEvidence,
  type EnvelopeErrorCode,
  type Opened,
} from '../../src/envelope/envelope.js';
import {
  P256_ORDER,
  aeadOpen,
  aeadSeal,
  deriveAeadKey,
  ecdh,
  publicKeyFromRaw,
  rawPublicKey,
} from '../../src/envelope/session-keys.js';
import { Writer } from '../../src/protocol/codec.js';
import {
  PROTOCOL,
  contains,
  context,
  flipBit,
  identities,
  offsets,
  partyList,
  sessions,
  withU32,
  type Identity,
} from './envelope-helpers.js';

const R1: Expectation = { round: 'keygen/r1', broadcast: true };
const R2: Expectation = { round: 'keygen/r2', broadcast: false };
const R3: Expectation = { round: 'keygen/r3', broadcast: true };
const ALL_ROUNDS = [R1, R2, R3];

const ids = identities();
const sid = (): Uint8Array => Uint8Array.from(randomBytes(32));
const body = (n = 48): Uint8Array => Uint8Array.from(randomBytes(n));

function bcast(from: number, round = R1.round, b = body()): Msg {
  return { from, to: 'all', round, body: b };
}

function p2p(from: number, to: number, round = R2.round, b = body()): Msg {
  return { from, to, round, body: b };
}

function accepted(t: ExecutionContext, r: Opened): Msg {
  if (r.status !== 'accepted') {
    t.fail(`expected an accepted message, got ${r.status}`);
    throw new Error('unreachable');
  }
  return r.msg;
}

/** Assert open throws an EnvelopeError with this code and culprit (undefined = nobody named). */
function rejects(t: ExecutionContext, f: () => unknown, code: EnvelopeErrorCode, culprit?: number): EnvelopeError {
  const e = t.throws<EnvelopeError>(f, { instanceOf: EnvelopeError });
  t.is(e.code, code, e.message);
  t.is(e.culprit, culprit, `culprit for ${e.code}`);
  return e;
}

function sameMsg(t: ExecutionContext, got: Msg, want: Msg): void {
  t.is(got.from, want.from);
  t.is(got.to, want.to);
  t.is(got.round, want.round);
  t.deepEqual(got.body, want.body);
}

test('broadcast round trip between three nodes', (t) => {
  const s = sessions(ids);
  for (const sender of [0, 1, 2]) {
    const m = bcast(sender);
    const env = (s[sender] as EnvelopeSession).seal(m);
    for (const r of [0, 1, 2].filter((j) => j !== sender))
      sameMsg(t, accepted(t, (s[r] as EnvelopeSession).open(env, [R1])), m);
  }
});

test('point-to-point round trip for every ordered pair; only the recipient can open', (t) => {
  const s = sessions(ids);
  for (const from of [0, 1, 2]) {
    for (const to of [0, 1, 2].filter((j) => j !== from)) {
      const m = p2p(from, to);
      const env = (s[from] as EnvelopeSession).seal(m);
      sameMsg(t, accepted(t, (s[to] as EnvelopeSession).open(env, [R2])), m);
      const other = 3 - from - to;
      rejects(t, () => (s[other] as EnvelopeSession).open(env, [R2]), 'wrong-recipient');
    }
  }
});

test('empty and large bodies round-trip; oversized messages are refused on both sides', (t) => {
  const s = sessions(ids);
  for (const n of [0, 1, 100_000]) {
    const mb = bcast(0, R1.round, body(n));
    sameMsg(t, accepted(t, (s[1] as EnvelopeSession).open((s[0] as EnvelopeSession).seal(mb), [R1])), mb);
    const mp = p2p(0, 2, R2.round, body(n));
    sameMsg(t, accepted(t, (s[2] as EnvelopeSession).open((s[0] as EnvelopeSession).seal(mp), [R2])), mp);
    s.forEach((x) => x.dispose());
    s.splice(0, 3, ...sessions(ids));
  }
  const small = ids.map(
    (id) => new EnvelopeSession(context(ids, id.index, (s[0] as EnvelopeSession).sid, { maxEnvelopeBytes: 1024 })),
  );
  t.throws(() => (small[0] as EnvelopeSession).seal(bcast(0, R1.round, body(1024))), {
    instanceOf: EnvelopeError,
    message: /cap/,
  });
  const big = (s[0] as EnvelopeSession).seal(bcast(0, R1.round, body(2000)));
  rejects(t, () => (small[1] as EnvelopeSession).open(big, [R1]), 'too-large');
  rejects(t, () => (s[1] as EnvelopeSession).open(new Uint8Array(DEFAULT_MAX_ENVELOPE_BYTES + 1), [R1]), 'too-large');
});

test('the coordinator never sees point-to-point plaintext', (t) => {
  const s = sessions(ids);
  const secret = Uint8Array.from(Buffer.from('share σ_{1,2} = 0x' + 'ab'.repeat(40)));
  const env = (s[0] as EnvelopeSession).seal(p2p(0, 1, R2.round, secret));
  t.false(contains(env, secret));
  for (let i = 0; i + 8 <= secret.length; i++)
    t.false(contains(env, secret.subarray(i, i + 8)), `8-byte window at ${i}`);
  // the relay's view of the header: it can route, but the payload is ciphertext
  const d = decodeEnvelope(env);
  t.is(d.kind, 'p2p');
  t.is(d.to, 1);
  t.is(d.payload.length, secret.length + 16);
  t.notDeepEqual(d.payload.subarray(0, secret.length), secret);
  // and the same plaintext sealed twice gives unrelated ciphertexts (fresh ephemeral key per message)
  const env2 = (s[0] as EnvelopeSession).seal(p2p(0, 1, 'keygen/r9', secret));
  t.notDeepEqual(decodeEnvelope(env2).payload, d.payload);
});

/**
 * The attacker of the forward-secrecy finding: it recorded the relayed envelopes and later holds
 * both parties' identity private keys. It tries the version-1 derivation (keyed by the recipient's
 * identity key R: ECDH(e, R) ‖ ECDH(S, R)) and the current one with R standing in for the session
 * key it does not have. Returns the plaintext, or undefined.
 */
function openWithIdentityKeys(
  env: Uint8Array,
  sender: Identity,
  recipient: Identity,
  version: 1 | 2,
): Uint8Array | undefined {
  const d = decodeEnvelope(Uint8Array.from(env).fill(ENVELOPE_VERSION, 0, 1)); // a version-1 recording decodes alike
  const utf8 = new TextEncoder();
  const R = rawPublicKey(recipient.publicKey);
  const w = new Writer()
    .bytes(utf8.encode(`mpc-engine/v${version}/envelope/p2p-key`))
    .bytes(utf8.encode(d.protocol))
    .bytes(d.sid)
    .u32(sender.index)
    .bytes(utf8.encode(sender.nodeId))
    .bytes(rawPublicKey(sender.publicKey));
  if (version === 2) w.bytes(rawPublicKey(sender.session.publicKey));
  w.u32(recipient.index).bytes(utf8.encode(recipient.nodeId)).bytes(R);
  if (version === 2) w.bytes(R);
  const info = w.bytes(d.ephemeral).finish();
  const prefix = Uint8Array.from(d.prefix);
  prefix[0] = env[0] as number; // the AAD is the prefix as sealed
  const key = deriveAeadKey(
    ecdh(recipient.privateKey, publicKeyFromRaw(d.ephemeral)),
    ecdh(sender.privateKey, recipient.publicKey),
    info,
  );
  return aeadOpen(key, prefix, d.payload);
}

test('forward secrecy: a recorded p2p envelope stays sealed to whoever later steals both parties’ identity private keys; the session itself opens nothing once disposed', (t) => {
  const [a, b] = ids as [Identity, Identity, Identity];
  const share = Uint8Array.from(Buffer.from('σ_{1,2} = 0x' + 'cd'.repeat(32)));
  // control: the attack opens what the version-1 derivation sealed (so its failing below means something)
  const old = decodeEnvelope((sessions(ids)[0] as EnvelopeSession).seal(p2p(0, 1, R2.round, share)));
  const eph = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const ephRaw = rawPublicKey(eph.publicKey);
  const v1Prefix = new Writer()
    .u8(1)
    .u8(2)
    .bytes(new TextEncoder().encode(old.protocol))
    .bytes(old.sid)
    .bytes(new TextEncoder().encode(old.round))
    .u32(0)
    .u32(1)
    .u32(old.seq)
    .bytes(ephRaw)
    .finish();
  const v1Info = new Writer()
    .bytes(new TextEncoder().encode('mpc-engine/v1/envelope/p2p-key'))
    .bytes(new TextEncoder().encode(old.protocol))
    .bytes(old.sid)
    .u32(0)
    .bytes(new TextEncoder().encode(a.nodeId))
    .bytes(rawPublicKey(a.publicKey))
    .u32(1)
    .bytes(new TextEncoder().encode(b.nodeId))
    .bytes(rawPublicKey(b.publicKey))
    .bytes(ephRaw)
    .finish();
  const v1Payload = aeadSeal(
    deriveAeadKey(ecdh(eph.privateKey, b.publicKey), ecdh(a.privateKey, b.publicKey), v1Info),
    v1Prefix,
    share,
  );
  const v1 = encodeSignedEnvelope(
    {
      kind: 'p2p',
      protocol: old.protocol,
      sid: old.sid,
      round: old.round,
      from: 0,
      to: 1,
      seq: old.seq,
      ephemeral: ephRaw,
      payload: v1Payload,
    },
    a.privateKey,
  );
  const v1Bytes = Uint8Array.from(v1).fill(1, 0, 1);
  t.deepEqual(openWithIdentityKeys(v1Bytes, a, b, 1), share, 'the version-1 derivation falls to the identity keys');

  const s = sessions(ids);
  const env = (s[0] as EnvelopeSession).seal(p2p(0, 1, R2.round, share));
  t.is(openWithIdentityKeys(env, a, b, 1), undefined, 'the version-1 derivation opens nothing now');
  t.is(openWithIdentityKeys(env, a, b, 2), undefined, 'nor the current one without the session key');
  t.deepEqual(
    accepted(t, (s[1] as EnvelopeSession).open(env, [R2])).body,
    share,
    'the recipient, while its session runs, does',
  );
  const later = (s[0] as EnvelopeSession).seal(p2p(0, 1, R3.round, share));
  (s[1] as EnvelopeSession).dispose();
  rejects(t, () => (s[1] as EnvelopeSession).open(later, [R3]), 'bad-argument', undefined);
  t.throws(() => (s[1] as EnvelopeSession).seal(p2p(1, 0)), { instanceOf: EnvelopeError, message: /^bad-argument/ });
});

test('(a) a relay flipping any bit of the header, ciphertext or payload is caught', (t) => {
  const s = sessions(ids);
  const envB = (s[0] as EnvelopeSession).seal(bcast(0));
  const envP = (s[0] as EnvelopeSession).seal(p2p(0, 1));
  const oB = offsets(envB);
  const oP = offsets(envP);
  // header fields covered by the signature
  rejects(t, () => (s[1] as EnvelopeSession).open(flipBit(envB, oB.round + 4 + 2), [R1]), 'bad-signature');
  rejects(t, () => (s[1] as EnvelopeSession).open(flipBit(envB, oB.seq + 3), [R1]), 'bad-signature');
  rejects(t, () => (s[1] as EnvelopeSession).open(flipBit(envB, oB.payloadHash + 5), [R1]), 'bad-signature');
  rejects(t, () => (s[1] as EnvelopeSession).open(flipBit(envP, oP.ephemeral + 4 + 10), [R2]), 'bad-signature');
  rejects(t, () => (s[1] as EnvelopeSession).open(flipBit(envB, oB.sid + 4), [R1]), 'wrong-session');
  // payload: broadcast body and p2p ciphertext and tag
  rejects(t, () => (s[1] as EnvelopeSession).open(flipBit(envB, oB.payload + 4), [R1]), 'bad-signature');
  rejects(t, () => (s[1] as EnvelopeSession).open(flipBit(envP, oP.payload + 4), [R2]), 'bad-signature');
  rejects(t, () => (s[1] as EnvelopeSession).open(flipBit(envP, oP.signature - 1, 7), [R2]), 'bad-signature');
  // the originals still open afterwards: rejected bytes left no state
  accepted(t, (s[1] as EnvelopeSession).open(envB, [R1]));
  accepted(t, (s[1] as EnvelopeSession).open(envP, [R2]));
});

test('(b) a relay swapping sender indices is caught', (t) => {
  const s = sessions(ids);
  const env = (s[0] as EnvelopeSession).seal(bcast(0));
  const o = offsets(env);
  rejects(t, () => (s[1] as EnvelopeSession).open(withU32(env, o.from, 2), [R1]), 'bad-signature');
  rejects(t, () => (s[1] as EnvelopeSession).open(withU32(env, o.from, 1), [R1]), 'own-message');
  rejects(t, () => (s[1] as EnvelopeSession).open(withU32(env, o.from, 7), [R1]), 'unknown-sender');
  // node 0's and node 2's round-1 broadcasts swapped in a relay's labels: each still opens as its real sender
  const env2 = (s[2] as EnvelopeSession).seal(bcast(2));
  t.is(accepted(t, (s[1] as EnvelopeSession).open(env2, [R1])).from, 2);
  t.is(accepted(t, (s[1] as EnvelopeSession).open(env, [R1])).from, 0);
  // own broadcast reflected back by the relay
  rejects(t, () => (s[0] as EnvelopeSession).open(env, [R1]), 'own-message');
});

test('(c) replays from another session, another protocol or another round are refused or ignored', (t) => {
  const a = sessions(ids);
  const b = sessions(ids);
  const envB = (a[0] as EnvelopeSession).seal(bcast(0));
  const envP = (a[0] as EnvelopeSession).seal(p2p(0, 1));
  rejects(t, () => (b[1] as EnvelopeSession).open(envB, [R1]), 'wrong-session');
  rejects(t, () => (b[1] as EnvelopeSession).open(envP, [R2]), 'wrong-session');
  const otherProtocol = new EnvelopeSession({
    ...context(ids, 1, (a[1] as EnvelopeSession).sid),
    protocol: 'aux-info',
  });
  rejects(t, () => otherProtocol.open(envB, [R1]), 'wrong-session');
  // another round: a round-1 envelope delivered when the receiver is in round 3 is never taken as round 3
  const fresh = new EnvelopeSession(context(ids, 1, (a[1] as EnvelopeSession).sid));
  rejects(t, () => fresh.open(envB, [R3]), 'unexpected-round');
  // a receiver that already took it sees a duplicate, still labelled round 1
  t.is(accepted(t, (a[1] as EnvelopeSession).open(envB, [R1])).round, R1.round);
  const again = (a[1] as EnvelopeSession).open(envB, [R3]);
  t.is(again.status, 'duplicate');
  t.is(again.status === 'duplicate' ? again.round : '', R1.round);
});

test('(d) a p2p envelope for node 1 forwarded to node 2 is refused and names nobody', (t) => {
  const s = sessions(ids);
  const env = (s[0] as EnvelopeSession).seal(p2p(0, 1));
  rejects(t, () => (s[2] as EnvelopeSession).open(env, [R2]), 'wrong-recipient');
  // rewriting the recipient field breaks the signature
  rejects(t, () => (s[2] as EnvelopeSession).open(withU32(env, offsets(env).to, 2), [R2]), 'bad-signature');
  // turning it into a broadcast is malformed (broadcasts carry no recipient or ephemeral key)
  const asBcast = withU32(env, offsets(env).to, TO_ALL);
  asBcast[1] = 1; // kind p2p → bcast
  rejects(t, () => (s[2] as EnvelopeSession).open(asBcast, [R2]), 'malformed');
});

test('(e) a missing, zeroed, truncated or re-encoded (high-s) signature is refused', (t) => {
  const s = sessions(ids);
  const env = (s[0] as EnvelopeSession).seal(bcast(0));
  rejects(t, () => (s[1] as EnvelopeSession).open(env.subarray(0, env.length - 64), [R1]), 'malformed');
  rejects(t, () => (s[1] as EnvelopeSession).open(env.subarray(0, env.length - 1), [R1]), 'malformed');
  const zeroed = Uint8Array.from(env);
  zeroed.fill(0, env.length - 64);
  rejects(t, () => (s[1] as EnvelopeSession).open(zeroed, [R1]), 'bad-signature');
  // (r, n − s) is also a valid ECDSA signature; we accept only low s, so the relay cannot
  // produce "different bytes" of an honest envelope and frame its sender for equivocation
  const hi = Uint8Array.from(env);
  const sig = hi.subarray(hi.length - 32);
  const sv = BigInt('0x' + Buffer.from(sig).toString('hex'));
  sig.set(Buffer.from((P256_ORDER - sv).toString(16).padStart(64, '0'), 'hex'));
  rejects(t, () => (s[1] as EnvelopeSession).open(hi, [R1]), 'bad-signature');
  accepted(t, (s[1] as EnvelopeSession).open(env, [R1]));
});

test('(f) keys are pinned: opening with a different pinned key for the sender fails', (t) => {
  const s = sessions(ids);
  const impostor = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const wrongPins = partyList(ids).map((p) => (p.index === 0 ? { ...p, publicKey: impostor.publicKey } : p));
  const victim = new EnvelopeSession({ ...context(ids, 1, (s[1] as EnvelopeSession).sid), parties: wrongPins });
  rejects(t, () => victim.open((s[0] as EnvelopeSession).seal(bcast(0)), [R1]), 'bad-signature');
  rejects(t, () => victim.open((s[0] as EnvelopeSession).seal(p2p(0, 1)), [R2]), 'bad-signature');
  // an impostor holding its own key, signing as party 0, is refused by correctly pinned nodes
  const fakeIds: Identity[] = ids.map((id) => (id.index === 0 ? { ...id, ...impostor } : id));
  const forger = new EnvelopeSession(context(fakeIds, 0, (s[0] as EnvelopeSession).sid));
  rejects(t, () => (s[1] as EnvelopeSession).open(forger.seal(bcast(0)), [R1]), 'bad-signature');
  rejects(t, () => (s[1] as EnvelopeSession).open(forger.seal(p2p(0, 1)), [R2]), 'bad-signature');
});

test('(g) reordered delivery still works', (t) => {
  const s = sessions(ids);
  const msgs: Msg[] = [];
  const envs: Uint8Array[] = [];
  for (const from of [0, 2]) {
    for (const m of [bcast(from, R1.round), p2p(from, 1, R2.round), bcast(from, R3.round)]) {
      msgs.push(m);
      envs.push((s[from] as EnvelopeSession).seal(m));
    }
  }
  const order = [5, 2, 3, 0, 4, 1];
  for (const k of order)
    sameMsg(t, accepted(t, (s[1] as EnvelopeSession).open(envs[k] as Uint8Array, ALL_ROUNDS)), msgs[k] as Msg);
});

test('(h) duplicates are ignored, also from a fresh copy of the bytes', (t) => {
  const s = sessions(ids);
  const env = (s[0] as EnvelopeSession).seal(p2p(0, 1));
  accepted(t, (s[1] as EnvelopeSession).open(env, [R2]));
  const dup = (s[1] as EnvelopeSession).open(Uint8Array.from(env), [R2]);
  t.deepEqual(dup, { status: 'duplicate', from: 0, round: R2.round, seq: 0 });
  // open keeps its own copy: the caller reusing its buffer does not affect duplicate detection
  const buf = Uint8Array.from((s[2] as EnvelopeSession).seal(bcast(2)));
  const keep = Uint8Array.from(buf);
  accepted(t, (s[1] as EnvelopeSession).open(buf, [R1]));
  buf.fill(0);
  t.is((s[1] as EnvelopeSession).open(keep, [R1]).status, 'duplicate');
});

test('(i) equivocation by a malicious node names it, with evidence others can verify', (t) => {
  const s = sessions(ids);
  const view = { sid: (s[0] as EnvelopeSession).sid, protocol: PROTOCOL, parties: partyList(ids) };
  // node 0 signs two different round-1 broadcasts
  const first = (s[0] as EnvelopeSession).seal(bcast(0));
  const second = (s[0] as EnvelopeSession).seal(bcast(0));
  accepted(t, (s[1] as EnvelopeSession).open(first, [R1]));
  const e = rejects(t, () => (s[1] as EnvelopeSession).open(second, [R1]), 'equivocation', 0);
  const ev = e.evidence;
  if (!ev) return t.fail('no evidence');
  t.is(ev.culprit, 0);
  t.is(ev.conflict, 'slot');
  t.deepEqual(ev.first, first);
  t.deepEqual(ev.second, second);
  t.true(verifyEquivocationEvidence(view, ev));
  // the evidence does not verify against the wrong culprit, a tampered envelope or another session
  t.false(verifyEquivocationEvidence(view, { ...ev, culprit: 1 }));
  t.false(verifyEquivocationEvidence(view, { ...ev, second: flipBit(second, offsets(second).payload + 4) }));
  t.false(verifyEquivocationEvidence({ ...view, sid: sid() }, ev));
  t.false(verifyEquivocationEvidence(view, { ...ev, second: first }));
  // p2p equivocation to one recipient
  const p1 = (s[2] as EnvelopeSession).seal(p2p(2, 1));
  const p2 = (s[2] as EnvelopeSession).seal(p2p(2, 1));
  accepted(t, (s[1] as EnvelopeSession).open(p1, [R2]));
  const e2 = rejects(t, () => (s[1] as EnvelopeSession).open(p2, [R2]), 'equivocation', 2);
  t.true(e2.evidence !== undefined && verifyEquivocationEvidence(view, e2.evidence));
  // sequence-number reuse across rounds (a node that restarted its counter) is equivocation too
  const s0b = new EnvelopeSession(context(ids, 0, view.sid)); // node 0 again, counter back at 0
  const x = s0b.seal(bcast(0, R3.round)); // seq 0, as `first` above
  const r2 = new EnvelopeSession(context(ids, 2, view.sid));
  accepted(t, r2.open(first, ALL_ROUNDS));
  const e3 = rejects(t, () => r2.open(x, ALL_ROUNDS), 'equivocation', 0);
  t.is(e3.evidence?.conflict, 'seq');
  t.true(e3.evidence !== undefined && verifyEquivocationEvidence(view, e3.evidence));
});

test('a recipient cannot frame an honest sender with its p2p messages to two different parties', (t) => {
  const s = sessions(ids);
  const view = { sid: (s[0] as EnvelopeSession).sid, protocol: PROTOCOL, parties: partyList(ids) };
  const to1 = (s[0] as EnvelopeSession).seal(p2p(0, 1));
  const to2 = (s[0] as EnvelopeSession).seal(p2p(0, 2));
  t.false(verifyEquivocationEvidence(view, { culprit: 0, conflict: 'slot', first: to1, second: to2 }));
  t.false(verifyEquivocationEvidence(view, { culprit: 0, conflict: 'seq', first: to1, second: to2 }));
});

test('validly signed but bad envelopes name their sender', (t) => {
  const s = sessions(ids);
  const sidS = (s[0] as EnvelopeSession).sid;
  const priv0 = (ids[0] as Identity).privateKey;
  const base = { protocol: PROTOCOL, sid: sidS, from: 0, seq: 100 };
  // a broadcast for a p2p round
  const wrongKind = encodeSignedEnvelope(
    { ...base, kind: 'bcast', round: R2.round, to: 'all', ephemeral: new Uint8Array(0), payload: body() },
    priv0,
  );
  rejects(t, () => (s[1] as EnvelopeSession).open(wrongKind, [R2]), 'wrong-kind', 0);
  // a signed header whose payload hash does not match the payload
  const badHash = encodeSignedEnvelope(
    {
      ...base,
      seq: 101,
      kind: 'bcast',
      round: R1.round,
      to: 'all',
      ephemeral: new Uint8Array(0),
      payload: body(),
      payloadHash: new Uint8Array(32),
    },
    priv0,
  );
  rejects(t, () => (s[1] as EnvelopeSession).open(badHash, [R1]), 'payload-hash-mismatch', 0);
  // a p2p ciphertext that does not decrypt (re-signed by its sender after tampering)
  const honest = decodeEnvelope((s[0] as EnvelopeSession).seal(p2p(0, 1)));
  const garbled = Uint8Array.from(honest.payload);
  garbled[0] = (garbled[0] as number) ^ 1;
  const badCt = encodeSignedEnvelope(
    { ...base, seq: 102, kind: 'p2p', round: R2.round, to: 1, ephemeral: honest.ephemeral, payload: garbled },
    priv0,
  );
  rejects(t, () => (s[1] as EnvelopeSession).open(badCt, [R2]), 'decrypt-failed', 0);
  // moving the ciphertext under another header (its AAD) fails too, even when re-signed
  const moved = encodeSignedEnvelope(
    { ...base, seq: 103, kind: 'p2p', round: R2.round, to: 1, ephemeral: honest.ephemeral, payload: honest.payload },
    priv0,
  );
  rejects(t, () => new EnvelopeSession(context(ids, 1, sidS)).open(moved, [R2]), 'decrypt-failed', 0);
  // an ephemeral "key" that is not on the curve
  const offCurve = Uint8Array.from(honest.ephemeral);
  offCurve[64] = (offCurve[64] as number) ^ 1;
  const badEph = encodeSignedEnvelope(
    { ...base, seq: 104, kind: 'p2p', round: R2.round, to: 1, ephemeral: offCurve, payload: honest.payload },
    priv0,
  );
  rejects(t, () => new EnvelopeSession(context(ids, 1, sidS)).open(badEph, [R2]), 'decrypt-failed', 0);
});

test('strict decoding: version, kind, lengths, trailing bytes, UTF-8', (t) => {
  const s = sessions(ids);
  const env = (s[0] as EnvelopeSession).seal(bcast(0));
  const o = offsets(env);
  const v1 = Uint8Array.from(env);
  v1[0] = 1; // version 1 encrypted p2p bodies to identity keys (no forward secrecy): refused
  rejects(t, () => (s[1] as EnvelopeSession).open(v1, [R1]), 'unsupported-version');
  const v3 = Uint8Array.from(env);
  v3[0] = 3;
  rejects(t, () => (s[1] as EnvelopeSession).open(v3, [R1]), 'unsupported-version');
  const k9 = Uint8Array.from(env);
  k9[1] = 9;
  rejects(t, () => (s[1] as EnvelopeSession).open(k9, [R1]), 'malformed');
  rejects(t, () => (s[1] as EnvelopeSession).open(Uint8Array.from([...env, 0]), [R1]), 'malformed');
  rejects(t, () => (s[1] as EnvelopeSession).open(withU32(env, o.payload, 0xffff_ffff), [R1]), 'malformed');
  rejects(t, () => (s[1] as EnvelopeSession).open(withU32(env, o.round, 1), [R1]), 'malformed');
  rejects(t, () => (s[1] as EnvelopeSession).open(new Uint8Array(0), [R1]), 'malformed');
  // invalid UTF-8 in the round name (even when validly signed) is a format error
  const priv0 = (ids[0] as Identity).privateKey;
  const okRound = encodeSignedEnvelope(
    {
      kind: 'bcast',
      protocol: PROTOCOL,
      sid: (s[0] as EnvelopeSession).sid,
      round: 'keygen/r1',
      from: 0,
      to: 'all',
      seq: 7,
      ephemeral: new Uint8Array(0),
      payload: body(),
    },
    priv0,
  );
  const oo = offsets(okRound);
  const badUtf8 = Uint8Array.from(okRound);
  badUtf8[oo.round + 4] = 0xff;
  rejects(t, () => (s[1] as EnvelopeSession).open(badUtf8, [R1]), 'malformed');
});

test('session context is validated', (t) => {
  const theSid = sid();
  const bad = (f: () => unknown): void => void t.throws(f, { instanceOf: EnvelopeError, message: /^bad-argument/ });
  const other = identities(1)[0] as Identity;
  bad(() => new EnvelopeSession(context(ids, 0, theSid, { myPrivateKey: other.privateKey })));
  bad(() => new EnvelopeSession({ ...context(ids, 0, theSid), me: 5 }));
  bad(() => new EnvelopeSession({ ...context(ids, 0, theSid), me: 1 }));
  bad(() => new EnvelopeSession(context(ids, 0, new Uint8Array(0))));
  bad(() => new EnvelopeSession(context(ids, 0, new Uint8Array(65))));
  bad(() => new EnvelopeSession({ ...context(ids, 0, theSid), parties: [...partyList(ids)].reverse() }));
  bad(
    () =>
      new EnvelopeSession({
        ...context(ids, 0, theSid),
        parties: partyList(ids).map((p) => ({ ...p, nodeId: 'same' })),
      }),
  );
  bad(
    () =>
      new EnvelopeSession({
        ...context(ids, 0, theSid),
        parties: partyList(ids).map((p) => ({ ...p, publicKey: (ids[0] as Identity).publicKey })),
      }),
  );
  bad(() => new EnvelopeSession({ ...context(ids, 0, theSid), protocol: '' }));
  const ed = generateKeyPairSync('ed25519');
  bad(
    () =>
      new EnvelopeSession({
        ...context(ids, 0, theSid),
        parties: partyList(ids).map((p) => (p.index === 2 ? { ...p, publicKey: ed.publicKey } : p)),
      }),
  );
  // session keys: one per party, P-256, distinct, none an identity key, mine matching my private half
  const sessionKeys = ids.map((i) => i.session.publicKey);
  bad(() => new EnvelopeSession(context(ids, 0, theSid, { mySessionKey: other.session.privateKey })));
  bad(() => new EnvelopeSession(context(ids, 0, theSid, { mySessionKey: (ids[0] as Identity).privateKey })));
  bad(() => new EnvelopeSession(context(ids, 0, theSid, { sessionKeys: sessionKeys.slice(0, 2) })));
  bad(
    () =>
      new EnvelopeSession(
        context(ids, 1, theSid, { sessionKeys: [sessionKeys[0]!, sessionKeys[1]!, sessionKeys[1]!] }),
      ),
  );
  bad(
    () =>
      new EnvelopeSession(
        context(ids, 0, theSid, { sessionKeys: [sessionKeys[0]!, (ids[2] as Identity).publicKey, sessionKeys[2]!] }),
      ),
  );
  bad(
    () =>
      new EnvelopeSession(context(ids, 0, theSid, { sessionKeys: [sessionKeys[0]!, ed.publicKey, sessionKeys[2]!] })),
  );
  const s0 = new EnvelopeSession(context(ids, 0, theSid));
  bad(() => s0.seal(bcast(1)));
  bad(() => s0.seal(p2p(0, 0)));
  bad(() => s0.seal(p2p(0, 9)));
  bad(() => s0.seal(bcast(0, '')));
  bad(() => s0.seal(bcast(0, 'x'.repeat(65))));
});

test('errors carry no key material', (t) => {
  const s = sessions(ids);
  const env = (s[0] as EnvelopeSession).seal(p2p(0, 1));
  const e = rejects(t, () => (s[2] as EnvelopeSession).open(env, [R2]), 'wrong-recipient');
  const text = `${e.message} ${JSON.stringify(e)}`;
  for (const id of ids) {
    const pub = id.publicKey.export({ format: 'jwk' });
    t.false(text.includes(String(pub.x)));
    t.false(text.includes(String(id.privateKey.export({ format: 'jwk' }).d)));
  }
});
