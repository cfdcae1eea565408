/**
 * What the coordinator does after cryptographic aborts (docs/security.md A9). A failed signature must not be a
 * retryable error: a party that can make success depend on a bit of another party's secret learns
 * that bit per attempt. But the coordinator can check only some accusations, and a node's word
 * alone must never take honest nodes out of signing. So:
 *
 * - a *verified* offence — one the coordinator checked itself, e.g. a partial signature σ_i that
 *   fails σ_i·R = m·Δ̃_i + r·S̃_i — suspends the node until an operator releases it
 *   (`npm run quarantine -- --release <node>`);
 * - a *reported* offence — a node's abort naming other participants, which the coordinator cannot
 *   check (the evidence is end-to-end encrypted, and the reporter may be the liar) — suspends
 *   nobody. It puts the pair (accuser, accused) *in dispute*: the two are not used together (as
 *   signers or presigners) for a cool-down that doubles with each report on that pair in the last
 *   24 hours (1 min, 2 min, … at most 1 h). Every excluded signer set contains the accuser, so a
 *   lying accuser can only remove sets it belongs to: t honest nodes always remain usable together.
 *   The cool-down still bounds an oracle attacker to a few attempts an hour per pair;
 * - an *implausible accuser* is suspended (cool-down as above, doubling per implausible report in
 *   24 h): one that sent a culprit list the coordinator must discard (naming itself, a
 *   non-participant, a repeat, or more nodes than there are other participants), or whose reports
 *   in 24 h name more distinct nodes than a threshold adversary can corrupt (t − 1): an honest node
 *   only ever names misbehaving nodes, and at most t − 1 nodes misbehave. A raw count of reports is
 *   deliberately not a criterion: a misbehaving node can make an honest one report it as often as
 *   sessions run (e.g. by sending a bad proof in every wallet creation), and suspending the honest
 *   reporter for that would hand the attacker the very outage this module prevents.
 *
 * Timeouts and unreachable nodes are not offences. A suspended node takes part in no signing and
 * no presigning (other sets still sign) and wallet creation waits for it.
 *
 * Durable: offences, reports and releases are lines appended to a JSON-lines file (fsynced), so a
 * restart does not reset a suspension or a dispute; the file is re-read when another process (the
 * release command) appends to it. A torn last line (a crash mid-append) is ignored. A release
 * clears everything recorded about that node before it: offences against it, its own reports, and
 * its disputes. Lines of the earlier format (`offence` with verified false: the accused was
 * suspended) are kept for the record but no longer suspend anyone.
 *
 * Time: cool-downs run on the monotonic clock. The wall-clock time of each line is only used to
 * carry its age across a restart (age = wall time at load − recorded time, at least 0: a clock set
 * back makes a cool-down longer, never shorter than what remains on the monotonic clock would).
 * @module
 */
import { watchFile, unwatchFile } from 'node:fs';
import { open, readFile, truncate } from 'node:fs/promises';
import { dirname } from 'node:path';
import { performance } from 'node:perf_hooks';
import { z } from 'zod';
import { BLAME_CODES, type BlameCode } from '../util/blame-codes.js';
import { ensureDir, errorCode, fsyncDir } from '../util/durable-file.js';
import { silentLogger, type Logger } from '../util/log.js';

const nodeIdSchema = z.string().min(1).max(64);
const atSchema = z.number().int().nonnegative();
const entrySchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('offence'),
    nodeId: nodeIdSchema,
    protocol: z.string().max(32),
    reason: z.string().max(500),
    /** the failed check, when the offence is one (records written before codes have none) */
    code: z.enum(BLAME_CODES).optional(),
    verified: z.boolean(),
    at: atSchema,
  }),
  z.object({
    type: z.literal('report'),
    accuser: nodeIdSchema,
    /** the other participants it named (empty when the list was discarded) */
    accused: z.array(nodeIdSchema).max(64),
    /** false: the culprit list was discarded (see screenCulprits) */
    valid: z.boolean(),
    protocol: z.string().max(32),
    reason: z.string().max(500),
    /** the check the accuser said failed (records written before codes have none) */
    code: z.enum(BLAME_CODES).optional(),
    at: atSchema,
  }),
  z.object({ type: z.literal('release'), nodeId: nodeIdSchema, at: atSchema }),
]);
type Entry = z.infer<typeof entrySchema>;
type ReportEntry = Extract<Entry, { type: 'report' }>;
/** an entry with its time on the monotonic clock */
type Timed = Entry & { readonly mono: number };

