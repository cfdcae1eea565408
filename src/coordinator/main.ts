/**
 * `node dist/src/coordinator/main.js local [--id <id>] [--https-port <port>]`
 * (npm run start:coordinator -- local …): one coordinator, by default the identity `coordinator`.
 * `--id` names another of COORDINATOR_IDS (its certificate CERTS_DIR/<id>.crt, its state
 * DATA_DIR/<id>); `--https-port` overrides COORDINATOR_HTTPS_PORT for this process, so that two
 * coordinators on one host do not compete for the port. More than one identity in COORDINATOR_IDS
 * needs COORDINATOR_DATABASE_URL (the coordinators share their state in PostgreSQL); without it
 * the start is refused.
 * Loads env/.env.<name>, dials every node over mutual TLS (expecting NODE_IDS[k] at
 * NODE_HOSTS[k]), asks each for its `info` when it connects, makes the node group's aux-info when
 * it is missing or differs (all nodes connected; ~30 s of compute), and serves the wallet HTTPS
 * API on COORDINATOR_HTTPS_HOST:COORDINATOR_HTTPS_PORT (loopback by default) with
 * COORDINATOR_HTTPS_CERT/KEY (default the coordinator's certificate from CERTS_DIR). Prints the
 * banner of docs/product.md whenever the number of connected nodes changes. SIGINT/SIGTERM stop it cleanly:
 * no new requests, those under way finish (up to 10 s), connections close, the registry is closed.
 *
 * Audit trail (COORDINATOR_DATA_DIR/audit.jsonl, hash-chained: `npm run audit:verify -- <file>`):
 * wallets created and signatures (recorded before they are returned), refreshes and rotations
 * (rotation.ts; an admin refresh is recorded before it is answered), wallets archived and restored
 * (archive.ts; recorded before they are answered), suspensions and their end
 * (a release by an operator, or a cool-down over), and the coordinator's start and stop. Requests
 * are attributed to the configured credential by its public id, never the token.
 *
 * One coordinator per data directory: the process owns its identity's directory (DATA_DIR/<id>)
 * before it touches anything else, so a second coordinator started on it exits with status 75 and
 * a message naming the first, having bound no port and dialled no node.
 *
 * Wiring only: createCoordinator (create.ts) builds the coordinator; this module parses the command
 * line and owns the process (signals, exit status).
 * @module
 */
import { parseArgs } from 'node:util';
import { ConfigError, coordinatorEntry, loadConfig } from '../config/index.js';
import { DEFAULT_COORDINATOR_ID } from '../transport/identity.js';
import { DirectoryLockError, LOCKED_EXIT_CODE } from '../util/dir-lock.js';
import { createCoordinator } from './create.js';

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    options: {
      env: { type: 'string' },
      id: { type: 'string', default: DEFAULT_COORDINATOR_ID },
      'https-port': { type: 'string' },
    },
    allowPositionals: true,
    strict: true,
  });
  if (positionals.length > 1)
    throw new ConfigError([{ variable: '--env', message: `one environment name expected, got ${positionals.length}` }]);
  const envName = values.env ?? positionals[0] ?? 'local';
  const loaded = loadConfig({ env: envName });
  const port = values['https-port'];
  if (port !== undefined && !/^\d{1,5}$/.test(port))
    throw new ConfigError([
      { variable: '--https-port', message: `must be a port 1–65535, got ${JSON.stringify(port)}` },
    ]);
  const self = coordinatorEntry(loaded, values.id, port === undefined ? {} : { httpsPort: Number(port) });
  const coordinator = await createCoordinator({ ...loaded, coordinator: self });
  const { log } = coordinator;
  let stopping = false;
  const shutdown = async (signal: string): Promise<void> => {
    if (stopping) {
      log.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    log.info({ signal }, 'shutting down');
    await coordinator.stop(signal);
    log.info('stopped');
    log.flush();
    process.exit(0);
  };
  // Before anything announces the API: a signal sent as soon as it is up must find the handler.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => void shutdown(signal));
  coordinator.start();
}

main().catch((e: unknown) => {
  const locked = e instanceof DirectoryLockError && e.code === 'locked';
  if (e instanceof ConfigError || e instanceof RangeError || locked) console.error(e.message);
  else console.error('coordinator failed to start:', e instanceof Error ? e.message : e);
  process.exit(locked ? LOCKED_EXIT_CODE : e instanceof ConfigError || e instanceof RangeError ? 2 : 1);
});
