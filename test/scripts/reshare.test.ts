/**
 * `npm run reshare` (dist/scripts/reshare.js): the pure helpers (the API's URL from the
 * configuration, the progress line and the summary), then the compiled script as a child process
 * against the real admin routes (createApi) over real HTTPS with a fresh development PKI, behind
 * which a scripted job stands in for the node group: the admin token is sent exactly and only to a
 * server the public CA vouches for, the job is followed to its end (exit 0 with a summary, or 1
 * with the job's error), a problem answer is printed, and nothing starts without the token or a
 * confirmation. No node runs here.
 */
import test, { type ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createApi, loadOpenApiDocument } from '../../src/coordinator/api.js';
import { adminApiUrl } from '../../src/coordinator/admin-client.js';
import { RotationRunningError } from '../../src/coordinator/errors.js';
import { startHttpsServer } from '../../src/coordinator/https.js';
import {
  formatReshareProgress,
  formatReshareSummary,
  printable,
  progressBar,
} from '../../src/coordinator/job-progress.js';
import { CoordinatorMetrics } from '../../src/coordinator/metrics.js';
import type { ReshareJobView } from '../../src/coordinator/reshare.js';
import type { AdminApi } from '../../src/coordinator/routes/admin.js';
import { generateDevCertificates } from '../../src/transport/certs.js';
import { httpsCall } from '../helpers/https-api.js';
import { tempDir } from '../helpers/storage.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const SCRIPT = join(ROOT, 'dist', 'scripts', 'reshare.js');
const WALLET_TOKEN = 'Bearer wallet_dev_token_12345';
const ADMIN_TOKEN = 'Bearer admin_reshare_token_7f3a9c';
const JOB_ID = 'job_AbCdEfGhIjKlMnOp';

function view(patch: Partial<ReshareJobView> = {}): ReshareJobView {
  return {
    jobId: JOB_ID,
    kind: 'reshare',
    status: 'running',
    phase: 'reshare',
    createdAt: '2030-01-01T00:00:00.000Z',
    group: ['node_1', 'node_2', 'node_4'],
    auxId: 'ab'.repeat(32),
    wallets: { total: 4, reshared: 0, current: 0, failed: 0 },
    ...patch,
  };
}

test('adminApiUrl: a wildcard listening address is dialled on loopback, IPv6 literals in brackets', (t) => {
  t.is(adminApiUrl('127.0.0.1', 8443), 'https://127.0.0.1:8443');
  t.is(adminApiUrl('0.0.0.0', 8443), 'https://127.0.0.1:8443');
  // `::` takes both families; the development certificate names localhost, not ::1
  t.is(adminApiUrl('::', 9443), 'https://localhost:9443');
  t.is(adminApiUrl('10.1.2.3', 443), 'https://10.1.2.3:443');
  t.is(adminApiUrl('2001:db8::7', 8443), 'https://[2001:db8::7]:8443');
  t.is(new URL(adminApiUrl('::1', 8443)).hostname, '[::1]');
});

test('progress: the bar fills with the wallets the job is through; the line names phase, settled/total and failures', (t) => {
  t.is(progressBar(0, 0, 8), '[--------]');
  t.is(progressBar(1, 4, 8), '[##------]');
  t.is(progressBar(3, 4, 8), '[######--]');
  t.is(progressBar(4, 4, 8), '[########]');
  t.is(progressBar(9, 4, 8), '[########]', 'never past the end');
  t.throws(() => progressBar(1, 2, 0), { instanceOf: RangeError });

  const aux = formatReshareProgress(
    view({ phase: 'aux', wallets: { total: 0, reshared: 0, current: 0, failed: 0 } }),
    8,
  );
  t.regex(aux, /^aux-info +\[--------\] making the group’s aux-info$/);
  const moving = formatReshareProgress(view({ wallets: { total: 4, reshared: 1, current: 1, failed: 1 } }), 8);
  // the bar counts the failed wallet as gone through; the count says what the group holds
  t.is(moving, 'resharing [######--] 2/4 wallets, 1 failed');
  t.is(
    formatReshareProgress(
      view({ status: 'succeeded', phase: 'done', wallets: { total: 4, reshared: 3, current: 1, failed: 0 } }),
      8,
    ),
    'succeeded [########] 4/4 wallets',
  );
});

