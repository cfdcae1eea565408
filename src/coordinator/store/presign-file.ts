/**
 * The embedded presignature inventory: `MemoryInventory`'s state, journalled to a JSON-lines file
 * in the coordinator's data directory (`presignatures.jsonl`), so a restarted coordinator signs
 * with the presignatures the nodes still hold instead of orphaning them.
 *
 * Durability, and why it is enough: an entry's line is fsynced before the entry counts as stocked
 * (it cost seconds of compute; a millisecond of fsync is nothing beside it). A claim's line is
 * written before the entry is handed out but not fsynced (the warm sign path stays free of disk
 * flushes): a process crash keeps it (the kernel has it), and a power failure at worst offers a used
 * presignature again after the restart, which its signers refuse (`presignature-used`, their
 * markers are durable) and the pool drops. Safety never rests on this file.
 *
 * The file is rewritten at open with the ready entries only (write to a temporary file, fsync,
 * rename), and again once the lines of claimed and discarded entries outnumber the live ones
 * several times over, so it stays the size of the stock. A torn last line (a crash mid-append) is
 * ignored. One process writes it: the coordinator that owns the data directory.
 * @module
 */
import { open, readFile, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { z } from 'zod';
import { ensureDir, errorCode, fsyncDir, writeFileAtomic } from '../../util/durable-file.js';
import { silentLogger, type Logger } from '../../util/log.js';
import { entryFromJson, entryToJson, MemoryInventory, type JournalChange } from './presign-inventory.js';

const lineSchema = z.discriminatedUnion('op', [
  z.object({ op: z.literal('add'), entry: z.unknown() }),
  z.object({ op: z.literal('claimed'), entry: z.unknown() }),
  z.object({ op: z.literal('claim'), id: z.string().regex(/^[0-9a-f]{1,128}$/) }),
  z.object({ op: z.literal('discard'), ids: z.array(z.string().regex(/^[0-9a-f]{1,128}$/)).max(1_000_000) }),
]);

/** Compact once dead lines exceed this many and four times the live ones. */
const COMPACT_MIN_DEAD = 10_000;

export class FileInventory extends MemoryInventory {
  private fh: FileHandle | undefined;
  private writes: Promise<void> = Promise.resolve();
  private lines = 0;
  private closed = false;
  private readonly log: Logger;

  private constructor(
    readonly path: string,
    log: Logger,
  ) {
    super(path);
    this.log = log;
  }

  /**
   * Opens the journal (creating it if needed), rebuilds the ready entries and rewrites the file
   * with them. A line that is not a journal record is logged and dropped: an entry lost here costs
   * compute (the nodes' presignature stays unused until they expire it), never safety.
   */
  static async open(path: string, o: { log?: Logger } = {}): Promise<FileInventory> {
    const inv = new FileInventory(path, o.log ?? silentLogger());
    await ensureDir(dirname(path), 0o700);
    let text = '';
    try {
      text = await readFile(path, 'utf8');
    } catch (e) {
      if (errorCode(e) !== 'ENOENT') throw e;
    }
    const lines = text.split('\n');
    const torn = lines.pop(); // after the last newline: empty, or a torn line
    if (torn) inv.log.warn({ path }, 'presignature inventory: a torn last line was ignored');
    lines.forEach((line, k) => {
      if (line.trim() === '') return;
      try {
        inv.replay(lineSchema.parse(JSON.parse(line)));
      } catch (e) {
        // what it described is lost to this coordinator, never to safety: the line is dropped
        inv.log.error(
          { path, line: k + 1, err: (e as Error).message },
          'presignature inventory: not a record; ignored',
        );
      }
    });
    await inv.compact();
    inv.fh = await open(path, 'a', 0o600);
    return inv;
  }

  override async close(): Promise<void> {
    await this.writes;
    this.closed = true;
    await this.fh?.close();
    this.fh = undefined;
  }

  protected override journal(change: JournalChange): Promise<void> {
    const line =
      change.op === 'add' || change.op === 'claimed'
        ? { op: change.op, entry: entryToJson(change.entry, change.entry.createdAt) }
        : change;
    const durable = change.op === 'add';
    const write = this.writes.then(async () => {
      if (this.closed) throw new Error('presignature inventory closed');
      // opened again here when the reopen after a compaction failed
      const fh = this.fh ?? (this.fh = await open(this.path, 'a', 0o600));
      await fh.write(JSON.stringify(line) + '\n');
      if (durable) await fh.sync();
      this.lines++;
      const live = [...this.ready.values()].reduce((n, l) => n + l.length, 0);
      if (this.lines - live > COMPACT_MIN_DEAD && this.lines > 5 * live) await this.compactRunning(live);
    });
    // a failed write fails its caller; the next write still runs
    this.writes = write.catch((e: unknown) =>
      this.log.error({ err: (e as Error).message }, 'presignature inventory: journal write failed'),
    );
    return write;
  }

  private replay(line: z.infer<typeof lineSchema>): void {
    switch (line.op) {
      case 'add':
      case 'claimed': {
        const entry = entryFromJson(line.entry);
        // An id is admitted once, in replay too: a compaction that ran while an add's line was
        // queued already wrote the entry, and its own line follows. Pushed twice, it would be handed
        // out twice after a restart, and its signers' refusal of the second offer drops every
        // sibling of its state.
        if (this.seen.has(entry.id)) return;
        this.remember(entry.id);
        if (line.op === 'add') this.push(entry);
        return;
      }
      case 'claim':
        this.removeIds(new Set([line.id]));
        return;
      case 'discard':
        this.removeIds(new Set(line.ids));
        return;
    }
  }

  private removeIds(ids: ReadonlySet<string>): void {
    for (const [k, list] of this.ready) {
      const kept = list.filter((e) => !ids.has(e.id));
      if (kept.length === 0) this.ready.delete(k);
      else if (kept.length !== list.length) this.ready.set(k, kept);
    }
  }

  /**
   * The compaction while running. It only saves space: if it fails (a full disk), the journal as it
   * stands is still complete, so appends go on to it and the next try waits for as many dead lines
   * again. Letting the failure stand would leave no file to append to, and every claim and add
   * after it would fail until a restart: no signing from the pool and none on demand either.
   */
  private async compactRunning(live: number): Promise<void> {
    await this.fh?.close().catch(() => undefined);
    this.fh = undefined;
    try {
      await this.compact();
    } catch (e) {
      this.lines = live;
      this.log.error({ path: this.path, err: (e as Error).message }, 'presignature inventory: compaction failed');
    }
    this.fh = await open(this.path, 'a', 0o600).catch((e: unknown) => {
      this.log.error({ path: this.path, err: (e as Error).message }, 'presignature inventory: not reopened yet');
      return undefined;
    });
  }

  /** Rewrites the file with the ready entries only. */
  private async compact(): Promise<void> {
    const live = [...this.ready.values()].flat();
    const text = live.map((e) => JSON.stringify({ op: 'add', entry: entryToJson(e, e.createdAt) }) + '\n').join('');
    await writeFileAtomic(this.path, new TextEncoder().encode(text));
    await fsyncDir(dirname(this.path));
    this.lines = live.length;
  }
}