/** An offence the coordinator checked itself (e.g. a wrong partial signature). */
export interface Offence {
  readonly nodeId: string;
  /** keygen, aux, presign, sign */
  readonly protocol: string;
  readonly reason: string;
  /** the failed check, when the offence is a failed protocol check (a wrong partial signature) */
  readonly code?: BlameCode;
}

/** A node's abort naming culprits: its word, not checked by the coordinator. */
export interface Report {
  readonly accuser: string;
  /** the culprits named (other participants; empty if `valid` is false) */
  readonly accused: readonly string[];
  /** false: the culprit list broke the rules and was discarded (counted against the accuser) */
  readonly valid: boolean;
  readonly protocol: string;
  readonly reason: string;
  /** the check the accuser said failed */
  readonly code?: BlameCode;
}

export interface Suspension {
  readonly nodeId: string;
  readonly reason: string;
  /** a verified offence's failed check, when it was recorded with one */
  readonly code?: BlameCode;
  readonly protocol: string;
  /** true: a verified offence (until released); false: an implausible accuser (a cool-down) */
  readonly verified: boolean;
  /** ms since the epoch */
  readonly since: number;
  /** ms since the epoch (approximate: the cool-down itself runs on the monotonic clock); undefined: until released */
  readonly until: number | undefined;
}

export interface Dispute {
  /** the two nodes, sorted */
  readonly nodes: readonly [string, string];
  /** reports on this pair in the window */
  readonly reports: number;
  /** ms since the epoch (approximate, as Suspension.until) */
  readonly until: number;
}

export interface QuarantineOptions {
  log?: Logger;
  /** wall clock, for the file's records and for display (default Date.now) */
  now?: () => number;
  /** monotonic clock in ms, for cool-downs (default performance.now) */
  monotonic?: () => number;
  /** first cool-down of a dispute or an implausible accuser (default 60 s) */
  baseMs?: number;
  /** longest cool-down (default 1 h) */
  maxMs?: number;
  /** reports counted within this window (default 24 h) */
  windowMs?: number;
  /** t − 1: how many nodes a threshold adversary may corrupt; naming more distinct nodes is implausible (default 1) */
  maxFaulty?: number;
  /** re-read the file when another process appends (default true) */
  watch?: boolean;
  /**
   * cut a torn last line at open (default true). Only the file's owner may: a process appending
   * while the coordinator runs (the release command) could otherwise cut a line the coordinator is
   * writing at that moment. Without repair, an append over a torn tail is refused.
   */
  repair?: boolean;
}

export interface ScreenedCulprits {
  /** the culprit indices to act on (sorted); empty when the list was discarded */
  readonly culprits: readonly number[];
  /** why the list was discarded, if it was */
  readonly invalid: string | undefined;
}

/**
 * The rules for an abort's culprit list: at most every other participant, each named once, each a
 * participant of the session, never the reporter itself. A list that breaks a rule is discarded
 * whole (an honest node never sends one: its protocol only blames senders of messages it received)
 * and the report counts against the reporter.
 */
