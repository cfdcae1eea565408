/**
 * Record encryption (docs/architecture.md, durability rule 3): each record gets a fresh 256-bit data key,
 * the plaintext is encrypted with AES-256-GCM, and the data key is wrapped by the node's KMS. Both
 * layers bind the record's context (node id, record kind, record id — the wallet id for a key share —
 * and the format version), so a record copied to another node, or renamed to another kind or id,
 * is refused rather than decrypted into the wrong place.
 *
 * Format, version 1 (everything before the ciphertext is the header, authenticated as AAD):
 *   "MPCR" | version u8 | node id, kind, record id, KMS name (each u8 length + ASCII)
 *   | wrapped data key (u16 length + bytes) | IV (12) | ciphertext length u32 | ciphertext | tag (16)
 * The context is stored in clear so a misplaced record gets a clear error before any cryptography;
 * the AAD makes editing it useless.
 * @module
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { encodeContext, type EncryptionContext, type Kms, KmsError } from '../../kms/kms.js';
import { StorageError } from './errors.js';

export const RECORD_FORMAT_VERSION = 1;
/** Largest plaintext a record holds (aux-info is a few kilobytes; this is a sanity cap). */
export const MAX_PLAINTEXT = 16 * 1024 * 1024;

const MAGIC = 'MPCR';
const IV = 12;
const TAG = 16;
const DATA_KEY = 32;
const NAME = /^[A-Za-z0-9_-]{1,128}$/;

/** Where a record belongs. All three are public identifiers. */
export interface RecordContext {
  nodeId: string;
  kind: string;
  id: string;
}

const describe = (c: RecordContext): string => `${c.nodeId}/${c.kind}/${c.id}`;

function checkContext(c: RecordContext): void {
  for (const [k, v] of [
    ['nodeId', c.nodeId],
    ['kind', c.kind],
    ['id', c.id],
  ] as const) {
    if (typeof v !== 'string' || !NAME.test(v))
      throw new StorageError(
        k === 'id' ? 'invalid-id' : 'invalid-kind',
        `${k} must be 1 to 128 characters of [A-Za-z0-9_-]`,
      );
  }
}

/** What the KMS binds to the wrapped data key. */
function kmsContext(c: RecordContext): EncryptionContext {
  return {
    purpose: 'mpc-engine/record',
    format: String(RECORD_FORMAT_VERSION),
    node: c.nodeId,
    kind: c.kind,
    id: c.id,
  };
}

function short(s: string): Buffer {
  const b = Buffer.from(s, 'latin1');
  return Buffer.concat([Uint8Array.of(b.length), b]);
}

/** Encrypt a record for `ctx`. The caller still owns (and should zeroise) `plaintext`. */
export async function sealRecord(kms: Kms, ctx: RecordContext, plaintext: Uint8Array): Promise<Uint8Array> {
  checkContext(ctx);
  if (!(plaintext instanceof Uint8Array)) throw new TypeError('plaintext must be a Uint8Array');
  if (plaintext.length > MAX_PLAINTEXT)
    throw new StorageError('too-large', `record ${describe(ctx)} exceeds ${MAX_PLAINTEXT} bytes`);
  const dataKey = randomBytes(DATA_KEY);
  try {
    const wrapped = await kms.wrapKey(dataKey, kmsContext(ctx));
    if (wrapped.length > 0xffff) throw new StorageError('too-large', 'wrapped data key exceeds 65535 bytes');
    const iv = randomBytes(IV);
    const ctLen = Buffer.alloc(4);
    ctLen.writeUInt32BE(plaintext.length);
    const header = Buffer.concat([
      Buffer.from(MAGIC, 'latin1'),
      Uint8Array.of(RECORD_FORMAT_VERSION),
      short(ctx.nodeId),
      short(ctx.kind),
      short(ctx.id),
      short(kms.name),
      Uint8Array.of(wrapped.length >> 8, wrapped.length & 0xff),
      wrapped,
      iv,
      ctLen,
    ]);
    const cipher = createCipheriv('aes-256-gcm', dataKey, iv);
    cipher.setAAD(Buffer.concat([encodeContext(kmsContext(ctx)), header]));
    const ct = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    return Buffer.concat([header, ct, cipher.getAuthTag()]);
  } finally {
    dataKey.fill(0);
  }
}

