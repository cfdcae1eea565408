/**
 * A node's durable record store: one directory per record kind, one encrypted file per record
 * (`<dir>/<kind>/<id>.rec`, mode 0600, directories 0700). Every write is atomic and durable (temp
 * file, fsync, rename or link, fsync of the directory, docs/architecture.md, durability rule 1), so a
 * crash leaves the old record or the new one, never a torn one; temporary files are invisible to
 * readers and removed on open once their writer is gone. Writers of one record serialise on a
 * per-record lock.
 * @module
 */
import { open, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Kms } from '../../kms/kms.js';
import {
  createFileExclusive,
  ensureDir,
  errorCode,
  removeFileDurable,
  removeStaleTemps,
  stageFileExclusive,
  writeFileAtomic,
  type StagedFile,
} from '../../util/durable-file.js';
import { MAX_PLAINTEXT, openRecord, sealRecord } from './envelope.js';
import { StorageError } from './errors.js';
import { KeyedLock } from './lock.js';

/**
 * keyshare: one per wallet id · aux: the node group's aux-info · presig: presignature secrets ·
 * presig-used: used-markers · sid: tombstones of runs this node confirmed (and, in stores written
 * before sid-seen existed, session ids seen) · sid-seen: session ids seen (a repeated one is
 * refused; pruned by age, retention.ts) · pending: a
 * successor state awaiting every party's confirmation · evidence: the confirmations of the last
 * committed epoch (src/node/lifecycle.ts) · archived: a wallet's records taken out of use by a
 * reconciliation, kept whole (src/node/archive.ts) · restored: the marker of a node restored from
 * a copy and not yet reconciled with its peers (src/node/restore.ts).
 */
export const RECORD_KINDS = [
  'keyshare',
  'aux',
  'presig',
  'presig-used',
  'sid',
  'sid-seen',
  'pending',
  'evidence',
  'archived',
  'restored',
] as const;
export type RecordKind = (typeof RECORD_KINDS)[number];

/** Record ids: hex or [A-Za-z0-9_-], at most 128 characters — no dots, so no path tricks. */
const ID = /^[A-Za-z0-9_-]{1,128}$/;
const SUFFIX = '.rec';
/** Header, wrapped key and tag on top of the plaintext; generous. */
const MAX_FILE = MAX_PLAINTEXT + 64 * 1024;

export interface RecordStoreOptions {
  /** This node's store directory (created 0700 if missing). */
  dir: string;
  /** Bound into every record, so records cannot move between nodes. */
  nodeId: string;
  /** The node's KMS. */
  kms: Kms;
  /**
   * The store's clock (ms since the epoch), stamped on each record as its modification time, which
   * is what retention ages records by (retention.ts). Default: the file system's own time.
   */
  clock?: () => number;
}

export function assertRecordId(id: string): void {
  if (typeof id !== 'string' || !ID.test(id))
    throw new StorageError('invalid-id', 'record id must be 1 to 128 characters of [A-Za-z0-9_-]');
}

function assertKind(kind: string): asserts kind is RecordKind {
  if (!(RECORD_KINDS as readonly string[]).includes(kind))
    throw new StorageError('invalid-kind', `unknown record kind "${String(kind).slice(0, 32)}"`);
}

export class RecordStore {
  readonly #lock = new KeyedLock();

  private constructor(
    readonly dir: string,
    readonly nodeId: string,
    private readonly kms: Kms,
    private readonly clock: (() => number) | undefined,
  ) {}

  /** Open (creating if needed) a node's store, removing temporary files left by crashed writers. */
  static async open(options: RecordStoreOptions): Promise<RecordStore> {
    if (!ID.test(options.nodeId))
      throw new StorageError('invalid-id', 'nodeId must be 1 to 128 characters of [A-Za-z0-9_-]');
    await ensureDir(options.dir, 0o700);
    for (const kind of RECORD_KINDS) {
      const d = join(options.dir, kind);
      await ensureDir(d, 0o700);
      await removeStaleTemps(d);
    }
    return new RecordStore(options.dir, options.nodeId, options.kms, options.clock);
  }

  /** The file a record lives in (for tools and tests). */
  pathOf(kind: RecordKind, id: string): string {
    assertKind(kind);
    assertRecordId(id);
    return join(this.dir, kind, id + SUFFIX);
  }

