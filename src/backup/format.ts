/**
 * The share backup: one node's key share of one wallet at one committed epoch, encrypted to the
 * operator's backup key with HPKE (RFC 9180, base mode) so it can be copied off-site; nothing
 * secret is in the clear. The file is JSON:
 *
 *   { "header": {…public data…}, "enc": base64, "ciphertext": base64 }
 *
 * The header is the share's public data (the group's public key Y, every party's public share
 * X_j, t, n, the party's index and id, the wallet, the epochs); it is the AEAD's associated data,
 * so it cannot be changed or moved to another file without the opening failing. The plaintext is
 * x_i (32 bytes, big-endian). The suite follows the key: DHKEM(X25519, HKDF-SHA256) or
 * DHKEM(P-256, HKDF-SHA256), with HKDF-SHA256 and AES-256-GCM.
 *
 * No I/O: the node writes the files (node/backup.ts), the recovery command reads them.
 * @module
 */
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { Aes256Gcm, CipherSuite, DhkemP256HkdfSha256, DhkemX25519HkdfSha256, HkdfSha256 } from '@hpke/core';
import { z } from 'zod';
import { bytesToNumberBE, numberToBytesBE } from '@noble/curves/utils.js';
import type { KeyShare } from '../protocol/keyshare.js';
import { Point } from '../curve/secp256k1.js';

export const BACKUP_FORMAT = 'mpc-engine/share-backup/v1';
/** HPKE `info`: binds every backup to this product and format version */
const INFO = new TextEncoder().encode(BACKUP_FORMAT);

export type BackupKem = 'X25519' | 'P-256';

/** The backup key's public half: its KEM and its serialized form (RFC 9180 SerializePublicKey). */
export interface BackupPublicKey {
  readonly kem: BackupKem;
  readonly bytes: Uint8Array;
}

function suite(kem: BackupKem): CipherSuite {
  return new CipherSuite({
    kem: kem === 'X25519' ? new DhkemX25519HkdfSha256() : new DhkemP256HkdfSha256(),
    kdf: new HkdfSha256(),
    aead: new Aes256Gcm(),
  });
}

const hexString = (bytes: number) => z.string().regex(new RegExp(`^[0-9a-f]{${bytes * 2}}$`));
const compressedPoint = hexString(33);

export const backupHeaderSchema = z.strictObject({
  format: z.literal(BACKUP_FORMAT),
  curve: z.literal('secp256k1'),
  kem: z.enum(['X25519', 'P-256']),
  walletId: z.string().min(1).max(128),
  /** the key share's epoch (0 at keygen, + 1 per refresh) */
  epoch: z.number().int().min(0),
  /** the node that wrote it and its party index (evaluation point index + 1) */
  nodeId: z.string().min(1).max(64),
  index: z.number().int().min(0).max(254),
  t: z.number().int().min(1).max(255),
  n: z.number().int().min(2).max(255),
  /** the group's public key Y and every party's public share X_j, compressed SEC1 (hex) */
  publicKey: compressedPoint,
  publicShares: z.array(compressedPoint).min(2).max(255),
  /** when the backup was written (ISO 8601): informative */
  written: z.string().max(64),
});
export type BackupHeader = z.infer<typeof backupHeaderSchema>;

const fileSchema = z.strictObject({
  header: backupHeaderSchema,
  enc: z.base64().max(200),
  ciphertext: z.base64().max(200),
});

export interface BackupFile {
  readonly header: BackupHeader;
  readonly enc: string;
  readonly ciphertext: string;
}

const aad = (h: BackupHeader): Uint8Array => new TextEncoder().encode(JSON.stringify(h));

/** The header of a share's backup (public data only). */
export function backupHeader(
  share: KeyShare,
  o: { walletId: string; epoch: number; nodeId: string; kem: BackupKem; written?: Date },
): BackupHeader {
  const p = share.public;
  return {
    format: BACKUP_FORMAT,
    curve: 'secp256k1',
    kem: o.kem,
    walletId: o.walletId,
    epoch: o.epoch,
    nodeId: o.nodeId,
    index: p.i,
    t: p.t,
    n: p.n,
    publicKey: p.Y.toHex(true),
    publicShares: p.X.map((X) => X.toHex(true)),
    written: (o.written ?? new Date()).toISOString(),
  };
}