test('summary: counts and group on success; the job’s error on failure', (t) => {
  const ok = formatReshareSummary(
    view({ status: 'succeeded', phase: 'done', wallets: { total: 4, reshared: 3, current: 1, failed: 0 } }),
  );
  t.regex(
    ok,
    new RegExp(`^reshare job ${JOB_ID} succeeded: 3 reshared, 1 already held by the group, 0 failed, of 4 wallet`),
  );
  t.regex(ok, /group node_1, node_2, node_4, aux-info abababababababab…/);
  const failed = formatReshareSummary(
    view({
      status: 'failed',
      phase: 'done',
      error: '1 wallet(s) could not be moved',
      wallets: { total: 4, reshared: 3, current: 0, failed: 1 },
    }),
  );
  t.regex(
    failed,
    new RegExp(`^reshare job ${JOB_ID} failed: 1 wallet\\(s\\) could not be moved\\n3 reshared, 0 already`),
  );
});

test('summary: the server’s strings reach the terminal as printable text, never as escape sequences', (t) => {
  // OSC 52 writes the clipboard, CSI 2J clears the screen, U+202E reverses what follows, U+2028 breaks the line
  const hostile = 'moved\x1b]52;c;ZWNobyBvd25lZA==\x07 \x1b[2J\u202edeliaf\u2028ok\r\n\x9b1A';
  const summary = formatReshareSummary(
    view({
      status: 'failed',
      phase: 'done',
      error: hostile,
      group: ['node_1\x1b[8m', 'node_2'],
      auxId: '\x1b[31m'.repeat(4),
      wallets: { total: 1, reshared: 0, current: 0, failed: 1 },
    }),
  );
  // only the two line breaks the summary puts there itself, and no control or format character
  t.is(summary.split('\n').length, 3);
  t.false(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u.test(summary.replace(/\n/g, '')), JSON.stringify(summary));
  t.true(summary.includes('moved?]52;c;ZWNobyBvd25lZA==? ?[2J?deliaf?ok???1A'));
  t.true(summary.includes('group node_1?[8m, node_2'));
  t.is(printable('a\x1b[Kb'), 'a?[Kb');
  t.is(printable('x'.repeat(10), 4), 'xxxx…', 'capped');
  t.is(printable('plain text — with ünïcode'), 'plain text — with ünïcode', 'printable text is unchanged');
});

/** What the server saw of one request. */
interface Seen {
  method: string;
  url: string;
  authorization: string | undefined;
}

interface FakeCoordinator {
  port: number;
  certs: string;
  seen: Seen[];
}

/**
 * The real API (createApi) over real HTTPS with the public CA's certificate; `startReshare` and
 * `job` play the job: `polls` are the views the GETs return, in turn (the last one repeats).
 */
