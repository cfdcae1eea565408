/**
 * Versioned binary formats for what a node stores: key shares and aux-info, each split into a
 * public part (may be stored in clear, shared with the coordinator) and a secret part (encrypted
 * by the node's KMS before it touches disk). Loading validates everything: sizes, ranges,
 * x_i·G = X_i, the X_j on one polynomial through Y, N_i = p·q, s and t in range.
 * @module
 */
import { DecodeError, Reader, Writer } from './codec.js';
import { assertKeyShare, type KeyShare, type PublicKeyShare, type SecretKeyShare } from './keyshare.js';
import { assertAuxInfo, type AuxInfo, type PartyAux } from './aux-info.js';
import { Presignature, type PresignaturePublic } from './presign/presignature.js';

const MAGIC = {
  keyPublic: 0x4b50, // "KP"
  keySecret: 0x4b53, // "KS"
  auxPublic: 0x4150, // "AP"
  auxSecret: 0x4153, // "AS"
  presigPublic: 0x5050, // "PP"
  presigSecret: 0x5053, // "PS"
} as const;
export const FORMAT_VERSION = 1;
const MAX_PARTIES = 64;
const MAX_MODULUS_BITS = 8192;

function head(kind: number): Writer {
  return new Writer()
    .u8(kind >> 8)
    .u8(kind & 0xff)
    .u8(FORMAT_VERSION);
}

function readHead(r: Reader, kind: number, what: string): void {
  const k = (r.u8() << 8) | r.u8();
  if (k !== kind) throw new DecodeError(`${what}: wrong record kind`);
  const v = r.u8();
  if (v !== FORMAT_VERSION) throw new DecodeError(`${what}: unsupported format version ${v}`);
}

export function encodePublicKeyShare(p: PublicKeyShare): Uint8Array {
  return head(MAGIC.keyPublic)
    .u8(p.n)
    .u8(p.t)
    .u8(p.i)
    .point(p.Y)
    .list(p.X, (w, X) => w.point(X))
    .finish();
}

export function encodeSecretKeyShare(s: SecretKeyShare): Uint8Array {
  return head(MAGIC.keySecret).scalar(s.x).finish();
}

/** Decode both parts and validate the share as a whole. */
export function decodeKeyShare(pub: Uint8Array, secret: Uint8Array): KeyShare {
  const r = new Reader(pub);
  readHead(r, MAGIC.keyPublic, 'key share');
  const n = r.u8('n');
  const t = r.u8('t');
  const i = r.u8('i');
  if (n > MAX_PARTIES) throw new DecodeError('key share: too many parties');
  const Y = r.point('Y');
  const X = r.list((x) => x.point('X_j'), { count: n }, 'X');
  r.end('key share');
  const s = new Reader(secret);
  readHead(s, MAGIC.keySecret, 'key share secret');
  const x = s.scalar('x_i');
  s.end('key share secret');
  const share: KeyShare = { public: { n, t, i, Y, X }, secret: { x } };
  assertKeyShare(share);
  return share;
}

export function encodeAuxPublic(a: AuxInfo): Uint8Array {
  return head(MAGIC.auxPublic)
    .u8(a.i)
    .list(a.parties, (w, pa) => w.int(pa.N).int(pa.rp.N).int(pa.rp.s).int(pa.rp.t))
    .finish();
}

export function encodeAuxSecret(a: AuxInfo): Uint8Array {
  return head(MAGIC.auxSecret).int(a.secret.p).int(a.secret.q).finish();
}

/** Decode both parts of an aux-info record and validate it. */
export function decodeAuxInfo(pub: Uint8Array, secret: Uint8Array): AuxInfo {
  const r = new Reader(pub);
  readHead(r, MAGIC.auxPublic, 'aux-info');
  const i = r.u8('i');
  const parties: PartyAux[] = r.list(
    (x) => ({
      N: x.int(MAX_MODULUS_BITS, 'N_j'),
      rp: { N: x.int(MAX_MODULUS_BITS, 'N̂_j'), s: x.int(MAX_MODULUS_BITS, 's_j'), t: x.int(MAX_MODULUS_BITS, 't_j') },
    }),
    { maxCount: MAX_PARTIES },
    'parties',
  );
  r.end('aux-info');
  const s = new Reader(secret);
  readHead(s, MAGIC.auxSecret, 'aux-info secret');
  const p = s.int(MAX_MODULUS_BITS / 2, 'p');
  const q = s.int(MAX_MODULUS_BITS / 2, 'q');
  s.end('aux-info secret');
  const aux: AuxInfo = { i, parties, secret: { p, q } };
  assertAuxInfo(aux);
  return aux;
}

/** The public part of a presignature (what the coordinator keeps to combine partial signatures). */
export function encodePresignaturePublic(p: PresignaturePublic): Uint8Array {
  const w = head(MAGIC.presigPublic)
    .fixed(p.id)
    .list(p.signers, (x, j) => x.u8(j))
    .point(p.Y)
    .point(p.R);
  return w
    .list(p.Delta, (x, P) => x.point(P))
    .list(p.S, (x, P) => x.point(P))
    .finish();
}

export function decodePresignaturePublic(b: Uint8Array): PresignaturePublic {
  const r = new Reader(b);
  readHead(r, MAGIC.presigPublic, 'presignature');
  const id = Uint8Array.from(r.fixed(32, 'id'));
  const signers = r.list((x) => x.u8('signer'), { maxCount: MAX_PARTIES }, 'signers');
  if (signers.some((j, k) => k > 0 && j <= (signers[k - 1] as number)))
    throw new DecodeError('presignature: signers must be sorted and distinct');
  const Y = r.point('Y');
  const R = r.point('R');
  const Delta = r.list((x) => x.point('Δ̃_j'), { count: signers.length }, 'Δ̃');
  const S = r.list((x) => x.point('S̃_j'), { count: signers.length }, 'S̃');
  r.end('presignature');
  return { id, signers, Y, R, Delta, S };
}

/** An unused presignature for encrypted storage: (own index, k_i, χ_i). */
export function encodePresignatureSecret(p: Presignature): Uint8Array {
  const s = p.exportSecret();
  return head(MAGIC.presigSecret).u8(p.i).scalar(s.k).scalar(s.chi).finish();
}

export function decodePresignature(pub: Uint8Array, secret: Uint8Array): Presignature {
  const p = decodePresignaturePublic(pub);
  const r = new Reader(secret);
  readHead(r, MAGIC.presigSecret, 'presignature secret');
  const i = r.u8('i');
  const k = r.scalar('k_i');
  const chi = r.scalar('χ_i');
  r.end('presignature secret');
  return Presignature.create(p, i, { k, chi });
}
