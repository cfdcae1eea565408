/**
 * The quarantine's embedded journal: a JSON-lines file in the coordinator's data directory, one
 * record per line, appended and fsynced (docs/architecture.md, durability rule 6). A record's id
 * is its line number.
 *
 * Two processes append to it: the coordinator that owns the directory and the operator's release
 * command. A release is one short line written in a single append, which the kernel places whole
 * after the other lines; the coordinator notices it by watching the file. A torn last line (a
 * crash mid-append) is cut only by the owner at open (`repair`): cut at any other time, it could
 * be a line another process is writing at that moment. Nothing is ever appended onto an
 * incomplete line (the two would merge into one unreadable line); such an append is refused.
 * @module
 */
import { watchFile, unwatchFile } from 'node:fs';
import { open, readFile, truncate } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ensureDir, errorCode, fsyncDir } from '../../util/durable-file.js';
import { parseEntry, type JournalRecord, type QuarantineEntry, type QuarantineJournal } from './quarantine-journal.js';

export interface FileJournalOptions {
  /** cut a torn last line at open (default true): only the file's owner may (see above) */
  readonly repair?: boolean;
}

export class FileQuarantineJournal implements QuarantineJournal {
  private listener: (() => void) | undefined;

  private constructor(readonly path: string) {}

  static async open(path: string, o: FileJournalOptions = {}): Promise<FileQuarantineJournal> {
    await ensureDir(dirname(path), 0o700);
    if (o.repair ?? true) await repairTornTail(path);
    return new FileQuarantineJournal(path);
  }

  get location(): string {
    return this.path;
  }

  async readSince(after: number): Promise<JournalRecord[]> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (e) {
      if (errorCode(e) === 'ENOENT') return [];
      throw e;
    }
    const lines = text.split('\n');
    lines.pop(); // after the last newline: empty, or a torn line
    const records: JournalRecord[] = [];
    lines.forEach((line, k) => {
      if (k + 1 <= after || line.trim() === '') return;
      const entry = parseEntry(safeJson(line));
      if (entry === undefined) throw new Error(`${this.path}: a line is not a quarantine record`);
      records.push({ id: k + 1, entry });
    });
    return records;
  }

  async append(after: number, decide: (fresh: readonly JournalRecord[]) => QuarantineEntry[]): Promise<void> {
    const entries = decide(await this.readSince(after));
    if (entries.length === 0) return;
    const fh = await open(this.path, 'a+', 0o600); // a+: the tail check below reads
    let created: boolean;
    try {
      const size = (await fh.stat()).size;
      created = size === 0;
      if (size > 0) {
        const last = Buffer.alloc(1);
        await fh.read(last, 0, 1, size - 1);
        if (last[0] !== 0x0a)
          throw new Error(`${this.path} ends in an incomplete line (a write in progress?): try again`);
      }
      await fh.write(entries.map((e) => JSON.stringify(e) + '\n').join(''));
      await fh.sync();
    } finally {
      await fh.close();
    }
    if (created) await fsyncDir(dirname(this.path));
  }

  watch(changed: () => void): void {
    if (this.listener) return;
    this.listener = changed;
    watchFile(this.path, { interval: 1_000, persistent: false }, changed);
  }

  close(): void {
    // this journal's listener only: other readers of the same file in this process keep theirs
    if (this.listener) unwatchFile(this.path, this.listener);
    this.listener = undefined;
  }
}

/** A crash mid-append leaves a line without its newline: cut it, so the next append starts clean. */
async function repairTornTail(path: string): Promise<void> {
  let text: Buffer;
  try {
    text = await readFile(path);
  } catch (e) {
    if (errorCode(e) === 'ENOENT') return;
    throw e;
  }
  if (text.length === 0 || text[text.length - 1] === 0x0a) return;
  await truncate(path, text.lastIndexOf(0x0a) + 1);
}

function safeJson(line: string): unknown {
  try {
    return JSON.parse(line);
  } catch {
    return undefined;
  }
}
