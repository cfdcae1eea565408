/**
 * The audit log of coordinators sharing a database: the table `audit_log` (migration 2), one hash
 * chain for the whole group. A row is a record of src/util/audit-log.ts, hashed, encoded and
 * checked by that module's functions: the same domain, the same canonical JSON, the same checks
 * (sequence, link to the previous record, time never running backwards, hash, canonical form).
 *
 * Appending: a batch of events (those that arrived while the previous batch was being written) is
 * one transaction that takes `pg_advisory_xact_lock(audit)`, reads the chain's head, and inserts
 * the next records. Coordinators appending at once therefore extend one chain in turn, never fork
 * it. `append` resolves once the transaction committed (durable, as the file's fsync); if it fails
 * — the database unreachable — every event of the batch is rejected and none was written. (A
 * connection lost during COMMIT itself leaves the outcome unknown: the event may be recorded
 * though its caller was told it was not; never the reverse.)
 *
 * Attribution: every event gets a field `writer` (the coordinator that wrote it), inside the hash,
 * so an edited attribution breaks the chain like any other edit. An event may not set it itself.
 *
 * Verifying: `open` checks the whole chain (as the file's open does: a damaged log stops the
 * start), and `verifyPgAuditLog` checks it for `npm run audit:verify`. A changed, deleted or
 * inserted row is named by its position. As for the file, rows cut off the end cannot be noticed
 * from the table alone: keep the last sequence number and hash elsewhere.
 * @module
 */
import { performance } from 'node:perf_hooks';
import {
  AUDIT_GENESIS,
  AuditLogCorruptError,
  MAX_AUDIT_LINE_BYTES,
  checkLine,
  encodeEvent,
  recordHash,
  recordLine,
  type AuditEvent,
  type AuditVerification,
  type ChainHead,
} from '../../util/audit-log.js';
import { silentLogger, type Logger } from '../../util/log.js';
import { advisoryKey, type Database, type Queryable } from './database.js';

export interface PgAuditOptions {
  /** who writes (the coordinator's id): recorded in every event as `writer` */
  readonly writer: string;
  readonly log?: Logger;
  /** tests: the wall clock (ms since the epoch; default Date.now) */
  readonly wallClock?: () => number;
  /** tests: the monotonic clock (ms; default performance.now) */
  readonly monotonicClock?: () => number;
}

interface Waiting {
  readonly eventJson: string;
  readonly resolve: () => void;
  readonly reject: (e: unknown) => void;
}

/** rows read per query when verifying: the table grows without bound and is never read whole */
const PAGE = 1_000;
/** events written per transaction at most */
const BATCH = 256;

export class PgAuditLog {
  readonly location: string;
  private queue: Waiting[] = [];
  private writing: Promise<void> | undefined;
  private closed = false;
  private head: { seq: number; hash: string };
  private readonly anchorWall: number;
  private readonly anchorMono: number;

  private constructor(
    private readonly db: Database,
    private readonly o: PgAuditOptions,
    private readonly log: Logger,
    verified: { seq: number; hash: string },
  ) {
    this.location = `${db.location} (audit_log)`;
    this.head = verified;
    this.anchorWall = (o.wallClock ?? Date.now)();
    this.anchorMono = this.mono();
  }

  /**
   * Checks the whole chain, then appends to it.
   * @throws AuditLogCorruptError naming the first record that does not validate (nothing is changed); StoreUnavailableError
   */
  static async open(db: Database, o: PgAuditOptions): Promise<PgAuditLog> {
    if (o.writer.length === 0 || o.writer.length > 128) throw new RangeError('writer must be 1–128 characters');
    const result = await db.transaction((c) => verifyPgAuditLog(c));
    const location = `${db.location} (audit_log)`;
    if (!result.ok) throw new AuditLogCorruptError(location, result.line, result.reason);
    return new PgAuditLog(db, o, o.log ?? silentLogger(), { seq: result.lines, hash: result.lastHash });
  }

  /** Records of the chain as last written or read by this process. */
  get length(): number {
    return this.head.seq;
  }

  /** The last hash this process wrote or read (AUDIT_GENESIS when empty). */
  get lastHash(): string {
    return this.head.hash;
  }