export function screenCulprits(
  reported: readonly number[],
  reporter: number,
  participants: readonly number[],
): ScreenedCulprits {
  const others = participants.filter((j) => j !== reporter);
  if (reported.length > others.length)
    return { culprits: [], invalid: `names ${reported.length} culprits; only ${others.length} other participants` };
  if (new Set(reported).size !== reported.length) return { culprits: [], invalid: 'names a culprit twice' };
  for (const j of reported) {
    if (j === reporter) return { culprits: [], invalid: 'names itself' };
    if (!others.includes(j)) return { culprits: [], invalid: `names ${j}, not a participant` };
  }
  return { culprits: [...reported].sort((a, b) => a - b), invalid: undefined };
}

/** What an aborted session tells the quarantine, if anything: its reporter's accusation. */
export interface AbortOutcome {
  readonly protocol: string;
  readonly reportedBy: string;
  readonly culprits: readonly { readonly nodeId: string | undefined }[];
  readonly code?: BlameCode | undefined;
  readonly reason: string;
  /** set when the culprit list was discarded (screenCulprits) */
  readonly discarded?: string | undefined;
}

/** The report an aborted session makes, or undefined when it accuses nobody (nothing to record). */
export function reportOf(o: AbortOutcome): Report | undefined {
  const code = o.code === undefined ? {} : { code: o.code };
  if (o.discarded !== undefined)
    return { accuser: o.reportedBy, accused: [], valid: false, protocol: o.protocol, reason: o.discarded, ...code };
  const accused = o.culprits.flatMap((c) => (c.nodeId === undefined ? [] : [c.nodeId]));
  if (accused.length === 0) return undefined;
  return { accuser: o.reportedBy, accused, valid: true, protocol: o.protocol, reason: o.reason, ...code };
}

export class Quarantine {
  private entries: Timed[] = [];
  private readonly now: () => number;
  private readonly mono: () => number;
  private readonly log: Logger;
  private readonly baseMs: number;
  private readonly maxMs: number;
  private readonly windowMs: number;
  private readonly maxFaulty: number;
  private chain: Promise<unknown> = Promise.resolve();
  /** entries in effect but not yet handed to a write (see append) */
  private readonly unwritten: Timed[] = [];
  private watching = false;
  private readonly repairs: boolean;
  /** called when the set of suspended nodes or disputed pairs may have changed */
  onChange: (() => void) | undefined;

  private constructor(
    readonly path: string,
    o: QuarantineOptions,
  ) {
    this.now = o.now ?? Date.now;
    this.mono = o.monotonic ?? (() => performance.now());
    this.log = o.log ?? silentLogger();
    this.baseMs = o.baseMs ?? 60_000;
    this.maxMs = o.maxMs ?? 3_600_000;
    this.windowMs = o.windowMs ?? 86_400_000;
    this.maxFaulty = o.maxFaulty ?? 1;
    if (!Number.isSafeInteger(this.maxFaulty) || this.maxFaulty < 0)
      throw new RangeError('maxFaulty must be a non-negative integer');
    this.repairs = o.repair ?? true;
  }

  static async open(path: string, o: QuarantineOptions = {}): Promise<Quarantine> {
    await ensureDir(dirname(path), 0o700);
    const q = new Quarantine(path, o);
    if (q.repairs) await repairTornTail(path);
    await q.reload();
    q.scheduleEnds();
    if (o.watch ?? true) {
      q.watching = true;
      watchFile(
        path,
        { interval: 1_000, persistent: false },
        () =>
          void q
            .reload()
            .then(() => q.onChange?.())
            .catch((e: unknown) => q.log.error({ err: (e as Error).message }, 'quarantine file unreadable')),
      );
    }
    return q;
  }

  /** Re-read the file (complete lines only). Entries already known keep their monotonic time. */
  reload(): Promise<void> {
    return this.serial(() => this.read());
  }

