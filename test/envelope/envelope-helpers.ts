/**
 * Three simulated nodes with pinned P-256 identities, and byte-level helpers a test relay uses to
 * tamper with sealed envelopes.
 */
import { generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { EnvelopeSession, type EnvelopeContext, type PartyIdentity } from '../../src/envelope/envelope.js';

export const PROTOCOL = 'keygen';

export interface Identity {
  readonly index: number;
  readonly nodeId: string;
  readonly publicKey: KeyObject;
  readonly privateKey: KeyObject;
  /** this session's key pair (p2p bodies to this node are encrypted to its public half) */
  readonly session: { readonly publicKey: KeyObject; readonly privateKey: KeyObject };
}

export function identities(n = 3): Identity[] {
  return [...Array(n).keys()].map((index) => {
    const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    return {
      index,
      nodeId: `node-${index + 1}`,
      publicKey,
      privateKey,
      session: generateKeyPairSync('ec', { namedCurve: 'P-256' }),
    };
  });
}

export function partyList(ids: readonly Identity[]): PartyIdentity[] {
  return ids.map(({ index, nodeId, publicKey }) => ({ index, nodeId, publicKey }));
}

export function context(
  ids: readonly Identity[],
  me: number,
  sid: Uint8Array,
  extra: Partial<EnvelopeContext> = {},
): EnvelopeContext {
  const mine = ids[me] as Identity;
  return {
    sid,
    protocol: PROTOCOL,
    parties: partyList(ids),
    me,
    myPrivateKey: mine.privateKey,
    sessionKeys: ids.map((i) => i.session.publicKey),
    mySessionKey: mine.session.privateKey,
    ...extra,
  };
}

/** One session as seen by each of the nodes. */
export function sessions(
  ids: readonly Identity[],
  sid: Uint8Array = Uint8Array.from(randomBytes(32)),
): EnvelopeSession[] {
  return ids.map((id) => new EnvelopeSession(context(ids, id.index, sid)));
}

export interface Offsets {
  version: number;
  kind: number;
  protocol: number;
  sid: number;
  round: number;
  from: number;
  to: number;
  seq: number;
  ephemeral: number;
  payloadHash: number;
  payload: number;
  signature: number;
}

/** Byte offsets of each field's length prefix (or value, for fixed fields) in an envelope. */
export function offsets(env: Uint8Array): Offsets {
  const dv = new DataView(env.buffer, env.byteOffset, env.byteLength);
  let o = 2;
  const skipBytes = (): number => {
    const at = o;
    o += 4 + dv.getUint32(o);
    return at;
  };
  const protocol = skipBytes();
  const sid = skipBytes();
  const round = skipBytes();
  const from = o;
  const to = o + 4;
  const seq = o + 8;
  o += 12;
  const ephemeral = skipBytes();
  const payloadHash = o;
  o += 32;
  const payload = skipBytes();
  return {
    version: 0,
    kind: 1,
    protocol,
    sid,
    round,
    from,
    to,
    seq,
    ephemeral,
    payloadHash,
    payload,
    signature: env.length - 64,
  };
}

export function withU32(env: Uint8Array, at: number, v: number): Uint8Array {
  const out = Uint8Array.from(env);
  new DataView(out.buffer).setUint32(at, v);
  return out;
}

export function flipBit(env: Uint8Array, at: number, bit = 0): Uint8Array {
  const out = Uint8Array.from(env);
  out[at] = (out[at] as number) ^ (1 << bit);
  return out;
}

export function contains(hay: Uint8Array, needle: Uint8Array): boolean {
  return Buffer.from(hay).indexOf(Buffer.from(needle)) !== -1;
}
