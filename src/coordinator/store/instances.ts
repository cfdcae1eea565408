/**
 * Which coordinator processes are alive, as the shared database sees it. Each process registers an
 * instance row and renews it every `renewMs`; a row not renewed for `lifetimeMs` is a process that
 * stopped (or lost the database), and the work it owned — a key generation it was running, a lease
 * it held — may be taken over by another process. Instance ids are fresh per start, so a restarted
 * coordinator never mistakes its former self's unfinished work for its own.
 *
 * Times are the database server's (`now()`), never compared with this machine's clock.
 * @module
 */
import { silentLogger, type Logger } from '../../util/log.js';
import type { Database } from './database.js';

export interface InstanceOptions {
  readonly coordinatorId: string;
  /** renewal period (default 5 s) */
  readonly renewMs?: number;
  /** how long a row stays alive without renewal (default 30 s) */
  readonly lifetimeMs?: number;
  readonly log?: Logger;
}

export class CoordinatorInstances {
  private alive = new Set<string>();
  /** reads of the live set are numbered: a slower, older read never replaces a newer one */
  private reads = 0;
  private applied = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly renewMs: number;
  private readonly lifetimeMs: number;
  private readonly log: Logger;

  private constructor(
    private readonly db: Database,
    private readonly o: InstanceOptions,
  ) {
    this.renewMs = o.renewMs ?? 5_000;
    this.lifetimeMs = o.lifetimeMs ?? 30_000;
    this.log = o.log ?? silentLogger();
  }

  /** Registers this process and starts renewing. @throws StoreUnavailableError */
  static async start(db: Database, o: InstanceOptions): Promise<CoordinatorInstances> {
    const instances = new CoordinatorInstances(db, o);
    await instances.renew();
    instances.timer = setInterval(() => {
      instances
        .renew()
        .catch((e: unknown) =>
          instances.log.warn({ err: (e as Error).message }, 'database: coordinator liveness not renewed'),
        );
    }, instances.renewMs);
    instances.timer.unref();
    return instances;
  }

  get instanceId(): string {
    return this.db.instanceId;
  }

  /** Whether an instance renewed its row recently (as of the last renewal here); this one always is. */
  isAlive(instanceId: string): boolean {
    return instanceId === this.db.instanceId || this.alive.has(instanceId);
  }

  /** Renews this instance's row and reads which others are alive; old rows are removed. */
  async renew(): Promise<void> {
    const read = ++this.reads;
    const rows = await this.db.transaction(async (c) => {
      await c.query(
        `INSERT INTO coordinator_instances (instance_id, coordinator_id, alive_until)
         VALUES ($1, $2, now() + $3 * interval '1 millisecond')
         ON CONFLICT (instance_id) DO UPDATE SET alive_until = EXCLUDED.alive_until`,
        [this.db.instanceId, this.o.coordinatorId, this.lifetimeMs],
      );
      // rows dead for a day tell nobody anything
      await c.query(`DELETE FROM coordinator_instances WHERE alive_until < now() - interval '1 day'`);
      return (
        await c.query<{ instance_id: string }>(
          'SELECT instance_id FROM coordinator_instances WHERE alive_until > now()',
        )
      ).rows;
    });
    this.update(read, rows);
  }

  /**
   * Reads which instances are alive now, without renewing. For an owner this process has not seen
   * alive yet: an instance registers before it writes anything, so a read made after one of its
   * writes was seen finds it alive if it is — the last renewal may predate its start.
   * @throws StoreUnavailableError
   */
  async refresh(): Promise<void> {
    const read = ++this.reads;
    const rows = (
      await this.db.query<{ instance_id: string }>(
        'SELECT instance_id FROM coordinator_instances WHERE alive_until > now()',
      )
    ).rows;
    this.update(read, rows);
  }

  private update(read: number, rows: readonly { instance_id: string }[]): void {
    if (read < this.applied) return;
    this.applied = read;
    this.alive = new Set(rows.map((r) => r.instance_id));
  }

  /** Stops renewing and ends this instance's row (its work may be taken over at once). */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.db
      .query('UPDATE coordinator_instances SET alive_until = now() WHERE instance_id = $1', [this.db.instanceId])
      .catch(() => undefined);
  }
}
