/**
 * Admin jobs shared by the coordinators of one database (table `admin_jobs`, migration 5): a
 * rotation or reshare started at any coordinator runs alone across all of them, and its progress
 * is readable at every one (GET /v1/admin/jobs/:jobId behind a load balancer).
 *
 * - `begin` takes the group's one job slot under a transaction-scoped advisory lock: refused
 *   (RotationRunningError, 409) while a job of a live coordinator runs. A running job whose
 *   coordinator is no longer alive (coordinator_instances) is closed as failed there and then: its
 *   work stopped, and both jobs are safe to start again (a wallet already current is skipped).
 * - The coordinator running a job writes each change of its view (`update`), in order.
 * - `get` reads a job from the table; a running job of a coordinator no longer alive reads as failed.
 * @module
 */
import { silentLogger, type Logger } from '../../util/log.js';
import { RotationRunningError } from '../errors.js';
import { advisoryKey, type Database } from './database.js';

/** What every job view has (RotationJobView, ReshareJobView). */
export interface JobView {
  readonly jobId: string;
  readonly kind: string;
  readonly status: 'running' | 'succeeded' | 'failed';
  readonly error?: string;
}

const STOPPED = 'its coordinator stopped before the job finished; start it again (wallets already done are skipped)';

export class SharedJobs {
  /** writes of each job's view, chained so a later view never lands before an earlier one */
  private readonly writes = new Map<string, Promise<void>>();

  constructor(
    private readonly db: Database,
    private readonly log: Logger = silentLogger(),
  ) {}

  /**
   * Takes the group's job slot for `view` (a job this coordinator is about to run).
   * @throws RotationRunningError while another live coordinator's job runs; StoreUnavailableError
   */
  async begin(view: JobView): Promise<void> {
    await this.db.transaction(async (c) => {
      await c.query('SELECT pg_advisory_xact_lock($1)', [advisoryKey('admin-job').toString()]);
      const live = await c.query<{ job_id: string }>(
        `SELECT j.job_id FROM admin_jobs j JOIN coordinator_instances i ON i.instance_id = j.instance_id
         WHERE j.status = 'running' AND i.alive_until > now() LIMIT 1`,
      );
      const running = live.rows[0];
      if (running)
        throw new RotationRunningError(
          `job ${running.job_id} (a rotation or reshare) is running at another coordinator`,
        );
      // whatever still reads running belongs to a coordinator that stopped
      await c.query(
        `UPDATE admin_jobs SET status = 'failed', updated_at = now(),
           view = view || jsonb_build_object('status', 'failed', 'error', $1::text)
         WHERE status = 'running'`,
        [STOPPED],
      );
      await c.query(
        `INSERT INTO admin_jobs (job_id, kind, status, instance_id, view) VALUES ($1, $2, 'running', $3, $4)`,
        [view.jobId, view.kind, this.db.instanceId, JSON.stringify(view)],
      );
    });
  }

  /** Gives the slot back: the job did not start after all. */
  async abandon(jobId: string): Promise<void> {
    await this.db.query(`DELETE FROM admin_jobs WHERE job_id = $1 AND instance_id = $2`, [jobId, this.db.instanceId]);
  }

  /**
   * Records a change of a job this coordinator runs. Writes of one job happen in order; a failed
   * write is logged (the next change writes the whole view again). Resolves once written or failed.
   */
  update(view: JobView): Promise<void> {
    const previous = this.writes.get(view.jobId) ?? Promise.resolve();
    const write = previous.then(() =>
      this.db
        .query(
          `UPDATE admin_jobs SET status = $2, view = $3, updated_at = now() WHERE job_id = $1 AND instance_id = $4`,
          [view.jobId, view.status, JSON.stringify(view), this.db.instanceId],
        )
        .then(
          () => undefined,
          (e: unknown) =>
            this.log.warn({ jobId: view.jobId, err: (e as Error).message }, 'admin job: progress not recorded'),
        ),
    );
    this.writes.set(view.jobId, write);
    void write.then(() => {
      if (this.writes.get(view.jobId) === write) this.writes.delete(view.jobId);
    });
    return write;
  }

  /** A job as the table has it (any coordinator's), or undefined. @throws StoreUnavailableError */
  async get(jobId: string): Promise<JobView | undefined> {
    const r = await this.db.query<{ view: JobView; status: string; alive: boolean | null }>(
      `SELECT j.view, j.status, i.alive_until > now() AS alive
       FROM admin_jobs j LEFT JOIN coordinator_instances i ON i.instance_id = j.instance_id
       WHERE j.job_id = $1`,
      [jobId],
    );
    const row = r.rows[0];
    if (!row) return undefined;
    // written by a coordinator, but the table is anyone's with the database's credentials: shown only
    // if it describes this job
    const v = row.view as Partial<JobView> | null;
    if (typeof v !== 'object' || v === null || v.jobId !== jobId || typeof v.kind !== 'string')
      return { jobId, kind: 'unknown', status: 'failed', error: 'the recorded job does not describe itself' };
    if (row.status === 'running' && row.alive !== true) return { ...row.view, status: 'failed', error: STOPPED };
    return row.view;
  }
}
