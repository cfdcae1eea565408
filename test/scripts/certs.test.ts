/**
 * `npm run certs` (dist/scripts/certs.js) in a scratch project: creates the files from the
 * environment's NODE_IDS into CERTS_DIR and the CA keys into CERTS_CA_DIR (never CERTS_DIR),
 * keeps them on a second run, replaces them with --force, refuses the older layout (a CA key in
 * CERTS_DIR) until --force, and reports a bad environment as a configuration error with exit
 * code 1. The coordinator refuses to start while a CA key lies in CERTS_DIR.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const SCRIPT = join(ROOT, 'dist', 'scripts', 'certs.js');

async function run(cwd: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [SCRIPT, ...args], {
      cwd,
      env: { PATH: process.env['PATH'] ?? '' },
    });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

test('npm run certs: creates, keeps, --force replaces; a bad environment exits 1', async (t) => {
  const cwd = await mkdtemp(join(tmpdir(), 'mpc-cli-'));
  t.teardown(() => rm(cwd, { recursive: true, force: true }));
  await mkdir(join(cwd, 'env'));
  await copyFile(join(ROOT, 'env', '.env.local'), join(cwd, 'env', '.env.local'));

  const first = await run(cwd);
  t.is(first.code, 0, first.stderr);
  t.regex(first.stdout, /created +certs\/ca\.crt/);
  for (const name of ['coordinator', 'node_1', 'node_2', 'node_3']) {
    t.regex(first.stdout, new RegExp(`created +certs/${name}\\.crt`));
    t.is((await stat(join(cwd, 'certs', `${name}.key`))).mode & 0o777, 0o600);
  }
  t.regex(first.stdout, /created +certs\/public\/api\.crt/);
  t.regex(first.stdout, /created +certs\/public\/ca\.crt/);
  // The CA keys: beside certs/, private, and not in certs/ under any name.
  await t.throwsAsync(stat(join(cwd, 'certs', 'ca.key')), { code: 'ENOENT' });
  t.is((await stat(join(cwd, 'certs-ca'))).mode & 0o777, 0o700);
  t.deepEqual((await readdir(join(cwd, 'certs-ca'))).sort(), ['internal-ca.key', 'public-ca.key']);
  const caKeys = await Promise.all(
    ['internal-ca.key', 'public-ca.key'].map(async (k) => {
      t.is((await stat(join(cwd, 'certs-ca', k))).mode & 0o777, 0o600);
      return readFile(join(cwd, 'certs-ca', k));
    }),
  );
  for (const f of await readdir(join(cwd, 'certs'), { recursive: true })) {
    const path = join(cwd, 'certs', f);
    if (!(await stat(path)).isFile()) continue;
    const bytes = await readFile(path);
    t.false(
      caKeys.some((k) => k.equals(bytes)),
      `certs/${f} is not a CA key`,
    );
    t.false(/-----BEGIN PRIVATE KEY-----/.test(bytes.toString()) && /ca/i.test(f), `certs/${f}`);
  }
  const ca = await readFile(join(cwd, 'certs', 'ca.crt'));

  const second = await run(cwd);
  t.is(second.code, 0);
  t.regex(second.stdout, /nothing to do/);
  t.true((await readFile(join(cwd, 'certs', 'ca.crt'))).equals(ca));

  const forced = await run(cwd, '--force', '--dir', 'other');
  t.is(forced.code, 0);
  t.regex(forced.stdout, /created +other\/node_3\.key/);
  t.regex(forced.stdout, /created +other-ca\/internal-ca\.key/);

  const replaced = await run(cwd, '--force');
  t.is(replaced.code, 0);
  t.false((await readFile(join(cwd, 'certs', 'ca.crt'))).equals(ca));

  const bad = await run(cwd, '--env', 'missing');
  t.is(bad.code, 1);
  t.regex(bad.stderr, /--env: .*\.env\.missing: file not found/);
});

test('npm run certs refuses the older layout until --force; the coordinator refuses to start with a CA key in CERTS_DIR', async (t) => {
  const cwd = await mkdtemp(join(tmpdir(), 'mpc-cli-'));
  t.teardown(() => rm(cwd, { recursive: true, force: true }));
  await mkdir(join(cwd, 'env'));
  await copyFile(join(ROOT, 'env', '.env.local'), join(cwd, 'env', '.env.local'));
  t.is((await run(cwd)).code, 0);

  // The older layout's CA key, put back where the services read.
  await copyFile(join(cwd, 'certs-ca', 'internal-ca.key'), join(cwd, 'certs', 'ca.key'));
  const coordinator = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      [join(ROOT, 'dist', 'src', 'coordinator', 'main.js'), 'local'],
      { cwd, env: { PATH: process.env['PATH'] ?? '' }, timeout: 60_000 },
      (e, _out, stderr) => resolve({ code: e ? ((e as { code?: number }).code ?? null) : 0, stderr }),
    );
  });
  t.is(coordinator.code, 1);
  t.regex(coordinator.stderr, /certs\/ca\.key is a CA private key in a directory this service reads/);
  t.notRegex(coordinator.stderr, /PRIVATE KEY-----/);
  await t.throwsAsync(
    stat(join(cwd, 'data', 'coordinator', 'wallets.jsonl')),
    { code: 'ENOENT' },
    'it stopped before opening its state',
  );

  const refused = await run(cwd);
  t.is(refused.code, 1);
  t.regex(refused.stderr, /ca\.key is a CA private key in the directory the services read .* --force/);
  const forced = await run(cwd, '--force');
  t.is(forced.code, 0, forced.stderr);
  t.regex(forced.stdout, /removed +certs\/ca\.key/);
  await t.throwsAsync(stat(join(cwd, 'certs', 'ca.key')), { code: 'ENOENT' });

  // A CA key directory inside the certificate directory is a configuration error.
  await writeFile(
    join(cwd, 'env', '.env.local'),
    (await readFile(join(cwd, 'env', '.env.local'), 'utf8')) + '\nCERTS_CA_DIR=certs/ca\n',
  );
  const inside = await run(cwd);
  t.is(inside.code, 1);
  t.regex(inside.stderr, /CERTS_CA_DIR: .* is CERTS_DIR or inside it/);
});
