/**
 * Leases on background work that one coordinator of a group should do at a time (the refresh
 * schedule): a row per lease names the instance holding it until `expires_at`. The holder renews
 * it every `renewMs`; when the holder stops (or loses the database) the lease runs out after
 * `ttlMs` and another coordinator takes it at its next renewal. `holds(name)` answers from the last
 * renewal, and answers false once that renewal is older than the lease could still be ours.
 *
 * A lease decides who does the work, not whether the work is safe: everything a lease divides is
 * also safe when done twice (the nodes' locks and commits see to that); the lease only keeps the
 * work from being done twice.
 * @module
 */
import { silentLogger, type Logger } from '../../util/log.js';
import type { Database } from './database.js';

export interface LeaseOptions {
  /** how long a lease lasts without renewal (default 30 s) */
  readonly ttlMs?: number;
  /** renewal period (default 10 s) */
  readonly renewMs?: number;
  readonly log?: Logger;
}

export class Leases {
  private readonly held = new Map<string, number>(); // name → local time (monotonic ms) the lease is surely ours until
  private timer: NodeJS.Timeout | undefined;
  private readonly ttlMs: number;
  private readonly renewMs: number;
  private readonly log: Logger;

  constructor(
    private readonly db: Database,
    private readonly names: readonly string[],
    o: LeaseOptions = {},
  ) {
    this.ttlMs = o.ttlMs ?? 30_000;
    this.renewMs = o.renewMs ?? 10_000;
    this.log = o.log ?? silentLogger();
  }

  /** Takes or renews every lease now, then every `renewMs`. */
  async start(): Promise<void> {
    await this.renew().catch((e: unknown) =>
      this.log.warn({ err: (e as Error).message }, 'database: leases not renewed'),
    );
    this.timer = setInterval(() => {
      this.renew().catch((e: unknown) => this.log.warn({ err: (e as Error).message }, 'database: leases not renewed'));
    }, this.renewMs);
    this.timer.unref();
  }

  /** Whether this instance holds `name` now. */
  holds(name: string): boolean {
    return (this.held.get(name) ?? 0) > performance.now();
  }

  /** Takes each lease that is free or expired, renews those held. */
  async renew(): Promise<void> {
    for (const name of this.names) {
      // counted from before the request: the row's expiry is at least this far away
      const asked = performance.now();
      const r = await this.db.query(
        `INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, now() + $3 * interval '1 millisecond')
         ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
         WHERE leases.holder = EXCLUDED.holder OR leases.expires_at < now()`,
        [name, this.db.instanceId, this.ttlMs],
      );
      const had = this.holds(name);
      if (r.rowCount === 1) this.held.set(name, asked + this.ttlMs - this.renewMs);
      else this.held.delete(name);
      if (had !== this.holds(name))
        this.log.info({ lease: name, held: !had }, had ? 'lease lost to another coordinator' : 'lease taken');
    }
  }

  /** Stops renewing and gives the leases back, so another coordinator takes them at once. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.held.clear();
    await this.db.query('DELETE FROM leases WHERE holder = $1', [this.db.instanceId]).catch(() => undefined);
  }
}
