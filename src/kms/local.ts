/**
 * The local file-based KMS (development and single-host deployments): one master key per node,
 * 32 random bytes in `<root>/<nodeId>/master.key` (root is COORDINATOR_LOCAL_KMS_PATH, `.kmsNodes`
 * by default), file mode 0600 in a 0700 directory, created on first use. Data keys are wrapped with
 * AES-256-GCM under a key-encryption key derived from the master key by HKDF, with the canonical
 * encryption context as AAD.
 *
 * Wrapped blob: LOCAL_BLOB in ./blob.ts (the key id, the IV and the sealed data key; the header
 * before the IV is authenticated with the context). The key id is an HKDF fingerprint of the master key. Rotation (`rotateLocalKms`) moves the
 * current key to `retired/<key id>.key` and makes a fresh `master.key`; retired keys still unwrap
 * the blobs that name them until the re-wrap command has moved every record to the new key. After
 * that, `removeRetiredLocalKey` deletes a retired key, and only if a count of the blobs still
 * wrapped under it (the caller scans every record) is zero.
 * @module
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { open, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import {
  createFileExclusive,
  ensureDir,
  errorCode,
  removeFileDurable,
  removeStaleTemps,
  writeFileAtomic,
} from '../util/durable-file.js';
import { GCM_IV, LOCAL_BLOB, MAX_DATA_KEY, MIN_DATA_KEY } from './blob.js';
import { encodeContext, type EncryptionContext, type Kms, KmsError } from './kms.js';

export interface LocalKmsOptions {
  /** Directory holding one sub-directory per node (COORDINATOR_LOCAL_KMS_PATH). */
  root: string;
  /** The node whose master key to use; [A-Za-z0-9_-], at most 64 characters. */
  nodeId: string;
}

const NODE_ID = /^[A-Za-z0-9_-]{1,64}$/;
const MASTER_KEY_BYTES = 32;
const KEY_ID_BYTES = 8;

/** Open (creating on first use) the master key of one node. */
export async function openLocalKms(options: LocalKmsOptions): Promise<LocalKms> {
  if (!NODE_ID.test(options.nodeId)) throw new RangeError('nodeId must be 1 to 64 characters of [A-Za-z0-9_-]');
  const dir = join(options.root, options.nodeId);
  await ensureDir(dir, 0o700);
  await removeStaleTemps(dir); // a starter that crashed before publishing its candidate key
  const path = join(dir, 'master.key');
  let master = await readMasterKey(path);
  if (master === undefined) {
    const fresh = randomBytes(MASTER_KEY_BYTES);
    try {
      // Two starters may race here: exactly one file wins, and both then read that one.
      await createFileExclusive(path, fresh, 0o600);
    } finally {
      fresh.fill(0);
    }
    master = await readMasterKey(path);
    if (master === undefined)
      throw new KmsError('bad-key-file', `master key of node ${options.nodeId} vanished while being created`);
  }
  try {
    const kms = new LocalKms(options.nodeId, derive(master, 'key-id', KEY_ID_BYTES), derive(master, 'wrap', 32));
    await loadRetired(kms, join(dir, 'retired'));
    return kms;
  } finally {
    master.fill(0);
  }
}

const RETIRED_NAME = /^([0-9a-f]{16})\.key$/;

/** Add the retired keys (`retired/<key id>.key`, each checked against its name) for unwrapping. */
async function loadRetired(kms: LocalKms, dir: string): Promise<void> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (e) {
    if (errorCode(e) === 'ENOENT') return;
    throw e;
  }
  for (const name of names) {
    const m = RETIRED_NAME.exec(name);
    if (!m) continue;
    const key = await readMasterKey(join(dir, name));
    if (key === undefined) continue;
    try {
      const id = derive(key, 'key-id', KEY_ID_BYTES);
      if (id.toString('hex') !== m[1])
        throw new KmsError('bad-key-file', `${join(dir, name)} does not hold key ${m[1]}`);
      kms.addRetired(m[1], derive(key, 'wrap', 32));
    } finally {
      key.fill(0);
    }
  }
}

/**
 * Start a rotation: keep the current master key as `retired/<key id>.key`, then replace
 * `master.key` with a fresh one. Both steps are durable and the order makes a crash harmless: the
 * retired copy exists before the current key is replaced, and rerunning after a crash between the
 * two finds the copy already there. Returns the old and new key ids; re-wrap the records next.
 */
