/**
 * Where the quarantine's records are kept (src/coordinator/quarantine.ts holds the rules): the
 * record format both implementations share, and the journal interface. A journal is append-only
 * and totally ordered; every reader sees the same records in the same order, each with a position
 * (`id`) that only grows. The embedded implementation is a JSON-lines file (quarantine-file.ts,
 * id = line number), the shared one a PostgreSQL table (quarantine-pg.ts, id = row id).
 * @module
 */
import { z } from 'zod';
import { BLAME_CODES } from '../../util/blame-codes.js';

const nodeIdSchema = z.string().min(1).max(64);
const atSchema = z.number().int().nonnegative();

/** One record: the format of a line of quarantine.jsonl and of a row's `entry`. */
export const quarantineEntrySchema = z.discriminatedUnion('type', [
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
export type QuarantineEntry = z.infer<typeof quarantineEntrySchema>;

/** A record as read back, with its position in the journal. */
export interface JournalRecord {
  /** grows with every record; a reader asks for what comes after the last one it saw */
  readonly id: number;
  readonly entry: QuarantineEntry;
}

export interface QuarantineJournal {
  /** what the journal is, for logs and errors (never a credential) */
  readonly location: string;
  /** Complete records after position `after` (0: all), in order. */
  readSince(after: number): Promise<JournalRecord[]>;
  /**
   * Appends what `decide` returns, durably and in order, after handing it the records appended
   * since `after` by anyone. Writers are serialised (a transaction lock for the database, one
   * writer per file), so what `decide` sees is everything before the records it appends: a rule
   * checked in `decide` (at most t − 1 nodes suspended) holds across coordinators. `decide` may be
   * called again if the append is retried, with the same or more records; it must not count twice
   * what it has seen.
   * @throws the store's error (StoreUnavailableError for an unreachable database): nothing written
   */
  append(after: number, decide: (fresh: readonly JournalRecord[]) => QuarantineEntry[]): Promise<void>;
  /** Calls `changed` when another writer may have appended (file watch, database poll). */
  watch(changed: () => void): void;
  close(): void;
}

/** A record read from storage: the entry, or undefined if it does not validate. */
export function parseEntry(value: unknown): QuarantineEntry | undefined {
  const parsed = quarantineEntrySchema.safeParse(value);
  return parsed.success ? parsed.data : undefined;
}
