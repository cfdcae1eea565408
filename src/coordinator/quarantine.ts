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
 *
 * Time: each line's `at` is wall-clock time (ms since the epoch), the only time that means
 * anything across a restart or to another process. In the process, though, whether a cool-down
 * has passed is decided on the monotonic clock: every entry also gets a monotonic time — the
 * moment it was recorded, or for an entry read from the file, now minus the wall-clock age it had
 * when read (at least 0: a line from the future, after the clock stepped back, counts as just
 * recorded, which errs towards a longer suspension). So a wall clock stepped back cannot stretch a
 * cool-down, nor one stepped forward (or an attacker who can move it) end one early; only the age
 * of entries read at start or reload depends on the wall clock.
 * @module
 */
import { watchFile, unwatchFile } from 'node:fs';
import { open, readFile, truncate } from 'node:fs/promises';
import { dirname } from 'node:path';
import { performance } from 'node:perf_hooks';
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
  /** the wall clock, ms since the epoch (default Date.now): for `at` and the reported times */
  now?: () => number;
  /** the monotonic clock, ms (default performance.now; tests that set only `now` get `now`) */
  monotonic?: () => number;
  /** first cool-down of a reported offence (default 60 s) */
  baseMs?: number;
  /** longest cool-down (default 1 h) */
  maxMs?: number;
  /** reports counted within this window (default 24 h) */
  windowMs?: number;
  /** re-read the file when another process appends (default true) */
  watch?: boolean;
}

export class Quarantine {
  private entries: Entry[] = [];
  /** monotonic time of each entry (not persisted; see the module comment) */
  private monos: number[] = [];
  private readonly now: () => number;
  private readonly monotonic: () => number;
  private readonly log: Logger;
  private readonly baseMs: number;
  private readonly maxMs: number;
  private readonly windowMs: number;
  private chain: Promise<unknown> = Promise.resolve();
  private watching = false;
  /** called when the set of suspended nodes may have changed */
  onChange: (() => void) | undefined;

  private constructor(
    readonly path: string,
    o: QuarantineOptions,
  ) {
    this.now = o.now ?? Date.now;
    this.monotonic = o.monotonic ?? o.now ?? (() => performance.now());
    this.log = o.log ?? silentLogger();
    this.baseMs = o.baseMs ?? 60_000;
    this.maxMs = o.maxMs ?? 3_600_000;
    this.windowMs = o.windowMs ?? 86_400_000;
  }

  static async open(path: string, o: QuarantineOptions = {}): Promise<Quarantine> {
    await ensureDir(dirname(path), 0o700);
    const q = new Quarantine(path, o);
    await repairTornTail(path);
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
    // Entries already known keep their monotonic time; new ones are placed by their wall-clock age.
    const wall = this.now();
    const mono = this.monotonic();
    this.monos = entries.map((e, k) => (k < this.entries.length && JSON.stringify(this.entries[k]) === JSON.stringify(e) ? (this.monos[k] as number) : mono - Math.max(0, wall - e.at)));
    this.entries = entries;
  }

  /** Record an offence durably; resolves once it is on disk. */
  async record(o: Offence): Promise<Suspension | undefined> {
    const entry: Entry = { type: 'offence', nodeId: o.nodeId, protocol: o.protocol.slice(0, 32), reason: o.reason.slice(0, 500), verified: o.verified, at: this.now() };
    await this.append(entry);
    const state = this.state(o.nodeId);
    const s = state?.suspension;
    // the end of a cool-down changes who may sign: say so when it comes
    if (state?.endsInMs !== undefined) setTimeout(() => this.onChange?.(), Math.max(0, state.endsInMs) + 10).unref();
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
    return this.state(nodeId)?.suspension;
  }

  /** The suspension and, for a cool-down, the monotonic ms until it ends. */
  private state(nodeId: string): { suspension: Suspension; endsInMs: number | undefined } | undefined {
    const now = this.monotonic();
    let offences: { e: Extract<Entry, { type: 'offence' }>; mono: number }[] = [];
    for (const [k, e] of this.entries.entries()) {
      if (e.nodeId !== nodeId) continue;
      if (e.type === 'release') offences = [];
      else offences.push({ e, mono: this.monos[k] as number });
    }
    const verified = offences.find((x) => x.e.verified)?.e;
    if (verified) return { suspension: { nodeId, reason: verified.reason, protocol: verified.protocol, verified: true, since: verified.at, until: undefined }, endsInMs: undefined };
    const last = offences.at(-1);
    if (!last) return undefined;
    const recent = offences.filter((x) => x.mono > last.mono - this.windowMs).length;
    const coolDown = Math.min(this.maxMs, this.baseMs * 2 ** Math.min(30, recent - 1));
    const endsInMs = last.mono + coolDown - now;
    // `until` is the wall-clock time for people; the decision is the monotonic one
    return endsInMs > 0 ? { suspension: { nodeId, reason: last.e.reason, protocol: last.e.protocol, verified: false, since: last.e.at, until: last.e.at + coolDown }, endsInMs } : undefined;
  }

  close(): void {
    if (this.watching) unwatchFile(this.path);
    this.watching = false;
  }

  private append(entry: Entry): Promise<void> {
    const mono = this.monotonic(); // taken with entry.at
    const run = async (): Promise<void> => {
      const fh = await open(this.path, 'a', 0o600);
      let created = false;
      try {
        created = (await fh.stat()).size === 0;
        await fh.write(JSON.stringify(entry) + '\n');
        await fh.sync();
      } finally {
        await fh.close();
      }
      if (created) await fsyncDir(dirname(this.path));
      this.entries.push(entry);
      this.monos.push(mono);
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
