/**
 * Peer for the protocol benchmark: DKLs23 (Silence Laboratories' WASM build, OT-based, no Paillier)
 * run in-process exactly as its README drives it: 2-of-3 key generation, then a 2-party signing
 * split into its message-independent part (the presignature) and the last message + combine.
 * Times are total compute of all parties (one thread, so wall time = compute).
 * @module
 */
import { randomBytes } from 'node:crypto';
import type { Message } from '@silencelaboratories/dkls-wasm-ll-node';
import { KeygenSession, Keyshare, SignSession } from '@silencelaboratories/dkls-wasm-ll-node';
import { secp256k1 } from '@noble/curves/secp256k1.js';

const others = (msgs: Message[], pid: number) => msgs.filter((m) => m.from_id !== pid).map((m) => m.clone());
const toMe = (msgs: Message[], pid: number) => msgs.filter((m) => m.to_id === pid).map((m) => m.clone());
const freeAll = (msgs: Message[]) => msgs.forEach((m) => m.free());

export function dklsKeygen(n = 3, t = 2): { ms: number; shares: Uint8Array[] } {
  const t0 = performance.now();
  const parties = [...Array(n).keys()].map((i) => new KeygenSession(n, t, i));
  const m1 = parties.map((p) => p.createFirstMessage());
  const m2 = parties.flatMap((p, pid) => p.handleMessages(others(m1, pid)));
  const commitments = parties.map((p) => p.calculateChainCodeCommitment());
  const m3 = parties.flatMap((p, pid) => p.handleMessages(toMe(m2, pid)));
  const m4 = parties.flatMap((p, pid) => p.handleMessages(toMe(m3, pid), commitments));
  parties.forEach((p, pid) => p.handleMessages(others(m4, pid)));
  const shares = parties.map((p) => {
    const k = p.keyshare();
    const b = k.toBytes();
    k.free();
    return b;
  });
  const ms = performance.now() - t0;
  [m1, m2, m3, m4].forEach(freeAll);
  return { ms, shares };
}

/** Presignature (3 message rounds) and online part (last message + combine) for signers 0 and 1. */
export function dklsSign(shares: Uint8Array[], digest: Uint8Array): { presignMs: number; signMs: number; ok: boolean } {
  const t0 = performance.now();
  const parties = [0, 1].map((i) => new SignSession(Keyshare.fromBytes(shares[i] as Uint8Array), 'm'));
  const m1 = parties.map((p) => p.createFirstMessage());
  const m2 = parties.flatMap((p, pid) => p.handleMessages(others(m1, pid)));
  const m3 = parties.flatMap((p, pid) => p.handleMessages(toMe(m2, pid)));
  parties.forEach((p, pid) => p.handleMessages(toMe(m3, pid)));
  const t1 = performance.now();
  const m4 = parties.map((p) => p.lastMessage(digest));
  const sigs = parties.map((p, pid) => p.combine(others(m4, pid)) as [Uint8Array, Uint8Array]);
  const t2 = performance.now();
  const [r, s] = sigs[0] as [Uint8Array, Uint8Array];
  const pub = Keyshare.fromBytes(shares[0] as Uint8Array);
  const compact = new Uint8Array(64);
  compact.set(r, 0);
  compact.set(s, 32);
  const ok = secp256k1.verify(compact, digest, pub.publicKey, { prehash: false, lowS: false });
  pub.free();
  [m1, m2, m3, m4].forEach(freeAll);
  return { presignMs: t1 - t0, signMs: t2 - t1, ok };
}

export function randomDigest(): Uint8Array {
  return Uint8Array.from(randomBytes(32));
}
