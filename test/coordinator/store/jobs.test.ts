/**
 * Admin jobs shared by two coordinators on a real PostgreSQL (src/coordinator/store/jobs-pg.ts):
 * one job at a time across them, its progress readable at either, a job whose coordinator stopped
 * reads as failed and frees the slot, and a row that does not describe its job is not shown as one.
 */
import test from 'ava';
import { RotationRunningError } from '../../../src/coordinator/errors.js';
import { newJobId } from '../../../src/coordinator/rotation.js';
import { Database } from '../../../src/coordinator/store/database.js';
import { CoordinatorInstances } from '../../../src/coordinator/store/instances.js';
import { SharedJobs, type JobView } from '../../../src/coordinator/store/jobs-pg.js';
import { startPostgres, type PostgresServer } from '../../helpers/postgres.js';

let server: PostgresServer;
test.before(async () => {
  server = await startPostgres();
});
test.after.always(() => server?.destroy());

async function twoCoordinators(t: import('ava').ExecutionContext) {
  const url = await server.createDatabase();
  const dbs = await Promise.all([1, 2].map(() => Database.open({ url, poolSize: 2 })));
  t.teardown(() => Promise.all(dbs.map((d) => d.close())));
  const instances = await Promise.all(
    dbs.map((db, k) => CoordinatorInstances.start(db, { coordinatorId: `coordinator_${k + 1}`, lifetimeMs: 1_000 })),
  );
  t.teardown(() => Promise.all(instances.map((i) => i.stop().catch(() => undefined))));
  return { dbs, instances, jobs: dbs.map((db) => new SharedJobs(db)) };
}

const view = (jobId: string, patch: Record<string, unknown> = {}): JobView & Record<string, unknown> => ({
  jobId,
  kind: 'rotation',
  status: 'running',
  phase: 'aux',
  ...patch,
});

test.serial('one job at a time across coordinators; its progress is read at the other', async (t) => {
  const { jobs } = await twoCoordinators(t);
  const [a, b] = jobs as [SharedJobs, SharedJobs];
  const first = newJobId();
  await a.begin(view(first));
  await t.throwsAsync(b.begin(view(newJobId(), { kind: 'reshare' })), { instanceOf: RotationRunningError });
  await t.throwsAsync(a.begin(view(newJobId())), { instanceOf: RotationRunningError }, 'also at the same one');
  // changes land in order, whatever the timing of their writes
  void a.update(view(first, { phase: 'refresh', wallets: { total: 3, refreshed: 1 } }));
  await a.update(view(first, { phase: 'refresh', wallets: { total: 3, refreshed: 2 } }));
  t.like(await b.get(first), { status: 'running', phase: 'refresh', wallets: { refreshed: 2 } });
  await a.update(view(first, { status: 'succeeded', phase: 'done' }));
  t.like(await b.get(first), { status: 'succeeded' });
  t.is(await b.get(newJobId()), undefined);
  // the slot is free once it finished
  const second = newJobId();
  await b.begin(view(second, { kind: 'reshare' }));
  t.like(await a.get(second), { kind: 'reshare', status: 'running' });
  // a job that did not start after all gives the slot back
  await b.abandon(second);
  t.is(await a.get(second), undefined);
  await a.begin(view(newJobId()));
});

test.serial('a running job whose coordinator stopped reads as failed and frees the slot', async (t) => {
  const { instances, jobs, dbs } = await twoCoordinators(t);
  const [a, b] = jobs as [SharedJobs, SharedJobs];
  const orphan = newJobId();
  await a.begin(view(orphan));
  await t.throwsAsync(b.begin(view(newJobId())), { instanceOf: RotationRunningError });
  await instances[0]!.stop(); // its row ends: the process is gone
  const seen = await b.get(orphan);
  t.like(seen, { status: 'failed' });
  t.regex(String(seen?.error), /stopped before the job finished/);
  const next = newJobId();
  await b.begin(view(next));
  t.like(await b.get(orphan), { status: 'failed' }, 'closed for good when the slot was taken');
  // a row edited in the database is not shown as a job it does not describe
  await dbs[1]!.query(`UPDATE admin_jobs SET view = '{"jobId":"job_somebodyelse0000","kind":"x"}' WHERE job_id = $1`, [
    next,
  ]);
  t.like(await a.get(next), { jobId: next, status: 'failed', error: 'the recorded job does not describe itself' });
});