async function fakeCoordinator(
  t: ExecutionContext,
  admin: { startReshare: () => ReshareJobView; polls?: readonly ReshareJobView[] },
): Promise<FakeCoordinator> {
  const dir = await tempDir(t);
  const certs = join(dir, 'certs');
  await generateDevCertificates({ dir: certs, caDir: join(dir, 'certs-ca'), nodeIds: ['node_1', 'node_2', 'node_3'] });
  let polled = 0;
  const api: AdminApi = {
    refresh: () => Promise.reject(new Error('not in this test')),
    startRotation: () => {
      throw new Error('not in this test');
    },
    startReshare: () => admin.startReshare(),
    job: (jobId) => {
      const polls = admin.polls ?? [];
      const v = polls[Math.min(polled++, polls.length - 1)];
      return v && v.jobId === jobId ? v : undefined;
    },
  };
  const app = createApi({
    wallets: {} as never,
    signer: {} as never,
    health: () => ({}) as never,
    metrics: new CoordinatorMetrics(),
    authorization: WALLET_TOKEN,
    adminAuthorization: ADMIN_TOKEN,
    admin: api,
  });
  const running = await startHttpsServer(app, {
    cert: await readFile(join(certs, 'public', 'api.crt')),
    key: await readFile(join(certs, 'public', 'api.key')),
    port: 0,
    host: '127.0.0.1',
  });
  t.teardown(() => running.close(1_000));
  const seen: Seen[] = [];
  running.server.on('request', (req: { method?: string; url?: string; headers: Record<string, unknown> }) =>
    seen.push({
      method: req.method ?? '',
      url: req.url ?? '',
      authorization: req.headers['authorization'] as string | undefined,
    }),
  );
  return { port: running.port, certs, seen };
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The compiled script from the project root, with a clean environment over env/.env.local; stdin closed unless `input`. */
function runScript(env: Record<string, string>, args: readonly string[], input?: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SCRIPT, '--env', 'local', ...args], {
      cwd: ROOT,
      env: { PATH: process.env['PATH'] ?? '', ...env },
      stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (b: Buffer) => (stdout += b.toString('utf8')));
    child.stderr?.on('data', (b: Buffer) => (stderr += b.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

const envFor = (c: FakeCoordinator, extra: Record<string, string> = {}): Record<string, string> => ({
  CERTS_DIR: c.certs,
  COORDINATOR_HTTPS_PORT: String(c.port),
  COORDINATOR_ADMIN_TOKEN: ADMIN_TOKEN,
  ...extra,
});

const secretFree = (t: ExecutionContext, r: Run) => {
  const token = ADMIN_TOKEN.slice('Bearer '.length);
  t.false(r.stdout.includes(token) || r.stderr.includes(token), 'the admin token is never printed');
};

test('npm run reshare --yes: sends exactly the admin token, starts the job, follows it to success (exit 0, summary)', async (t) => {
  const c = await fakeCoordinator(t, {
    startReshare: () => view({ phase: 'aux', wallets: { total: 0, reshared: 0, current: 0, failed: 0 } }),
    polls: [
      view({ phase: 'aux', wallets: { total: 0, reshared: 0, current: 0, failed: 0 } }),
      view({ wallets: { total: 3, reshared: 0, current: 1, failed: 0 } }),
      view({ wallets: { total: 3, reshared: 1, current: 1, failed: 0 } }),
      view({
        status: 'succeeded',
        phase: 'done',
        finishedAt: '2030-01-01T00:01:00.000Z',
        wallets: { total: 3, reshared: 2, current: 1, failed: 0 },
      }),
    ],
  });
  const r = await runScript(envFor(c, { NODE_IDS: 'node_1,node_2,node_4' }), ['--yes', '--poll-ms', '20']);
  t.is(r.code, 0, r.stderr);
  // the configured group is shown before anything starts
  t.regex(r.stderr, /Configured node group: node_1, node_2, node_4 \(threshold 2 of 3\)/);
  t.is(c.seen[0]?.method, 'POST');
  t.is(c.seen[0]?.url, '/v1/admin/reshare');
  t.true(c.seen.length >= 5, `the job was polled until it ended (${c.seen.length} requests)`);
  for (const s of c.seen.slice(1)) t.deepEqual([s.method, s.url], ['GET', `/v1/admin/jobs/${JOB_ID}`]);
  for (const s of c.seen) t.is(s.authorization, ADMIN_TOKEN);
  // stderr is no terminal here: one plain line per change of progress
  t.regex(r.stderr, /^aux-info +\[-+\] making the group’s aux-info$/m);
  t.regex(r.stderr, /^resharing +\[#+-+\] 1\/3 wallets$/m);
  t.regex(r.stderr, /^resharing +\[#+-+\] 2\/3 wallets$/m);
  t.regex(r.stderr, /^succeeded +\[#+\] 3\/3 wallets$/m);
  t.false(r.stderr.includes('\r'), 'no carriage returns outside a terminal');
  t.regex(
    r.stdout,
    new RegExp(`reshare job ${JOB_ID} succeeded: 2 reshared, 1 already held by the group, 0 failed, of 3`),
  );
  secretFree(t, r);
});

test('npm run reshare: a failed job exits 1 with the job’s error', async (t) => {
  const c = await fakeCoordinator(t, {
    startReshare: () => view(),
    polls: [
      view({
        status: 'failed',
        phase: 'done',
        error: '1 wallet(s) could not be moved (see the log); start the job again to retry them',
        wallets: { total: 2, reshared: 1, current: 0, failed: 1 },
      }),
    ],
  });
  const r = await runScript(envFor(c), ['--yes', '--poll-ms', '20']);
  t.is(r.code, 1);
  t.regex(r.stderr, /reshare job job_AbCdEfGhIjKlMnOp failed: 1 wallet\(s\) could not be moved \(see the log\)/);
  t.regex(r.stderr, /1 reshared, 0 already held by the group, 1 failed, of 2/);
  t.is(r.stdout, '');
  secretFree(t, r);
});

test('npm run reshare: a problem answer (409 while a rotation runs, 401 for a wrong token) exits 1 with its detail', async (t) => {
  const c = await fakeCoordinator(t, {
    startReshare: () => {
      throw new RotationRunningError('a rotation or reshare is running');
    },
  });
  const busy = await runScript(envFor(c), ['--yes', '--poll-ms', '20']);
  t.is(busy.code, 1);
  t.regex(busy.stderr, /the coordinator refused: 409 Conflict — a rotation or reshare is running/);
  t.deepEqual(
    c.seen.map((s) => s.method),
    ['POST'],
    'nothing polled',
  );
  secretFree(t, busy);

  const wrong = await runScript(envFor(c, { COORDINATOR_ADMIN_TOKEN: 'Bearer not_the_admin_token_0000' }), ['--yes']);
  t.is(wrong.code, 1);
  t.regex(wrong.stderr, /the coordinator refused: 401 Unauthorized — the Authorization header is not valid/);
  t.false(wrong.stderr.includes('not_the_admin_token_0000'));
});

test('npm run reshare: without an admin token, without confirmation or with the wrong CA nothing is sent', async (t) => {
  const c = await fakeCoordinator(t, {
    startReshare: () => view(),
    polls: [view({ status: 'succeeded', phase: 'done' })],
  });

  const noToken = await runScript({ CERTS_DIR: c.certs, COORDINATOR_HTTPS_PORT: String(c.port) }, ['--yes']);
  t.is(noToken.code, 1);
  t.regex(noToken.stderr, /COORDINATOR_ADMIN_TOKEN is not set/);

  // stdin closed (not a terminal, nobody to answer): not confirmed, never a silent yes
  const closed = await runScript(envFor(c), []);
  t.is(closed.code, 1);
  t.regex(closed.stderr, /Start the reshare job\? \[y\/N\]/);
  t.regex(closed.stderr, /not confirmed: nothing changed/);
  const no = await runScript(envFor(c), [], 'n\n');
  t.is(no.code, 1);
  t.regex(no.stderr, /not confirmed/);

  // the internal CA (the coordinator↔node channel's) does not vouch for the API's certificate
  const wrongCa = await runScript(envFor(c), ['--yes', '--ca', join(c.certs, 'ca.crt')]);
  t.not(wrongCa.code, 0);
  t.regex(wrongCa.stderr, /certificate/i);
  t.regex(wrongCa.stderr, /UNABLE_TO_VERIFY|SELF_SIGNED|CERT/);
  t.deepEqual(c.seen, [], 'no request reached the server: the token went nowhere');

  // the control: the same server, confirmed on stdin, with the right CA given explicitly
  const yes = await runScript(envFor(c), ['--poll-ms', '20', '--ca', join(c.certs, 'public', 'ca.crt')], 'y\n');
  t.is(yes.code, 0, yes.stderr);
  t.is(c.seen.length, 2);
  t.is(c.seen[0]?.authorization, ADMIN_TOKEN);
});

test('npm run reshare: --url overrides the configured address', async (t) => {
  const c = await fakeCoordinator(t, {
    startReshare: () => view(),
    polls: [view({ status: 'succeeded', phase: 'done' })],
  });
  // the configured port is wrong; --url names the right one
  const r = await runScript(envFor(c, { COORDINATOR_HTTPS_PORT: '1' }), [
    '--yes',
    '--poll-ms',
    '20',
    '--url',
    `https://127.0.0.1:${c.port}`,
  ]);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stderr, new RegExp(`Coordinator: https://127\\.0\\.0\\.1:${c.port}`));
  t.is(c.seen[0]?.authorization, ADMIN_TOKEN);
});

/** The parts of docs/openapi.json these checks read. */
interface JsonSchema {
  $ref?: string;
  const?: string;
  enum?: string[];
  pattern?: string;
  required?: string[];
  properties?: Record<string, JsonSchema>;
  oneOf?: JsonSchema[];
  discriminator?: { propertyName: string; mapping: Record<string, string> };
}
interface OpenApiDoc {
  paths: Record<
    string,
    Record<
      string,
      {
        security?: unknown;
        responses: Record<string, { description?: string; content?: Record<string, { schema: JsonSchema }> }>;
      }
    >
  >;
  components: { schemas: Record<string, JsonSchema> };
}

test('the admin routes answer as docs/openapi.json documents them: 202 ReshareJob with Location, the job among GET /v1/admin/jobs/{jobId}’s oneOf, 409 and 401', async (t) => {
  const doc = loadOpenApiDocument() as OpenApiDoc;
  const route = doc.paths['/v1/admin/reshare']!['post']!;
  const schema = doc.components.schemas['ReshareJob']!;
  const prop = (k: string) => schema.properties?.[k] ?? {};
  const jobsOk = doc.paths['/v1/admin/jobs/{jobId}']!['get']!.responses['200']!.content!['application/json']!.schema;
  let busy = false;
  const c = await fakeCoordinator(t, {
    startReshare: () => {
      if (busy) throw new RotationRunningError('a rotation or reshare is running');
      // as a job starts: no aux-info agreed yet
      const { auxId: _auxId, ...starting } = view({
        phase: 'aux',
        wallets: { total: 0, reshared: 0, current: 0, failed: 0 },
      });
      return starting;
    },
    polls: [view({ status: 'failed', phase: 'done', error: 'e', finishedAt: '2030-01-01T00:01:00.000Z' })],
  });
  const ca = await readFile(join(c.certs, 'public', 'ca.crt'));
  const url = `https://127.0.0.1:${c.port}`;
  const admin = { authorization: ADMIN_TOKEN };
  const started = await httpsCall(url, ca, 'POST', '/v1/admin/reshare', { headers: admin });
  t.is(started.status, 202);
  t.is(route.responses['202']?.content?.['application/json']?.schema.$ref, '#/components/schemas/ReshareJob');
  t.is(started.headers.get('location'), `/v1/admin/jobs/${JOB_ID}`);
  const keys = (o: object) => Object.keys(o).filter((k) => (o as Record<string, unknown>)[k] !== undefined);
  const conforms = (json: unknown) => {
    const body = json as ReshareJobView;
    for (const k of schema.required ?? []) t.true(k in body, `${k} is required`);
    for (const k of keys(body)) t.truthy(schema.properties?.[k], `${k} is documented`);
    t.is(prop('kind').const, body.kind);
    t.true(prop('status').enum?.includes(body.status));
    t.true(prop('phase').enum?.includes(body.phase));
    t.regex(body.jobId, new RegExp(prop('jobId').pattern ?? '^$'));
    t.deepEqual(Object.keys(body.wallets).sort(), [...(prop('wallets').required ?? [])].sort());
  };
  conforms(started.json);
  const polled = await httpsCall(url, ca, 'GET', `/v1/admin/jobs/${JOB_ID}`, { headers: admin });
  t.is(polled.status, 200);
  conforms(polled.json);
  t.is(jobsOk.discriminator?.mapping[(polled.json as ReshareJobView).kind], '#/components/schemas/ReshareJob');
  t.deepEqual(
    jobsOk.oneOf?.map((o) => o.$ref),
    ['#/components/schemas/RotationJob', '#/components/schemas/ReshareJob'],
  );

  busy = true;
  const conflict = await httpsCall(url, ca, 'POST', '/v1/admin/reshare', { headers: admin });
  t.is(conflict.status, 409);
  t.is((conflict.json as { type: string }).type, 'urn:mpc-engine:problem:rotation-running');
  t.regex(route.responses['409']?.description ?? '', /\(rotation-running\)/);
  const refused = await httpsCall(url, ca, 'POST', '/v1/admin/reshare', { headers: { authorization: WALLET_TOKEN } });
  t.is(refused.status, 401);
  t.truthy(route.responses['401']);
  t.deepEqual(route.security, [{ adminToken: [] }]);
});
