/**
 * `npm run quarantine -- [--env <name>] [--release <node id>]`: lists the nodes the coordinator has
 * suspended after cryptographic aborts and the pairs of nodes in dispute after abort reports (see
 * src/coordinator/quarantine.ts), or releases a node after an operator has reviewed it (its
 * suspension and its disputes end). Works while the coordinator runs: it appends to the
 * coordinator's quarantine file, which the coordinator re-reads within a second or two.
 *
 * With COORDINATOR_DATABASE_URL in the env file, the quarantine is the table every coordinator
 * shares: the release is one row appended in a transaction, and every coordinator reads it at its
 * next poll (a second or two). The data directory plays no part then.
 *
 * It does not need to own the coordinator's directory, and must not be locked out of it by the
 * running coordinator (releasing a node is what an operator does while the service runs). A release
 * is one line appended in a single write to a file opened for appending, which the kernel places
 * whole after the coordinator's own lines. So: when no process owns the directory, this command
 * takes it for its few milliseconds (a coordinator starting meanwhile is told so and can be started
 * again) and may repair a line torn by a crash; when a live coordinator owns it, it only appends
 * and leaves repairs to the owner.
 * @module
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, type Config } from '../src/config/index.js';
import { Quarantine } from '../src/coordinator/quarantine.js';
import { Database } from '../src/coordinator/store/database.js';
import { PgQuarantineJournal } from '../src/coordinator/store/quarantine-pg.js';
import { DirectoryLockError, lockDirectory, type DirectoryLock, type OwnerInfo } from '../src/util/dir-lock.js';

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      env: { type: 'string', default: 'local' },
      release: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log('usage: npm run quarantine -- [--env <name>] [--release <node id>]');
    return 0;
  }
  const config = loadConfig({ env: values.env });
  const url = config.coordinator.databaseUrl;
  if (url !== undefined) {
    const db = await Database.open({ url, poolSize: 1, applicationName: 'mpc-engine quarantine' });
    try {
      const q = await Quarantine.openJournal(new PgQuarantineJournal(db), {
        watch: false,
        maxFaulty: config.mpc.threshold - 1,
      });
      return await run(config, q, values.release, { shared: db.location });
    } finally {
      await db.close();
    }
  }
  let owner: DirectoryLock | undefined;
  let running: { owner: OwnerInfo | undefined } | undefined;
  try {
    owner = await lockDirectory(config.coordinator.dataDir, 'quarantine');
  } catch (e) {
    if (!(e instanceof DirectoryLockError && e.code === 'locked')) throw e;
    running = { owner: e.owner };
  }
  try {
    const q = await Quarantine.open(join(config.coordinator.dataDir, 'quarantine.jsonl'), {
      watch: false,
      repair: running === undefined,
      maxFaulty: config.mpc.threshold - 1,
    });
    return await run(config, q, values.release, running === undefined ? {} : { running });
  } finally {
    await owner?.release();
  }
}

/**
 * `running`: a live process (the coordinator) owns the directory; this command only appends.
 * `shared`: the quarantine is the database's (its location), which every coordinator polls.
 */
async function run(
  config: Config,
  q: Quarantine,
  release: string | undefined,
  where: { running?: { owner: OwnerInfo | undefined }; shared?: string },
): Promise<number> {
  const { running, shared } = where;
  if (release !== undefined) {
    if (!config.nodes.some((n) => n.id === release))
      throw new ConfigError(
        [{ variable: '--release', message: `${JSON.stringify(release)} is not in NODE_IDS` }],
        config.envFile,
      );
    if (!q.isSuspended(release) && !q.disputes().some((d) => d.nodes.includes(release))) {
      console.log(`${release} is neither suspended nor in dispute`);
      return 0;
    }
    await q.release(release);
    if (shared !== undefined) {
      console.log(`${release} released in ${shared}; every coordinator applies it within a few seconds`);
      return 0;
    }
    const who = running?.owner ? `${running.owner.role} (process ${running.owner.pid})` : 'coordinator';
    console.log(`${release} released${running ? `; the running ${who} applies it within a few seconds` : ''}`);
    return 0;
  }
  const all = q.suspended();
  const disputes = q.disputes();
  if (all.length === 0) console.log('no node is suspended');
  for (const s of all) {
    const until =
      s.until === undefined
        ? 'until released (npm run quarantine -- --release ' + s.nodeId + ')'
        : `until ${new Date(s.until).toISOString()}`;
    const what = s.verified ? 'verified offence' : 'implausible abort reports';
    console.log(
      `${s.nodeId}: ${what} in ${s.protocol} at ${new Date(s.since).toISOString()}: ${s.reason}${s.code === undefined ? '' : ` [${s.code}]`}; suspended ${until}`,
    );
  }
  for (const d of disputes) {
    console.log(
      `${d.nodes.join(' + ')}: in dispute after ${d.reports} abort report(s) in 24 h; not used together until about ${new Date(d.until).toISOString()}`,
    );
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(e instanceof ConfigError ? e.message : `quarantine: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  },
);