  /** Store a record, replacing any previous version; durable when the promise resolves. */
  async put(kind: RecordKind, id: string, plaintext: Uint8Array): Promise<void> {
    const path = this.pathOf(kind, id);
    await this.#lock.run(`${kind}/${id}`, async () => {
      await writeFileAtomic(
        path,
        await sealRecord(this.kms, this.#context(kind, id), plaintext),
        0o600,
        this.clock?.(),
      );
    });
  }

  /**
   * Store a record only if none exists under that id: of concurrent callers, in this process or
   * others, exactly one gets true. Durable when the promise resolves.
   */
  async create(kind: RecordKind, id: string, plaintext: Uint8Array): Promise<boolean> {
    const path = this.pathOf(kind, id);
    return this.#lock.run(`${kind}/${id}`, async () =>
      createFileExclusive(path, await sealRecord(this.kms, this.#context(kind, id), plaintext), 0o600, this.clock?.()),
    );
  }

  /**
   * create() in two steps, so that sealing the record and writing and fsyncing it can overlap other
   * work: nothing is visible until `publish()`, which has create()'s result and guarantees (the
   * exclusive step and the directory fsync, under the record's lock). Call publish() or discard()
   * exactly once.
   */
  async stageCreate(kind: RecordKind, id: string, plaintext: Uint8Array): Promise<StagedFile> {
    const path = this.pathOf(kind, id);
    const staged = await stageFileExclusive(
      path,
      await sealRecord(this.kms, this.#context(kind, id), plaintext),
      0o600,
      this.clock?.(),
    );
    return {
      publish: () => this.#lock.run(`${kind}/${id}`, () => staged.publish()),
      discard: () => staged.discard(),
    };
  }

  /**
   * A record's plaintext, or undefined if there is none. Throws StorageError if the file is not a
   * record for exactly this node, kind and id. The caller zeroises the result after use.
   */
  async get(kind: RecordKind, id: string): Promise<Uint8Array | undefined> {
    const path = this.pathOf(kind, id);
    let fh;
    try {
      fh = await open(path, 'r');
    } catch (e) {
      if (errorCode(e) === 'ENOENT') return undefined;
      throw e;
    }
    let sealed: Buffer;
    try {
      if ((await fh.stat()).size > MAX_FILE)
        throw new StorageError('too-large', `record ${kind}/${id} is larger than any record`);
      sealed = await fh.readFile();
    } finally {
      await fh.close();
    }
    return openRecord(this.kms, this.#context(kind, id), sealed);
  }

  /** Whether a record file exists (its content is not checked: a marker counts even if damaged). */
  async has(kind: RecordKind, id: string): Promise<boolean> {
    try {
      return (await stat(this.pathOf(kind, id))).isFile();
    } catch (e) {
      if (errorCode(e) === 'ENOENT') return false;
      throw e;
    }
  }

  /**
   * When a record was last written (ms since the epoch, its file's modification time: the store's
   * clock, or the file system's), or undefined if there is none. Public metadata: retention ages
   * records by it, and a wrong time only shortens or lengthens a record's life (retention.ts).
   */
  async writtenAt(kind: RecordKind, id: string): Promise<number | undefined> {
    try {
      return (await stat(this.pathOf(kind, id))).mtimeMs;
    } catch (e) {
      if (errorCode(e) === 'ENOENT') return undefined;
      throw e;
    }
  }

  /** Ids of the records of one kind, sorted; temporary and foreign files are ignored. */
  async list(kind: RecordKind): Promise<string[]> {
    assertKind(kind);
    const ids: string[] = [];
    for (const name of await readdir(join(this.dir, kind))) {
      if (!name.endsWith(SUFFIX)) continue;
      const id = name.slice(0, -SUFFIX.length);
      if (ID.test(id)) ids.push(id);
    }
    return ids.sort();
  }

  /** Remove a record durably; false if there was none. */
  async delete(kind: RecordKind, id: string): Promise<boolean> {
    const path = this.pathOf(kind, id);
    return this.#lock.run(`${kind}/${id}`, () => removeFileDurable(path));
  }

  #context(kind: RecordKind, id: string) {
    return { nodeId: this.nodeId, kind, id };
  }
}