  private async read(): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (e) {
      if (errorCode(e) === 'ENOENT') return;
      throw e;
    }
    const lines = text.split('\n');
    lines.pop(); // after the last newline: empty, or a torn line
    const wall = this.now();
    const mono = this.mono();
    const entries: Timed[] = [];
    for (const line of lines) {
      if (line.trim() === '') continue;
      const parsed = entrySchema.safeParse(safeJson(line));
      if (!parsed.success) throw new Error(`${this.path}: a line is not a quarantine record`);
      const known = this.entries[entries.length];
      const same = known !== undefined && sameEntry(known, parsed.data);
      entries.push({ ...parsed.data, mono: same ? known.mono : mono - Math.max(0, wall - parsed.data.at) });
    }
    // entries not written yet stay in effect after those on disk
    this.entries = [...entries, ...this.unwritten];
  }

  /**
   * Record a verified offence (suspends the node until released, at once); resolves once on disk.
   * Refused — undefined, nothing recorded, an error logged — when maxFaulty other nodes already
   * stand suspended on verified offences: more faulty nodes than the threshold assumes means a proof
   * was fooled (a flaw of ours), and suspending one more honest node would stop all signing.
   */
  async record(o: Offence): Promise<Suspension | undefined> {
    const others = this.suspended().filter((x) => x.verified && x.nodeId !== o.nodeId);
    if (others.length >= this.maxFaulty && this.suspension(o.nodeId) === undefined) {
      this.log.error(
        {
          node: o.nodeId,
          protocol: o.protocol,
          code: o.code,
          reason: o.reason,
          suspended: others.map((x) => x.nodeId),
        },
        `a verified offence by one more node than the ${this.maxFaulty} the threshold tolerates: not suspended (a proof may have been fooled; investigate)`,
      );
      return undefined;
    }
    const written = this.append({
      type: 'offence',
      nodeId: o.nodeId,
      protocol: o.protocol.slice(0, 32),
      reason: o.reason.slice(0, 500),
      ...(o.code === undefined ? {} : { code: o.code }),
      verified: true,
      at: this.now(),
    });
    const s = this.suspension(o.nodeId);
    this.log.error(
      { node: o.nodeId, protocol: o.protocol, code: o.code, reason: o.reason },
      'node suspended after a verified cryptographic offence (until released by an operator)',
    );
    this.onChange?.();
    await written;
    return s;
  }

  /**
   * Record a node's abort report: disputes between the accuser and each accused, and the accuser's
   * suspension if its reports became implausible, in effect at once. Resolves once on disk.
   */
  async report(r: Report): Promise<{ disputes: Dispute[]; accuser: Suspension | undefined }> {
    const accused = r.valid ? [...new Set(r.accused)].filter((id) => id !== r.accuser).slice(0, 64) : [];
    const written = this.append({
      type: 'report',
      accuser: r.accuser,
      accused,
      valid: r.valid,
      protocol: r.protocol.slice(0, 32),
      reason: r.reason.slice(0, 500),
      ...(r.code === undefined ? {} : { code: r.code }),
      at: this.now(),
    });
    const disputed = accused.flatMap((id) => {
      const d = this.disputeState(r.accuser, id);
      return d ? [d] : [];
    });
    const suspended = this.suspensionState(r.accuser);
    const disputes = disputed.map((d) => d.dispute);
    const accuser = suspended?.suspension;
    for (const d of disputes) {
      this.log.warn(
        {
          nodes: d.nodes,
          reports: d.reports,
          until: new Date(d.until).toISOString(),
          protocol: r.protocol,
          code: r.code,
          reason: r.reason,
        },
        'nodes in dispute after an abort report: not used together',
      );
    }
    if (accuser)
      this.log.error(
        { node: r.accuser, reason: accuser.reason, until: new Date(accuser.until ?? 0).toISOString() },
        'node suspended: implausible abort reports',
      );
    else if (!r.valid) this.log.warn({ node: r.accuser, code: r.code, reason: r.reason }, 'abort report discarded');
    // the end of a cool-down changes who may sign: say so when it comes (monotonic timers)
    const now = this.mono();
    for (const end of [...disputed.map((d) => d.endMono), suspended?.endMono ?? Infinity]) {
      if (Number.isFinite(end)) setTimeout(() => this.onChange?.(), Math.max(0, end - now) + 10).unref();
    }
    this.onChange?.();
    await written;
    return { disputes, accuser };
  }

  /** Release a node (an operator's decision); resolves once on disk. */
  async release(nodeId: string): Promise<void> {
    const written = this.append({ type: 'release', nodeId, at: this.now() });
    this.onChange?.();
    await written;
  }

  isSuspended(nodeId: string): boolean {
    return this.suspension(nodeId) !== undefined;
  }

  /** Every node suspended now. */
  suspended(): Suspension[] {
    return this.nodeIds().flatMap((id) => {
      const s = this.suspension(id);
      return s ? [s] : [];
    });
  }

  /** A node's suspension now: a verified offence, or implausible reports of its own, since its last release. */
  suspension(nodeId: string): Suspension | undefined {
    return this.suspensionState(nodeId)?.suspension;
  }

  private suspensionState(nodeId: string): { suspension: Suspension; endMono: number } | undefined {
    const since = this.sinceRelease(nodeId);
    const verified = since.find((e) => e.type === 'offence' && e.verified && e.nodeId === nodeId) as
      Extract<Timed, { type: 'offence' }> | undefined;
    if (verified)
      return {
        suspension: {
          nodeId,
          reason: verified.reason,
          ...(verified.code === undefined ? {} : { code: verified.code }),
          protocol: verified.protocol,
          verified: true,
          since: verified.at,
          until: undefined,
        },
        endMono: Infinity,
      };
    const now = this.mono();
    const reports = since.filter(
      (e): e is ReportEntry & Timed => e.type === 'report' && e.accuser === nodeId && e.mono > now - this.windowMs,
    );
    const named = new Set<string>();
    const implausible: (ReportEntry & Timed)[] = [];
    for (const e of reports) {
      for (const id of e.accused) named.add(id);
      if (!e.valid || named.size > this.maxFaulty) implausible.push(e);
    }
    const last = implausible.at(-1);
    if (!last) return undefined;
    const ms = this.coolDown(implausible.length);
    if (last.mono + ms <= now) return undefined;
    const why = last.valid
      ? `its abort reports named ${named.size} distinct nodes (${[...named].join(', ')}); at most ${this.maxFaulty} can be at fault`
      : `discarded abort report: ${last.reason}`;
    return {
      suspension: {
        nodeId,
        reason: why,
        protocol: last.protocol,
        verified: false,
        since: last.at,
        until: last.at + ms,
      },
      endMono: last.mono + ms,
    };
  }

  /** Whether two nodes are in dispute now (not to be used together). */
  inDispute(a: string, b: string): boolean {
    return this.dispute(a, b) !== undefined;
  }

  /** The pair's dispute now: reports of one naming the other since either's last release, in the window. */
  dispute(a: string, b: string): Dispute | undefined {
    return this.disputeState(a, b)?.dispute;
  }

  private disputeState(a: string, b: string): { dispute: Dispute; endMono: number } | undefined {
    if (a === b) return undefined;
    const now = this.mono();
    const since = this.sinceRelease(a, b);
    const reports = since.filter(
      (e): e is ReportEntry & Timed =>
        e.type === 'report' &&
        e.valid &&
        e.mono > now - this.windowMs &&
        ((e.accuser === a && e.accused.includes(b)) || (e.accuser === b && e.accused.includes(a))),
    );
    const last = reports.at(-1);
    if (!last) return undefined;
    const ms = this.coolDown(reports.length);
    if (last.mono + ms <= now) return undefined;
    return {
      dispute: { nodes: a < b ? [a, b] : [b, a], reports: reports.length, until: last.at + ms },
      endMono: last.mono + ms,
    };
  }

  /** Every pair in dispute now. */
  disputes(): Dispute[] {
    const ids = this.nodeIds();
    return ids.flatMap((a, k) =>
      ids.slice(k + 1).flatMap((b) => {
        const d = this.dispute(a, b);
        return d ? [d] : [];
      }),
    );
  }

  /** Abort reports a node made since its last release, in the window: all, and those discarded. */
  reportsBy(nodeId: string): { readonly total: number; readonly discarded: number } {
    const now = this.mono();
    const mine = this.sinceRelease(nodeId).filter(
      (e): e is ReportEntry & Timed => e.type === 'report' && e.accuser === nodeId && e.mono > now - this.windowMs,
    );
    return { total: mine.length, discarded: mine.filter((e) => !e.valid).length };
  }

  close(): void {
    if (this.watching) unwatchFile(this.path);
    this.watching = false;
  }

  /** After a restart: tell onChange when each cool-down in effect ends (signer sets come back). */
  private scheduleEnds(): void {
    const now = this.mono();
    const ids = this.nodeIds();
    const ends = [
      ...ids.map((id) => this.suspensionState(id)?.endMono ?? Infinity),
      ...ids.flatMap((a, k) => ids.slice(k + 1).map((b) => this.disputeState(a, b)?.endMono ?? Infinity)),
    ];
    for (const end of ends)
      if (Number.isFinite(end)) setTimeout(() => this.onChange?.(), Math.max(0, end - now) + 10).unref();
  }

  private coolDown(reports: number): number {
    return Math.min(this.maxMs, this.baseMs * 2 ** Math.min(30, reports - 1));
  }

  /** Entries after the last release of any of these nodes. */
  private sinceRelease(...nodeIds: string[]): Timed[] {
    let from = 0;
    this.entries.forEach((e, k) => {
      if (e.type === 'release' && nodeIds.includes(e.nodeId)) from = k + 1;
    });
    return this.entries.slice(from);
  }

  private nodeIds(): string[] {
    const ids = new Set<string>();
    for (const e of this.entries) {
      if (e.type === 'report') {
        ids.add(e.accuser);
        for (const id of e.accused) ids.add(id);
      } else {
        ids.add(e.nodeId);
      }
    }
    return [...ids].sort();
  }

  /**
   * Takes effect at once (a report must change who signs together before the next session
   * starts), then reaches the disk: lines waiting are written together with one fsync, in order.
   * Resolves once this entry is on disk.
   */
  private append(entry: Entry): Promise<void> {
    const timed: Timed = { ...entry, mono: this.mono() };
    this.entries.push(timed);
    this.unwritten.push(timed);
    return this.serial(() => this.writeOut());
  }

  private async writeOut(): Promise<void> {
    const batch = this.unwritten.splice(0);
    if (batch.length === 0) return;
    const fh = await open(this.path, 'a+', 0o600); // a+: the tail check below reads
    let created: boolean;
    try {
      const size = (await fh.stat()).size;
      created = size === 0;
      if (!this.repairs && size > 0) {
        // appended to a line in progress, ours would merge with it into one unreadable line
        const last = Buffer.alloc(1);
        await fh.read(last, 0, 1, size - 1);
        if (last[0] !== 0x0a)
          throw new Error(`${this.path} ends in an incomplete line (a write in progress?): try again`);
      }
      await fh.write(batch.map(({ mono: _mono, ...e }) => JSON.stringify(e) + '\n').join(''));
      await fh.sync();
    } finally {
      await fh.close();
    }
    if (created) await fsyncDir(dirname(this.path));
  }

  /** File writes and re-reads run one at a time, in call order. */
  private serial<T>(run: () => Promise<T>): Promise<T> {
    const p = this.chain.then(run, run);
    this.chain = p.catch(() => undefined);
    return p;
  }
}

function sameEntry(known: Timed, e: Entry): boolean {
  const { mono: _mono, ...rest } = known;
  return JSON.stringify(rest) === JSON.stringify(e);
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
