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
 * Durable: offences, reports and releases are records appended to a journal (store/), so a restart
 * does not reset a suspension or a dispute: by default a JSON-lines file in the data directory
 * (fsynced), with COORDINATOR_DATABASE_URL a table every coordinator of the group shares. The
 * rules here are the same for both. A record takes effect in this process at once and is then
 * written; records others append (the release command, other coordinators) are read within a
 * second or two (the file is watched, the table polled). A write is checked again against every
 * record before it, under the journal's lock: two coordinators cannot together suspend more nodes
 * on verified offences than the threshold tolerates, nor suspend one node twice. A record whose
 * write failed (the database unreachable) stays in effect here and is written again with the next
 * write or poll. A release clears everything recorded about that node before it: offences against
 * it, its own reports, and its disputes. Records of the earlier format (`offence` with verified
 * false: the accused was suspended) are kept for the record but no longer suspend anyone.
 *
 * Time: cool-downs run on the monotonic clock. The wall-clock time of each line is only used to
 * carry its age across a restart (age = wall time at load − recorded time, at least 0: a clock set
 * back makes a cool-down longer, never shorter than what remains on the monotonic clock would).
 * @module
 */
import { performance } from 'node:perf_hooks';
import { canonicalJson } from '../util/audit-log.js';
import type { BlameCode } from '../util/blame-codes.js';
import { silentLogger, type Logger } from '../util/log.js';
import { FileQuarantineJournal } from './store/quarantine-file.js';
import type { JournalRecord, QuarantineEntry, QuarantineJournal } from './store/quarantine-journal.js';

type Entry = QuarantineEntry;
type ReportEntry = Extract<Entry, { type: 'report' }>;
/** an entry with its time on the monotonic clock */
type Timed = Entry & { readonly mono: number };

