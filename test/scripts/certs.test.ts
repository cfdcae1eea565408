/**
 * `npm run certs` (dist/scripts/certs.js) in a scratch project: creates the files from the
 * environment's NODE_IDS into CERTS_DIR, keeps them on a second run, replaces them with --force,
 * and reports a bad environment as a configuration error with exit code 1.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const SCRIPT = join(ROOT, 'dist', 'scripts', 'certs.js');

async function run(cwd: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [SCRIPT, ...args], { cwd, env: { PATH: process.env['PATH'] ?? '' } });
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
  for (const name of ['ca', 'coordinator', 'node_1', 'node_2', 'node_3']) {
    t.regex(first.stdout, new RegExp(`created +certs/${name}\\.crt`));
    t.is((await stat(join(cwd, 'certs', `${name}.key`))).mode & 0o777, 0o600);
  }
  const ca = await readFile(join(cwd, 'certs', 'ca.crt'));

  const second = await run(cwd);
  t.is(second.code, 0);
  t.regex(second.stdout, /nothing to do/);
  t.true((await readFile(join(cwd, 'certs', 'ca.crt'))).equals(ca));

  const forced = await run(cwd, '--force', '--dir', 'other');
  t.is(forced.code, 0);
  t.regex(forced.stdout, /created +other\/node_3\.key/);

  const replaced = await run(cwd, '--force');
  t.is(replaced.code, 0);
  t.false((await readFile(join(cwd, 'certs', 'ca.crt'))).equals(ca));

  const bad = await run(cwd, '--env', 'missing');
  t.is(bad.code, 1);
  t.regex(bad.stderr, /--env: .*\.env\.missing: file not found/);
});