interface Parsed {
  stored: RecordContext;
  provider: string;
  wrapped: Buffer;
  iv: Buffer;
  header: Buffer;
  ciphertext: Buffer;
  tag: Buffer;
}

function parse(b: Buffer): Parsed {
  let at = 0;
  const take = (n: number): Buffer => {
    if (at + n > b.length) throw new StorageError('malformed', 'record is truncated');
    const s = b.subarray(at, at + n);
    at += n;
    return s;
  };
  const u8 = (): number => take(1)[0] as number;
  const str = (): string => take(u8()).toString('latin1');
  if (take(4).toString('latin1') !== MAGIC) throw new StorageError('malformed', 'not an encrypted record');
  const version = u8();
  if (version !== RECORD_FORMAT_VERSION)
    throw new StorageError('unsupported-version', `unsupported record format version ${version}`);
  const stored = { nodeId: str(), kind: str(), id: str() };
  const provider = str();
  // These end up in error messages: keep them to plain names.
  if (![stored.nodeId, stored.kind, stored.id, provider].every((s) => NAME.test(s)))
    throw new StorageError('malformed', 'record header holds an invalid name');
  const wrapped = take(take(2).readUInt16BE(0));
  const iv = take(IV);
  const ctLen = take(4).readUInt32BE(0);
  const header = b.subarray(0, at);
  const ciphertext = take(ctLen);
  const tag = take(TAG);
  if (at !== b.length) throw new StorageError('malformed', 'record has trailing bytes');
  return { stored, provider, wrapped, iv, header, ciphertext, tag };
}

/** The context a record claims in its header (public; not yet authenticated). */
export function recordContextOf(sealed: Uint8Array): RecordContext {
  return parse(Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength)).stored;
}

/** The KMS-wrapped data key of a record and the provider that wrapped it (public; for re-wrapping). */
export function wrappedKeyOf(sealed: Uint8Array): { provider: string; wrapped: Uint8Array } {
  const p = parse(Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength));
  return { provider: p.provider, wrapped: p.wrapped };
}

/**
 * Decrypt a record expected at `ctx`. Throws StorageError 'context-mismatch' for a record that
 * belongs elsewhere, 'authentication' for any tampering, 'malformed'/'unsupported-version' for
 * bytes that are not a record. The caller zeroises the returned plaintext after use.
 */
export async function openRecord(kms: Kms, ctx: RecordContext, sealed: Uint8Array): Promise<Uint8Array> {
  checkContext(ctx);
  const p = parse(Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength));
  const s = p.stored;
  if (s.nodeId !== ctx.nodeId || s.kind !== ctx.kind || s.id !== ctx.id) {
    throw new StorageError(
      'context-mismatch',
      `record for ${describe(s)} cannot be opened as ${describe(ctx)}: it was moved or copied from another node, kind or id`,
    );
  }
  if (p.provider !== kms.name)
    throw new StorageError(
      'wrong-provider',
      `record ${describe(ctx)} was sealed by KMS "${p.provider}", not "${kms.name}"`,
    );
  const failed = (cause?: unknown): StorageError =>
    new StorageError(
      'authentication',
      `record ${describe(ctx)} failed authentication: tampered, or sealed under another node's key`,
      cause === undefined ? undefined : { cause },
    );
  let dataKey: Uint8Array;
  try {
    dataKey = await kms.unwrapKey(p.wrapped, kmsContext(ctx));
  } catch (e) {
    if (e instanceof KmsError && (e.code === 'unwrap-failed' || e.code === 'malformed')) throw failed(e);
    throw e;
  }
  try {
    if (dataKey.length !== DATA_KEY) throw failed();
    const decipher = createDecipheriv('aes-256-gcm', dataKey, p.iv);
    decipher.setAAD(Buffer.concat([encodeContext(kmsContext(ctx)), p.header]));
    decipher.setAuthTag(p.tag);
    const out = decipher.update(p.ciphertext);
    try {
      decipher.final();
    } catch {
      out.fill(0); // never let unauthenticated plaintext escape
      throw failed();
    }
    return out;
  } finally {
    dataKey.fill(0);
  }
}