/** An entry of this process, in effect, until it is read back from the journal. */
interface Pending {
  readonly timed: Timed;
  /** canonical JSON of the entry, to recognise it when read back */
  readonly key: string;
  /** handed to the journal (durable) */
  written: boolean;
  /** dropped when it came to be written: `refused` (one suspension too many), `duplicate` (already suspended) */
  dropped: 'refused' | 'duplicate' | undefined;
}

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
  /** wall clock, for the records and for display (default Date.now) */
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
  /** read what others append (file watch, database poll) (default true) */
  watch?: boolean;
  /**
   * the file only (`open`): cut a torn last line at open (default true). Only the file's owner may:
   * a process appending while the coordinator runs (the release command) could otherwise cut a
   * line the coordinator is writing at that moment. An append over a torn tail is refused.
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
  /** records read from the journal, in its order */
  private readonly confirmed: Timed[] = [];
  /** the journal position of the last record read */
  private lastId = 0;
  /** this process's records not read back yet, in effect after the confirmed ones */
  private pending: Pending[] = [];
  /** confirmed then pending: what the rules read */
  private entries: Timed[] = [];
  private readonly now: () => number;
  private readonly mono: () => number;
  private readonly log: Logger;
  private readonly baseMs: number;
  private readonly maxMs: number;
  private readonly windowMs: number;
  private readonly maxFaulty: number;
  private chain: Promise<unknown> = Promise.resolve();
  /** the last background read or write failed (logged once until one succeeds) */
  private failing = false;
  /** called when the set of suspended nodes or disputed pairs may have changed */
  onChange: (() => void) | undefined;

  private constructor(
    private readonly journal: QuarantineJournal,
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
  }

  /** The quarantine in a JSON-lines file (the embedded store). */
  static async open(path: string, o: QuarantineOptions = {}): Promise<Quarantine> {
    return Quarantine.openJournal(await FileQuarantineJournal.open(path, { repair: o.repair ?? true }), o);
  }

  /** The quarantine on a journal (a file, or the database the coordinators share). */
  static async openJournal(journal: QuarantineJournal, o: QuarantineOptions = {}): Promise<Quarantine> {
    const q = new Quarantine(journal, o);
    await q.reload();
    q.scheduleEnds();
    if (o.watch ?? true) journal.watch(() => void q.catchUp());
    return q;
  }

  /** where the records are (no credential) */
  get location(): string {
    return this.journal.location;
  }

  /**
   * Read what was appended since the last read (by another process, another coordinator).
   * Records already known keep their monotonic time.
   */
  reload(): Promise<void> {
    return this.serial(async () => {
      await this.pull();
    });
  }

  /** The watch or poll: write what a failed write left, read what others appended, say so. */
  private async catchUp(): Promise<void> {
    try {
      const foreign = await this.serial(async () => {
        if (this.pending.some((p) => !p.written && p.dropped === undefined)) await this.writeOut();
        return this.pull();
      });
      if (this.failing) this.log.info({ quarantine: this.location }, 'quarantine readable again');
      this.failing = false;
      if (foreign > 0) {
        this.scheduleEnds();
        this.onChange?.();
      }
    } catch (e) {
      if (!this.failing)
        this.log.error({ err: (e as Error).message, quarantine: this.location }, 'quarantine unreadable or unwritable');
      this.failing = true;
    }
  }

  /** Reads new records from the journal; returns how many were not this process's own. */
  private async pull(): Promise<number> {
    return this.integrate(await this.journal.readSince(this.lastId));
  }

  /** Takes in records read from the journal (skipping those already known); returns the foreign ones. */
  private integrate(records: readonly JournalRecord[]): number {
    const wall = this.now();
    const mono = this.mono();
    let foreign = 0;
    for (const r of records) {
      if (r.id <= this.lastId) continue;
      this.lastId = r.id;
      const key = canonicalJson(r.entry);
      const k = this.pending.findIndex((p) => p.written && p.key === key);
      if (k >= 0) {
        // our own, read back: it keeps the time it took effect
        const [own] = this.pending.splice(k, 1);
        this.confirmed.push({ ...r.entry, mono: (own as Pending).timed.mono });
      } else {
        // the age of another's record comes from the wall clock (at least 0)
        this.confirmed.push({ ...r.entry, mono: mono - Math.max(0, wall - r.entry.at) });
        foreign++;
      }
    }
    this.refresh();
    return foreign;
  }

  private refresh(): void {
    this.entries = [...this.confirmed, ...this.pending.filter((p) => p.dropped === undefined).map((p) => p.timed)];
  }

  /**
   * Record a verified offence (suspends the node until released, at once); resolves once durable.
   * Refused — undefined, nothing recorded, an error logged — when maxFaulty other nodes already
   * stand suspended on verified offences: more faulty nodes than the threshold assumes means a proof
   * was fooled (a flaw of ours), and suspending one more honest node would stop all signing. The
   * check is made again when the record is written, against every record before it (another
   * coordinator's too); a node already suspended on a verified offence is not recorded twice.
   */
  async record(o: Offence): Promise<Suspension | undefined> {
    const others = this.suspended().filter((x) => x.verified && x.nodeId !== o.nodeId);
    if (others.length >= this.maxFaulty && this.suspension(o.nodeId) === undefined) {
      this.refuse(o.nodeId, o, others);
      return undefined;
    }
    const p = this.add({
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
    await this.flush(p);
    if (p.dropped === 'refused') return undefined;
    return this.suspension(o.nodeId) ?? s;
  }

  private refuse(
    nodeId: string,
    o: { protocol: string; code?: BlameCode | undefined; reason: string },
    others: Suspension[],
  ): void {
    this.log.error(
      {
        node: nodeId,
        protocol: o.protocol,
        code: o.code,
        reason: o.reason,
        suspended: others.map((x) => x.nodeId),
      },
      `a verified offence by one more node than the ${this.maxFaulty} the threshold tolerates: not suspended (a proof may have been fooled; investigate)`,
    );
  }

  /**
   * Record a node's abort report: disputes between the accuser and each accused, and the accuser's
   * suspension if its reports became implausible, in effect at once. Resolves once durable.
   */
  async report(r: Report): Promise<{ disputes: Dispute[]; accuser: Suspension | undefined }> {
    const accused = r.valid ? [...new Set(r.accused)].filter((id) => id !== r.accuser).slice(0, 64) : [];
    const written = this.flush(
      this.add({
        type: 'report',
        accuser: r.accuser,
        accused,
        valid: r.valid,
        protocol: r.protocol.slice(0, 32),
        reason: r.reason.slice(0, 500),
        ...(r.code === undefined ? {} : { code: r.code }),
        at: this.now(),
      }),
    );
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

  /** Release a node (an operator's decision); resolves once durable. */
  async release(nodeId: string): Promise<void> {
    const written = this.flush(this.add({ type: 'release', nodeId, at: this.now() }));
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

  /** Stops reading what others append; records still being written finish. */
  close(): void {
    this.journal.close();
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

  /** Takes effect at once (a report must change who signs together before the next session starts). */
  private add(entry: Entry): Pending {
    const p: Pending = {
      timed: { ...entry, mono: this.mono() },
      key: canonicalJson(entry),
      written: false,
      dropped: undefined,
    };
    this.pending.push(p);
    this.refresh();
    return p;
  }

  /**
   * Then it reaches the journal: records waiting (this one, and any a failed write left) are
   * written together, in order. Resolves once this record is durable, or was dropped (refused,
   * a duplicate); rejects with the store's error if it could not be written (it stays in effect
   * and is written again with the next write or poll).
   */
  private flush(p: Pending): Promise<void> {
    return this.serial(async () => {
      if (p.written || p.dropped !== undefined) return;
      await this.writeOut();
    });
  }

  private async writeOut(): Promise<void> {
    const batch = this.pending.filter((p) => !p.written && p.dropped === undefined);
    if (batch.length === 0) return;
    await this.journal.append(this.lastId, (fresh) => {
      this.integrate(fresh);
      return batch.filter((p) => this.recheck(p)).map((p) => entryOf(p.timed));
    });
    for (const p of batch) if (p.dropped === undefined) p.written = true;
    this.pending = this.pending.filter((p) => p.dropped === undefined);
    try {
      await this.pull();
    } catch (e) {
      // durable already; reading it back (and what others wrote) waits for the next read
      this.log.warn({ err: (e as Error).message, quarantine: this.location }, 'quarantine: could not read back');
    }
  }

  /**
   * A verified offence checked again as it is written, against the records before it (everyone's):
   * dropped if its node already stands suspended on a verified offence (one is enough: two
   * coordinators seeing the same offence record it once), refused if maxFaulty other nodes do.
   */
  private recheck(p: Pending): boolean {
    if (p.dropped !== undefined) return false;
    const e = p.timed;
    if (e.type !== 'offence' || !e.verified) return true;
    const k = this.pending.indexOf(p);
    this.entries = [
      ...this.confirmed,
      ...this.pending
        .slice(0, k)
        .filter((x) => x.dropped === undefined)
        .map((x) => x.timed),
    ];
    const own = this.suspension(e.nodeId);
    const others = this.suspended().filter((x) => x.verified && x.nodeId !== e.nodeId);
    if (own?.verified) p.dropped = 'duplicate';
    else if (own === undefined && others.length >= this.maxFaulty) {
      p.dropped = 'refused';
      this.refuse(e.nodeId, e, others);
    }
    this.refresh();
    if (p.dropped === 'refused') this.onChange?.();
    return p.dropped === undefined;
  }

  /** Journal reads and writes run one at a time, in call order. */
  private serial<T>(run: () => Promise<T>): Promise<T> {
    const p = this.chain.then(run, run);
    this.chain = p.catch(() => undefined);
    return p;
  }
}

function entryOf(timed: Timed): Entry {
  const { mono: _mono, ...entry } = timed;
  return entry;
}
