/**
 * Suspending nodes after cryptographic aborts (SECURITY.md A9). A failed signature must not be a
 * retryable error: a party that can make success depend on a bit of another party's secret learns
 * that bit per attempt. So an abort that names a culprit ends more than the session:
 *
 * - a *verified* offence — one the coordinator checked itself, e.g. a partial signature σ_i that
 *   fails σ_i·R = m·Δ̃_i + r·S̃_i — suspends the node until an operator releases it
 *   (`npm run quarantine -- --release <node>`);
 * - a *reported* offence — a node's abort naming another node as culprit, which the coordinator
 *   cannot check (the evidence is end-to-end encrypted, and the reporter may be the liar) —
 *   suspends the accused for a cool-down that doubles with each report in the last 24 hours
 *   (1 min, 2 min, … at most 1 h), bounding an oracle attacker to a few attempts an hour while an
 *   honest node falsely accused once is back in a minute.
 *
 * Timeouts and unreachable nodes are not offences. A suspended node takes part in no signing and
 * no presigning (the other pair still signs) and wallet creation waits for it.
 *
 * Durable: offences and releases are lines appended to a JSON-lines file (fsynced), so a restart
 * does not reset a suspension; the file is re-read when another process (the release command)
 * appends to it. A torn last line (a crash mid-append) is ignored.
 * @module
 */
import { watchFile, unwatchFile } from 'node:fs';
import { open, readFile, truncate } from 'node:fs/promises';
import { dirname } from 'node:path';
import { z } from 'zod';
import { ensureDir, errorCode, fsyncDir } from '../util/durable-file.js';
import { silentLogger, type Logger } from '../util/log.js';

const entrySchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('offence'),
    nodeId: z.string().min(1).max(64),
    protocol: z.string().max(32),
    reason: z.string().max(500),
    verified: z.boolean(),
    at: z.number().int().nonnegative(),
  }),
  z.object({ type: z.literal('release'), nodeId: z.string().min(1).max(64), at: z.number().int().nonnegative() }),
]);
type Entry = z.infer<typeof entrySchema>;

export interface Offence {
  readonly nodeId: string;
  /** keygen, aux, presign, sign */
  readonly protocol: string;
  readonly reason: string;
  /** checked by the coordinator itself (true) or reported by a node (false) */
  readonly verified: boolean;
}

export interface Suspension {
  readonly nodeId: string;
  readonly reason: string;
  readonly protocol: string;
  readonly verified: boolean;
  /** ms since the epoch */
  readonly since: number;
  /** ms since the epoch; undefined: until released */
  readonly until: number | undefined;
}

export interface QuarantineOptions {
  log?: Logger;
  now?: () => number;
  /** first cool-down of a reported offence (default 60 s) */
  baseMs?: number;
  /** longest cool-down (default 1 h) */
  maxMs?: number;
  /** reports counted within this window (default 24 h) */
  windowMs?: number;
  /** re-read the file when another process appends (default true) */
  watch?: boolean;
  /**
   * cut a torn last line at open (default true). Only the file's owner may: a process appending
   * while the coordinator runs (the release command) could otherwise cut a line the coordinator is
   * writing at that moment. Without repair, an append over a torn tail is refused.
   */
  repair?: boolean;
}

export class Quarantine {
  private entries: Entry[] = [];
  private readonly now: () => number;
  private readonly log: Logger;
  private readonly baseMs: number;
  private readonly maxMs: number;
  private readonly windowMs: number;
  private chain: Promise<unknown> = Promise.resolve();
  private watching = false;
  private readonly repairs: boolean;
  /** called when the set of suspended nodes may have changed */
  onChange: (() => void) | undefined;

  private constructor(
    readonly path: string,
    o: QuarantineOptions,
  ) {
    this.now = o.now ?? Date.now;
    this.log = o.log ?? silentLogger();
    this.baseMs = o.baseMs ?? 60_000;
    this.maxMs = o.maxMs ?? 3_600_000;
    this.windowMs = o.windowMs ?? 86_400_000;
    this.repairs = o.repair ?? true;
  }