/** Encrypt `share`'s x_i to the backup key; the header travels in the clear, authenticated. */
export async function sealBackup(header: BackupHeader, share: KeyShare, to: BackupPublicKey): Promise<BackupFile> {
  if (header.kem !== to.kem) throw new RangeError('backup: the header names another KEM than the key');
  const s = suite(to.kem);
  const recipientPublicKey = await s.kem.deserializePublicKey(to.bytes);
  const x = numberToBytesBE(share.secret.x, 32);
  try {
    const { ct, enc } = await s.seal({ recipientPublicKey, info: INFO }, x, aad(header));
    return {
      header,
      enc: Buffer.from(enc).toString('base64'),
      ciphertext: Buffer.from(ct).toString('base64'),
    };
  } finally {
    x.fill(0);
  }
}

/** Parse a backup file's text; throws a RangeError naming what is wrong (never secret). */
export function parseBackup(text: string): BackupFile {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new RangeError('not JSON');
  }
  const r = fileSchema.safeParse(json);
  if (!r.success) throw new RangeError(`not a share backup (${z.prettifyError(r.error).slice(0, 300)})`);
  return r.data;
}

/** The backup key's private half, ready to open backups of its KEM. */
export interface BackupPrivateKey {
  readonly kem: BackupKem;
  /** RFC 9180 SerializePrivateKey form */
  readonly bytes: Uint8Array;
}

/** Decrypt a backup's x_i (the caller checks it against the header and zeroises nothing: a bigint). */
export async function openBackup(file: BackupFile, key: BackupPrivateKey): Promise<bigint> {
  if (file.header.kem !== key.kem) throw new RangeError(`sealed to a ${file.header.kem} key, not ${key.kem}`);
  const s = suite(key.kem);
  const recipientKey = await s.kem.deserializePrivateKey(key.bytes);
  let x: ArrayBuffer;
  try {
    x = await s.open(
      { recipientKey, enc: Buffer.from(file.enc, 'base64'), info: INFO },
      Buffer.from(file.ciphertext, 'base64'),
      aad(file.header),
    );
  } catch {
    throw new RangeError('cannot be opened with this key (another key, or the file was changed)');
  }
  const bytes = new Uint8Array(x);
  try {
    if (bytes.length !== 32) throw new RangeError('the sealed share is not 32 bytes');
    return bytesToNumberBE(bytes);
  } finally {
    bytes.fill(0);
  }
}

/** The points of a header, decoded (throws on a bad point). */
export function headerPoints(h: BackupHeader): { Y: Point; X: Point[] } {
  return { Y: Point.fromHex(h.publicKey), X: h.publicShares.map((x) => Point.fromHex(x)) };
}

/**
 * The backup public key from BACKUP_PUBLIC_KEY: the key itself in hex (32 bytes: X25519; 65
 * bytes, uncompressed: P-256), or a PEM public key (SPKI) of either kind.
 */
export function parseBackupPublicKey(value: string): BackupPublicKey {
  const v = value.trim();
  if (/^[0-9a-fA-F]{64}$/.test(v)) return { kem: 'X25519', bytes: Buffer.from(v, 'hex') };
  if (/^04[0-9a-fA-F]{128}$/.test(v)) return { kem: 'P-256', bytes: Buffer.from(v, 'hex') };
  if (!v.startsWith('-----BEGIN'))
    throw new RangeError('not a backup public key (hex of an X25519 or P-256 key, or PEM)');
  return publicFromKeyObject(createPublicKey(v));
}

/** The raw public key of an X25519 or P-256 KeyObject (public or private). */
export function publicFromKeyObject(k: KeyObject): BackupPublicKey {
  const jwk = (k.type === 'private' ? createPublicKey(k) : k).export({ format: 'jwk' });
  if (k.asymmetricKeyType === 'x25519') return { kem: 'X25519', bytes: Buffer.from(jwk.x as string, 'base64url') };
  if (k.asymmetricKeyType === 'ec' && jwk.crv === 'P-256')
    return {
      kem: 'P-256',
      bytes: Buffer.concat([
        Buffer.from([4]),
        Buffer.from(jwk.x as string, 'base64url'),
        Buffer.from(jwk.y as string, 'base64url'),
      ]),
    };
  throw new RangeError('the backup key must be X25519 or P-256');
}

/** The private backup key from its PEM (PKCS#8, as `openssl genpkey -algorithm X25519` writes it). */
export function parseBackupPrivateKey(pem: string): BackupPrivateKey {
  const k = createPrivateKey(pem);
  const { kem } = publicFromKeyObject(k);
  return { kem, bytes: Buffer.from(k.export({ format: 'jwk' }).d as string, 'base64url') };
}