export async function rotateLocalKms(options: LocalKmsOptions): Promise<{ retired: string; current: string }> {
  const old = await openLocalKms(options); // creates the key on first use, checks permissions
  await old.close();
  const dir = join(options.root, options.nodeId);
  const master = await readMasterKey(join(dir, 'master.key'));
  if (master === undefined)
    throw new KmsError('bad-key-file', `master key of node ${options.nodeId} vanished during rotation`);
  const fresh = randomBytes(MASTER_KEY_BYTES);
  try {
    const retiredId = derive(master, 'key-id', KEY_ID_BYTES).toString('hex');
    await ensureDir(join(dir, 'retired'), 0o700);
    const retiredPath = join(dir, 'retired', `${retiredId}.key`);
    if (!(await createFileExclusive(retiredPath, master, 0o600))) {
      const existing = await readMasterKey(retiredPath);
      const same = existing !== undefined && existing.equals(master);
      existing?.fill(0);
      if (!same) throw new KmsError('bad-key-file', `${retiredPath} exists and holds another key`);
    }
    await writeFileAtomic(join(dir, 'master.key'), fresh, 0o600);
    return { retired: retiredId, current: derive(fresh, 'key-id', KEY_ID_BYTES).toString('hex') };
  } finally {
    master.fill(0);
    fresh.fill(0);
  }
}

/** A retired key is still needed: `records` stored blobs are wrapped under it. */
export class RetiredKeyInUseError extends Error {
  override readonly name = 'RetiredKeyInUseError';
  constructor(
    readonly keyId: string,
    readonly records: number,
  ) {
    super(`retired master key ${keyId} still wraps ${records} record(s); re-wrap them first (npm run kms:rewrap)`);
  }
}

const KEY_ID = /^[0-9a-f]{16}$/;

/** The ids of the node's retired master keys (`retired/<key id>.key`), sorted. */
export async function listRetiredLocalKeys(options: LocalKmsOptions): Promise<string[]> {
  if (!NODE_ID.test(options.nodeId)) throw new RangeError('nodeId must be 1 to 64 characters of [A-Za-z0-9_-]');
  let names: string[];
  try {
    names = await readdir(join(options.root, options.nodeId, 'retired'));
  } catch (e) {
    if (errorCode(e) === 'ENOENT') return [];
    throw e;
  }
  return names.flatMap((n) => RETIRED_NAME.exec(n)?.[1] ?? []).sort();
}

/**
 * Delete one retired master key for good. Irreversible: a blob still wrapped under it could never
 * be opened again, so the caller must say how many are (`countUses`, which scans every stored
 * blob of the node with the node stopped) and nothing is deleted unless that count is zero. Also
 * refuses the current key (a rotation interrupted before `master.key` was replaced leaves the
 * current key's copy under retired/: rerun the rotation instead) and a file that does not hold
 * the key its name says. The file is unlinked durably; whether its bytes survive on the medium
 * is the file system's business (copies in old backups are the operator's).
 * @throws RetiredKeyInUseError if `countUses` found blobs under the key; KmsError bad-key-file or
 *   unknown-key for a current, mismatched or absent key
 */
export async function removeRetiredLocalKey(
  options: LocalKmsOptions,
  keyId: string,
  countUses: (keyId: string) => Promise<number>,
): Promise<void> {
  if (!NODE_ID.test(options.nodeId)) throw new RangeError('nodeId must be 1 to 64 characters of [A-Za-z0-9_-]');
  if (!KEY_ID.test(keyId)) throw new RangeError('a local master key id is 16 lower-case hex digits');
  const dir = join(options.root, options.nodeId);
  const path = join(dir, 'retired', `${keyId}.key`);
  const key = await readMasterKey(path);
  if (key === undefined) throw new KmsError('unknown-key', `node ${options.nodeId} has no retired master key ${keyId}`);
  try {
    if (derive(key, 'key-id', KEY_ID_BYTES).toString('hex') !== keyId)
      throw new KmsError('bad-key-file', `${path} does not hold key ${keyId}`);
  } finally {
    key.fill(0);
  }
  const master = await readMasterKey(join(dir, 'master.key'));
  try {
    if (master !== undefined && derive(master, 'key-id', KEY_ID_BYTES).toString('hex') === keyId) {
      throw new KmsError(
        'bad-key-file',
        `${keyId} is the current master key of node ${options.nodeId} (an interrupted rotation): rerun the rotation, not a removal`,
      );
    }
  } finally {
    master?.fill(0);
  }
  const uses = await countUses(keyId);
  if (!Number.isSafeInteger(uses) || uses < 0) throw new RangeError('countUses must return a count');
  if (uses > 0) throw new RetiredKeyInUseError(keyId, uses);
  await removeFileDurable(path);
}