  static async open(path: string, o: QuarantineOptions = {}): Promise<Quarantine> {
    await ensureDir(dirname(path), 0o700);
    const q = new Quarantine(path, o);
    if (q.repairs) await repairTornTail(path);
    await q.reload();
    if (o.watch ?? true) {
      q.watching = true;
      watchFile(path, { interval: 1_000, persistent: false }, () => void q.reload().then(() => q.onChange?.()).catch((e: unknown) => q.log.error({ err: (e as Error).message }, 'quarantine file unreadable')));
    }
    return q;
  }

  /** Re-read the file (complete lines only). */
  async reload(): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (e) {
      if (errorCode(e) === 'ENOENT') return;
      throw e;
    }
    const lines = text.split('\n');
    lines.pop(); // after the last newline: empty, or a torn line
    const entries: Entry[] = [];
    for (const line of lines) {
      if (line.trim() === '') continue;
      const parsed = entrySchema.safeParse(safeJson(line));
      if (!parsed.success) throw new Error(`${this.path}: a line is not a quarantine record`);
      entries.push(parsed.data);
    }
    this.entries = entries;
  }

  /** Record an offence durably; resolves once it is on disk. */
  async record(o: Offence): Promise<Suspension | undefined> {
    const entry: Entry = { type: 'offence', nodeId: o.nodeId, protocol: o.protocol.slice(0, 32), reason: o.reason.slice(0, 500), verified: o.verified, at: this.now() };
    await this.append(entry);
    const s = this.suspension(o.nodeId);
    // the end of a cool-down changes who may sign: say so when it comes
    if (s?.until !== undefined) setTimeout(() => this.onChange?.(), Math.max(0, s.until - this.now()) + 10).unref();
    this.log.error(
      { node: o.nodeId, protocol: o.protocol, reason: o.reason, verified: o.verified, until: s?.until === undefined ? 'released by an operator' : new Date(s.until).toISOString() },
      'node suspended after a cryptographic abort',
    );
    this.onChange?.();
    return s;
  }

  /** Release a node (an operator's decision); resolves once on disk. */
  async release(nodeId: string): Promise<void> {
    await this.append({ type: 'release', nodeId, at: this.now() });
    this.onChange?.();
  }

  isSuspended(nodeId: string): boolean {
    return this.suspension(nodeId) !== undefined;
  }

  /** Every node suspended now. */
  suspended(): Suspension[] {
    const ids = new Set(this.entries.map((e) => e.nodeId));
    return [...ids].flatMap((id) => {
      const s = this.suspension(id);
      return s ? [s] : [];
    });
  }

  /** A node's suspension now, from the offences since its last release. */
  suspension(nodeId: string): Suspension | undefined {
    const now = this.now();
    let offences: Extract<Entry, { type: 'offence' }>[] = [];
    for (const e of this.entries) {
      if (e.nodeId !== nodeId) continue;
      if (e.type === 'release') offences = [];
      else offences.push(e);
    }
    const verified = offences.find((e) => e.verified);
    if (verified) return { nodeId, reason: verified.reason, protocol: verified.protocol, verified: true, since: verified.at, until: undefined };
    const last = offences.at(-1);
    if (!last) return undefined;
    const recent = offences.filter((e) => e.at > last.at - this.windowMs).length;
    const until = last.at + Math.min(this.maxMs, this.baseMs * 2 ** Math.min(30, recent - 1));
    return until > now ? { nodeId, reason: last.reason, protocol: last.protocol, verified: false, since: last.at, until } : undefined;
  }

  close(): void {
    if (this.watching) unwatchFile(this.path);
    this.watching = false;
  }

  private append(entry: Entry): Promise<void> {
    const run = async (): Promise<void> => {
      const fh = await open(this.path, 'a+', 0o600); // a+: the tail check below reads
      let created = false;
      try {
        const size = (await fh.stat()).size;
        created = size === 0;
        if (!this.repairs && size > 0) {
          // appended to a line in progress, ours would merge with it into one unreadable line
          const last = Buffer.alloc(1);
          await fh.read(last, 0, 1, size - 1);
          if (last[0] !== 0x0a) throw new Error(`${this.path} ends in an incomplete line (a write in progress?): try again`);
        }
        await fh.write(JSON.stringify(entry) + '\n');
        await fh.sync();
      } finally {
        await fh.close();
      }
      if (created) await fsyncDir(dirname(this.path));
      this.entries.push(entry);
    };
    const p = this.chain.then(run, run);
    this.chain = p.catch(() => undefined);
    return p;
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
