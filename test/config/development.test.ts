/**
 * Development-only options (src/config/development.ts): `--dev-primes` (public fixture primes) is
 * accepted only in the `local` environment with every member on the LOCAL platform — the node
 * process refuses it otherwise before touching any state (docs/security.md P5); NODE_PRIME_POOL (docs/security.md S10) has its
 * default and bounds.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { cp, mkdir, readdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, devPrimesRefusal, loadConfig, parseConfig } from '../../src/config/index.js';

// dist/test/config → the project root
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const NODE_MAIN = fileURLToPath(new URL('../../src/node/main.js', import.meta.url));
const PRIMES = join(ROOT, 'test', 'fixtures', 'safe-primes.json');

test('P5: development primes are allowed in env/.env.local (every member LOCAL)', (t) => {
  t.is(devPrimesRefusal(loadConfig({ env: 'local', rootDir: ROOT, processEnv: {} })), undefined);
});

test('P5: any other environment name is refused, even with the same content', (t) => {
  const local = loadConfig({ env: 'local', rootDir: ROOT, processEnv: {} });
  t.regex(
    devPrimesRefusal({ ...local, envName: 'staging' }) ?? '',
    /only in the "local" environment.*not in "staging"/,
  );
  t.regex(devPrimesRefusal({ ...local, envName: undefined }) ?? '', /without an environment name/);
  const aws = loadConfig({
    env: 'aws.example',
    rootDir: ROOT,
    processEnv: { WALLET_SERVER_AUTH_TOKEN: 'Bearer 0123456789abcdefghij' },
  });
  t.regex(devPrimesRefusal(aws) ?? '', /not in "aws.example"/);
});

test('P5: the local environment with a member on a cloud platform is refused', (t) => {
  const local = loadConfig({ env: 'local', rootDir: ROOT, processEnv: {} });
  const cloudNode = { ...local, nodes: local.nodes.map((n, k) => (k === 2 ? { ...n, platform: 'AWS' as const } : n)) };
  t.regex(devPrimesRefusal(cloudNode) ?? '', /every member runs on the LOCAL platform; not: node_3 \(AWS\)/);
  const cloudCoordinator = { ...local, coordinator: { ...local.coordinator, platform: 'AZURE' as const } };
  t.regex(devPrimesRefusal(cloudCoordinator) ?? '', /the coordinator \(AZURE\)/);
});

test('P5: a node started with --dev-primes outside the development environment refuses before touching any state', async (t) => {
  // a copy of env/.env.local under another name: everything else would start
  const root = await mkdtemp(join(tmpdir(), 'mpc-devprimes-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  await mkdir(join(root, 'env'));
  await cp(join(ROOT, 'env', '.env.local'), join(root, 'env', '.env.staging'));
  const child = spawn(process.execPath, [NODE_MAIN, '--env', 'staging', '--id', 'node_1', '--dev-primes', PRIMES], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString('utf8')));
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  t.not(code, 0);
  t.regex(stderr, /--dev-primes/);
  t.regex(stderr, /development primes are accepted only in the "local" environment/);
  t.deepEqual((await readdir(root)).sort(), ['env'], 'no data, KMS or lock directory was created');
});

test('S10: NODE_PRIME_POOL defaults to 8 (two aux runs), 4–64, anything else names the variable', (t) => {
  const base = {
    COORDINATOR_PLATFORM: 'LOCAL',
    NODE_IDS: 'node_1,node_2,node_3',
    NODE_HOSTS: '127.0.0.1:8081,127.0.0.1:8082,127.0.0.1:8083',
    NODE_PLATFORMS: 'LOCAL,LOCAL,LOCAL',
    MPC_THRESHOLD: '2',
    MPC_TOTAL_SHARDS: '3',
  };
  const pool = (v: string | undefined) =>
    parseConfig({ ...base, NODE_PRIME_POOL: v }, { rootDir: '/srv/mpc' }).nodePrimePool;
  t.is(pool(undefined), 8);
  t.is(pool('4'), 4);
  t.is(pool('64'), 64);
  for (const bad of ['3', '65', 'eight', '-4'])
    t.throws(() => pool(bad), { instanceOf: ConfigError, message: /NODE_PRIME_POOL/ });
});
