/**
 * `npm run certs` (dist/scripts/certs.js) in a scratch project: creates the files from the
 * environment's NODE_IDS into CERTS_DIR and the CA keys into CERTS_CA_DIR (never CERTS_DIR),
 * keeps them on a second run, replaces them with --force, refuses the older layout (a CA key in
 * CERTS_DIR) until --force, and reports a bad environment as a configuration error with exit
 * code 1. The coordinator refuses to start while a CA key lies in CERTS_DIR. With NODE_IDS
 * overridden (a node replaced, the group grown) only the new nodes' certificates are issued, under
 * the existing internal CA, and every other file stays byte for byte as it was; likewise a
 * coordinator id added to COORDINATOR_IDS.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import {
  coordinatorIdentity,
  identityFromCertificate,
  identityUri,
  nodeIdentity,
} from '../../src/transport/identity.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const SCRIPT = join(ROOT, 'dist', 'scripts', 'certs.js');

async function run(cwd: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return runWith(cwd, {}, ...args);
}

/** With environment variables over env/.env.local (as an operator overrides NODE_IDS for one run). */
async function runWith(
  cwd: string,
  env: Record<string, string>,
  ...args: string[]
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [SCRIPT, ...args], {
      cwd,
      env: { PATH: process.env['PATH'] ?? '', ...env },
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

/** Every file under `dir` (relative path → bytes). */
async function snapshot(dir: string): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  for (const f of await readdir(dir, { recursive: true })) {
    const path = join(dir, f);
    if ((await stat(path)).isFile()) files.set(f, await readFile(path));
  }
  return files;
}

test('npm run certs with NODE_IDS overridden: a replacement node_4, then a grown group, each issued under the existing internal CA with nothing else touched', async (t) => {
  const cwd = await mkdtemp(join(tmpdir(), 'mpc-cli-'));
  t.teardown(() => rm(cwd, { recursive: true, force: true }));
  await mkdir(join(cwd, 'env'));
  await copyFile(join(ROOT, 'env', '.env.local'), join(cwd, 'env', '.env.local'));
  t.is((await run(cwd)).code, 0);
  const before = new Map([
    ...[...(await snapshot(join(cwd, 'certs')))].map(([f, b]) => [`certs/${f}`, b] as const),
    ...[...(await snapshot(join(cwd, 'certs-ca')))].map(([f, b]) => [`certs-ca/${f}`, b] as const),
  ]);
  const ca = new X509Certificate(before.get('certs/ca.crt')!);

  const checkIssued = async (id: string) => {
    const cert = new X509Certificate(await readFile(join(cwd, 'certs', `${id}.crt`)));
    t.true(cert.verify(ca.publicKey), `${id}.crt is signed by the unchanged internal CA`);
    t.true(cert.checkIssued(ca));
    t.is(identityUri(identityFromCertificate(cert.raw)), identityUri(nodeIdentity(id)));
    t.is((await stat(join(cwd, 'certs', `${id}.key`))).mode & 0o777, 0o600);
    // and the key is the certificate's
    const key = createPublicKey(createPrivateKey(await readFile(join(cwd, 'certs', `${id}.key`))));
    t.true(key.equals(cert.publicKey));
  };
  const unchanged = async (what: string) => {
    for (const [f, bytes] of before) t.true((await readFile(join(cwd, f))).equals(bytes), `${what}: ${f} unchanged`);
  };

  // node_3 replaced by node_4 (same count: NODE_HOSTS and the rest still match)
  const replaced = await runWith(cwd, { NODE_IDS: 'node_1,node_2,node_4' });
  t.is(replaced.code, 0, replaced.stderr);
  t.deepEqual(
    replaced.stdout.split('\n').filter((l) => l.startsWith('created')),
    ['created  certs/node_4.crt', 'created  certs/node_4.key'],
  );
  await checkIssued('node_4');
  await unchanged('after node_4');
  const files = await snapshot(join(cwd, 'certs'));
  t.deepEqual(
    [...files.keys()].filter((f) => !before.has(`certs/${f}`)).sort(),
    ['node_4.crt', 'node_4.key'],
    'nothing else was written',
  );
  t.deepEqual((await readdir(join(cwd, 'certs-ca'))).sort(), ['internal-ca.key', 'public-ca.key']);

  // grown to 3-of-5: the schema's cross-checks want NODE_HOSTS, NODE_PLATFORMS and n to match
  const grown = await runWith(cwd, {
    NODE_IDS: 'node_1,node_2,node_3,node_4,node_5',
    NODE_HOSTS: [1, 2, 3, 4, 5].map((k) => `127.0.0.1:${8080 + k}`).join(','),
    NODE_PLATFORMS: 'LOCAL,LOCAL,LOCAL,LOCAL,LOCAL',
    MPC_TOTAL_SHARDS: '5',
    MPC_THRESHOLD: '3',
  });
  t.is(grown.code, 0, grown.stderr);
  t.deepEqual(
    grown.stdout.split('\n').filter((l) => l.startsWith('created')),
    ['created  certs/node_5.crt', 'created  certs/node_5.key'],
  );
  t.regex(grown.stdout, /kept +certs\/node_4\.crt/);
  await checkIssued('node_5');
  await unchanged('after node_5');
  t.true((await readFile(join(cwd, 'certs', 'node_4.crt'))).equals(files.get('node_4.crt')!), 'node_4 kept');

  // the counts must match: an override of NODE_IDS alone that changes n is a configuration error
  const mismatched = await runWith(cwd, { NODE_IDS: 'node_1,node_2,node_3,node_6' });
  t.is(mismatched.code, 1);
  t.regex(mismatched.stderr, /NODE_HOSTS: 3 entries but NODE_IDS has 4/);
  await t.throwsAsync(stat(join(cwd, 'certs', 'node_6.crt')), { code: 'ENOENT' });
});

test('npm run certs with COORDINATOR_IDS grown: only the new coordinator certificate is issued, under the existing internal CA', async (t) => {
  const cwd = await mkdtemp(join(tmpdir(), 'mpc-cli-'));
  t.teardown(() => rm(cwd, { recursive: true, force: true }));
  await mkdir(join(cwd, 'env'));
  await copyFile(join(ROOT, 'env', '.env.local'), join(cwd, 'env', '.env.local'));
  t.is((await run(cwd)).code, 0);
  const before = await snapshot(join(cwd, 'certs'));
  const ca = new X509Certificate(before.get('ca.crt')!);

  // nodes need the list but not the database: npm run certs runs without COORDINATOR_DATABASE_URL
  const grown = await runWith(cwd, { COORDINATOR_IDS: 'coordinator,coordinator_2' });
  t.is(grown.code, 0, grown.stderr);
  t.deepEqual(
    grown.stdout.split('\n').filter((l) => l.startsWith('created')),
    ['created  certs/coordinator_2.crt', 'created  certs/coordinator_2.key'],
  );
  const cert = new X509Certificate(await readFile(join(cwd, 'certs', 'coordinator_2.crt')));
  t.true(cert.verify(ca.publicKey));
  t.is(identityUri(identityFromCertificate(cert.raw)), identityUri(coordinatorIdentity('coordinator_2')));
  t.is((await stat(join(cwd, 'certs', 'coordinator_2.key'))).mode & 0o777, 0o600);
  for (const [f, bytes] of before) t.true((await readFile(join(cwd, 'certs', f))).equals(bytes), `${f} unchanged`);

  const clash = await runWith(cwd, { COORDINATOR_IDS: 'coordinator,node_2' });
  t.is(clash.code, 1);
  t.regex(clash.stderr, /COORDINATOR_IDS: "node_2" is also a node id/);
});
