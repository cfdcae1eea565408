/**
 * A real PostgreSQL server for the tests: initdb into a temporary directory, pg_ctl start on a free
 * loopback port with password authentication, torn down at the end. No mock of PostgreSQL anywhere.
 *
 * The server binaries come from PATH or from Debian's /usr/lib/postgresql/<version>/bin (`.ci/run`
 * installs the `postgresql` package). PostgreSQL refuses to run as root, so under root the server
 * runs as the `postgres` user the package creates, in a directory handed to it.
 *
 * fsync is off: the tests stop and restart the server (`pg_ctl stop -m immediate` is a crash of the
 * server process, not of the machine), and an fsync per commit would only slow them down.
 */
import { execFile, spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { chown, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';

const run = promisify(execFile);

export interface PostgresServer {
  /** `postgres://mpc:<password>@127.0.0.1:<port>/<database>` for a database made by `createDatabase` */
  url(database?: string): string;
  /** a new, empty database; its URL */
  createDatabase(name?: string): Promise<string>;
  /** stops the server: `fast` (clean shutdown) or `immediate` (like a crash of the server) */
  stop(mode?: 'fast' | 'immediate'): Promise<void>;
  /** starts it again on the same port and data */
  start(): Promise<void>;
  /** stops it and deletes its directory */
  destroy(): Promise<void>;
  readonly port: number;
}

async function binDir(): Promise<string> {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    try {
      if ((await readdir(dir)).includes('pg_ctl')) return dir;
    } catch {
      // not a directory
    }
  }
  const root = '/usr/lib/postgresql';
  const versions = (await readdir(root).catch(() => [] as string[]))
    .filter((v) => /^\d+$/.test(v))
    .sort((a, b) => Number(b) - Number(a));
  if (versions.length === 0)
    throw new Error('PostgreSQL server binaries not found (install the Debian package `postgresql`)');
  return join(root, versions[0] as string, 'bin');
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

let databases = 0;

export async function startPostgres(): Promise<PostgresServer> {
  const bin = await binDir();
  const root = await mkdtemp(join(tmpdir(), 'mpc-pg-'));
  const data = join(root, 'data');
  const password = `pw-${process.pid}-${Date.now()}`;
  const asRoot = process.getuid?.() === 0;
  let uid = 0;
  let gid = 0;
  if (asRoot) {
    uid = Number((await run('id', ['-u', 'postgres'])).stdout.trim());
    gid = Number((await run('id', ['-g', 'postgres'])).stdout.trim());
    await chown(root, uid, gid);
  }
  const exec = (file: string, args: string[]) =>
    asRoot ? run('runuser', ['-u', 'postgres', '--', join(bin, file), ...args]) : run(join(bin, file), args);
  await writeFile(join(root, 'pw'), password, { mode: 0o600 });
  if (asRoot) await chown(join(root, 'pw'), uid, gid);
  await exec('initdb', [
    '-D',
    data,
    '-U',
    'mpc',
    '--auth=scram-sha-256',
    `--pwfile=${join(root, 'pw')}`,
    '-E',
    'UTF8',
    '--no-instructions',
  ]);
  const port = await freePort();
  const options = `-p ${port} -k ${root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200`;
  const start = async () => {
    await exec('pg_ctl', ['-D', data, '-w', '-t', '60', '-l', join(root, 'log'), '-o', options, 'start']);
  };
  const stop = async (mode: 'fast' | 'immediate' = 'fast') => {
    await exec('pg_ctl', ['-D', data, '-w', '-t', '60', '-m', mode, 'stop']);
  };
  await start();
  // A test process that ends without destroy() (a failed before-hook, a timeout that ends the
  // worker normally) must not leave a server running: stopped synchronously as the process exits.
  const atExit = (): void => {
    const args = ['-D', data, '-m', 'immediate', 'stop'];
    spawnSync(
      asRoot ? 'runuser' : join(bin, 'pg_ctl'),
      asRoot ? ['-u', 'postgres', '--', join(bin, 'pg_ctl'), ...args] : args,
    );
    rmSync(root, { recursive: true, force: true });
  };
  process.once('exit', atExit);
  const url = (database = 'postgres') => `postgres://mpc:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}`;
  return {
    port,
    url,
    start,
    stop,
    async createDatabase(name = `t${process.pid}_${++databases}`) {
      const client = new pg.Client({ connectionString: url() });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE "${name}"`);
      } finally {
        await client.end();
      }
      return url(name);
    },
    async destroy() {
      process.off('exit', atExit);
      await stop('immediate').catch(() => undefined);
      await rm(root, { recursive: true, force: true });
    },
  };
}