function derive(master: Buffer, label: string, length: number): Buffer {
  return Buffer.from(hkdfSync('sha256', master, new Uint8Array(0), `mpc-engine/v1/kms/local/${label}`, length));
}

/** The master key, or undefined if the file does not exist. Refuses a short file or loose permissions. */
async function readMasterKey(path: string): Promise<Buffer | undefined> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    if (errorCode(e) === 'ENOENT') return undefined;
    throw e;
  }
  try {
    const st = await fh.stat();
    if (!st.isFile() || st.size !== MASTER_KEY_BYTES)
      throw new KmsError('bad-key-file', `${path} is not a ${MASTER_KEY_BYTES}-byte key file`);
    if (process.platform !== 'win32' && (st.mode & 0o077) !== 0) {
      throw new KmsError(
        'insecure-key-file',
        `${path} is readable or writable by group or others (mode ${(st.mode & 0o777).toString(8)}); chmod 600 it`,
      );
    }
    const key = Buffer.alloc(MASTER_KEY_BYTES);
    const { bytesRead } = await fh.read(key, 0, MASTER_KEY_BYTES, 0);
    if (bytesRead !== MASTER_KEY_BYTES) {
      key.fill(0);
      throw new KmsError('bad-key-file', `${path} is not a ${MASTER_KEY_BYTES}-byte key file`);
    }
    return key;
  } finally {
    await fh.close();
  }
}

export class LocalKms implements Kms {
  readonly name = 'local';
  readonly keyId: string;
  /** Key-encryption keys by key id: the current one and any retired ones (unwrap only). */
  readonly #keks = new Map<string, Buffer>();
  readonly #idBytes: Buffer;

  /** Use openLocalKms. */
  constructor(
    readonly nodeId: string,
    keyId: Buffer,
    kek: Buffer,
  ) {
    this.#idBytes = Buffer.from(keyId);
    this.keyId = keyId.toString('hex');
    this.#keks.set(this.keyId, kek);
  }

  /** @internal openLocalKms adds retired keys; they unwrap old blobs, never wrap new ones. */
  addRetired(keyId: string, kek: Buffer): void {
    if (!this.#keks.has(keyId)) this.#keks.set(keyId, kek);
    else kek.fill(0);
  }

  async wrapKey(dataKey: Uint8Array, context: EncryptionContext): Promise<Uint8Array> {
    if (!(dataKey instanceof Uint8Array) || dataKey.length < MIN_DATA_KEY || dataKey.length > MAX_DATA_KEY) {
      throw new RangeError(`dataKey must be ${MIN_DATA_KEY} to ${MAX_DATA_KEY} bytes`);
    }
    const kek = this.#kek(this.keyId);
    const fields = { keyId: this.#idBytes, dataKeyLength: dataKey.length };
    const iv = randomBytes(GCM_IV);
    const cipher = createCipheriv('aes-256-gcm', kek, iv);
    cipher.setAAD(Buffer.concat([LOCAL_BLOB.header(fields), encodeContext(context)]));
    const sealed = Buffer.concat([cipher.update(dataKey), cipher.final(), cipher.getAuthTag()]);
    return LOCAL_BLOB.encode({ ...fields, iv, sealed });
  }

  async unwrapKey(wrapped: Uint8Array, context: EncryptionContext): Promise<Uint8Array> {
    const blob = LOCAL_BLOB.decode(wrapped);
    const n = blob.dataKeyLength;
    const kek = this.#kek(Buffer.from(blob.keyId).toString('hex'));
    const decipher = createDecipheriv('aes-256-gcm', kek, blob.iv);
    decipher.setAAD(Buffer.concat([blob.header, encodeContext(context)]));
    decipher.setAuthTag(blob.sealed.subarray(n));
    const out = decipher.update(blob.sealed.subarray(0, n));
    try {
      decipher.final();
    } catch {
      out.fill(0); // unauthenticated output
      throw new KmsError(
        'unwrap-failed',
        'wrapped key did not authenticate: another encryption context, another master key, or tampered',
      );
    }
    return out;
  }

  keyIdOf(wrapped: Uint8Array): string {
    return Buffer.from(LOCAL_BLOB.decode(wrapped).keyId).toString('hex');
  }

  async close(): Promise<void> {
    for (const k of this.#keks.values()) k.fill(0);
    this.#keks.clear();
  }

  #kek(keyId: string): Buffer {
    const kek = this.#keks.get(keyId);
    if (kek !== undefined) return kek;
    if (this.#keks.size === 0) throw new KmsError('closed', 'local KMS is closed');
    throw new KmsError('unknown-key', `master key ${keyId} of node ${this.nodeId} is not available`);
  }
}
