/**
 * The quarantine's shared journal: the table `quarantine_journal` of the coordinators' database
 * (migration 2). Every coordinator of the group reads and appends the same records, so a node one
 * coordinator suspends, a dispute it records or a release the operator makes holds at all of
 * them within a poll interval.
 *
 * Order: an append is one transaction that takes `pg_advisory_xact_lock(quarantine)` before it
 * reads the records it has not seen and inserts its own, so ids are taken and committed in one
 * order and the check made on what it read (quarantine.ts, `recheck`) cannot race another
 * coordinator's append. Readers poll for ids after the last one they saw; since ids are committed
 * in order, no record is ever skipped. A failed transaction writes nothing.
 * @module
 */
import type pg from 'pg';
import { advisoryKey, type Database } from './database.js';
import { parseEntry, type JournalRecord, type QuarantineEntry, type QuarantineJournal } from './quarantine-journal.js';

export interface PgJournalOptions {
  /** how often to look for records of other coordinators (default 1 s) */
  readonly pollMs?: number;
}

export class PgQuarantineJournal implements QuarantineJournal {
  readonly location: string;
  private timer: NodeJS.Timeout | undefined;
  private readonly pollMs: number;

  constructor(
    private readonly db: Database,
    o: PgJournalOptions = {},
  ) {
    this.location = `${db.location} (quarantine_journal)`;
    this.pollMs = o.pollMs ?? 1_000;
  }

  readSince(after: number): Promise<JournalRecord[]> {
    return this.select((text, values) => this.db.query(text, values), after);
  }

  async append(after: number, decide: (fresh: readonly JournalRecord[]) => QuarantineEntry[]): Promise<void> {
    await this.db.transaction(async (c) => {
      await c.query('SELECT pg_advisory_xact_lock($1)', [advisoryKey('quarantine').toString()]);
      const entries = decide(await this.select((text, values) => c.query(text, values), after));
      for (const e of entries)
        await c.query('INSERT INTO quarantine_journal (entry, instance_id) VALUES ($1::jsonb, $2)', [
          JSON.stringify(e),
          this.db.instanceId,
        ]);
    });
  }

  watch(changed: () => void): void {
    if (this.timer) return;
    this.timer = setInterval(changed, this.pollMs);
    this.timer.unref();
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private async select(
    query: (text: string, values: unknown[]) => Promise<pg.QueryResult>,
    after: number,
  ): Promise<JournalRecord[]> {
    const { rows } = await query('SELECT id, entry FROM quarantine_journal WHERE id > $1 ORDER BY id', [after]);
    return (rows as { id: string; entry: unknown }[]).map((r) => {
      const entry = parseEntry(r.entry);
      // a row that does not validate was not written by a coordinator: stop rather than guess
      if (entry === undefined) throw new Error(`${this.location}: row ${r.id} is not a quarantine record`);
      return { id: Number(r.id), entry };
    });
  }
}