  /**
   * Appends an event; resolves once it is committed.
   * @throws TypeError (as a rejection) if the event is not a valid public event or sets `writer`;
   *   StoreUnavailableError if the database cannot be reached (the event was not written)
   */
  append(event: AuditEvent): Promise<void> {
    if (this.closed) return Promise.reject(new Error('audit log is closed'));
    let eventJson: string;
    try {
      if (event !== null && typeof event === 'object' && 'writer' in event)
        throw new TypeError('an audit event may not set writer: the log records who wrote it');
      eventJson = encodeEvent({ ...event, writer: this.o.writer });
    } catch (e) {
      return Promise.reject(e);
    }
    // the longest this record's row can be, as a line of the file format
    const longest = recordLine(
      Number.MAX_SAFE_INTEGER,
      new Date(0).toISOString(),
      AUDIT_GENESIS,
      eventJson,
      AUDIT_GENESIS,
    );
    if (Buffer.byteLength(longest, 'utf8') > MAX_AUDIT_LINE_BYTES)
      return Promise.reject(new TypeError('audit event too large'));
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ eventJson, resolve, reject });
      this.writing ??= this.drain();
    });
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, BATCH);
      try {
        this.head = await this.db.transaction(async (c) => {
          await c.query('SELECT pg_advisory_xact_lock($1)', [advisoryKey('audit').toString()]);
          const { rows } = await c.query<{ seq: string; hash: string; time: string }>(
            'SELECT seq, hash, time FROM audit_log ORDER BY seq DESC LIMIT 1',
          );
          const last = rows[0];
          let seq = last === undefined ? 0 : Number(last.seq);
          let prev = last === undefined ? AUDIT_GENESIS : last.hash;
          // never before the chain's last record (another coordinator's clock may run ahead)
          let timeMs = last === undefined ? 0 : Date.parse(last.time);
          for (const w of batch) {
            seq++;
            timeMs = Math.max(timeMs, Math.floor(this.anchorWall + (this.mono() - this.anchorMono)));
            const time = new Date(timeMs).toISOString();
            const hash = recordHash(seq, time, prev, w.eventJson);
            await c.query(
              'INSERT INTO audit_log (seq, time, prev, hash, event, instance_id) VALUES ($1, $2, $3, $4, $5, $6)',
              [seq, time, prev, hash, w.eventJson, this.db.instanceId],
            );
            prev = hash;
          }
          return { seq, hash: prev };
        });
      } catch (e) {
        this.log.error(
          { err: (e as Error).message, events: batch.length, audit: this.location },
          'audit log: write failed; those events were not recorded',
        );
        for (const w of batch) w.reject(e);
        continue;
      }
      for (const w of batch) w.resolve();
    }
    this.writing = undefined;
  }

  /** Waits for appends under way. The database is its owner's to close. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    while (this.writing) await this.writing;
  }

  private mono(): number {
    return (this.o.monotonicClock ?? (() => performance.now()))();
  }
}

/**
 * Checks the whole chain in the table without changing it, a page at a time, with the checks of
 * the file's verifier (each row is the line it would be in the file). `line` of a failure is the
 * record's position in the chain (1-based).
 */
export async function verifyPgAuditLog(q: Queryable): Promise<AuditVerification> {
  const head: ChainHead = { seq: 0, hash: AUDIT_GENESIS, timeMs: 0 };
  let lastTime: string | undefined;
  let position = 0;
  let after = -1;
  for (;;) {
    const { rows } = await q.query<{ seq: string; time: string; prev: string; hash: string; event: string }>(
      'SELECT seq, time, prev, hash, event FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2',
      [after, PAGE],
    );
    for (const r of rows) {
      position++;
      const c = checkLine(recordLine(Number(r.seq), r.time, r.prev, r.event, r.hash), head);
      if ('reason' in c) return { ok: false, line: position, reason: c.reason };
      Object.assign(head, { seq: c.record.seq, hash: c.record.hash, timeMs: c.timeMs });
      lastTime = c.record.time;
    }
    if (rows.length < PAGE) break;
    after = Number((rows.at(-1) as { seq: string }).seq);
  }
  return { ok: true, lines: head.seq, lastHash: head.hash, lastTime, tornTailBytes: 0 };
}
