/**
 * `npm run reshare -- --env <name> [--yes] [--poll-ms <ms>] [--url <https://host:port>] [--ca <file>]`:
 * moves every wallet to the configured node group (NODE_IDS, MPC_THRESHOLD of MPC_TOTAL_SHARDS)
 * after a node was replaced or the group grew, through the running coordinator's admin API: it
 * starts the reshare job (POST /v1/admin/reshare, src/coordinator/reshare.ts) and follows it
 * (GET /v1/admin/jobs/{id}) with a progress bar on stderr until it ends. Exit code 0 when the job
 * succeeded, 1 when it failed or the API refused (a problem, e.g. 409 while a rotation runs), 2 on a
 * usage error.
 *
 * The API is reached at COORDINATOR_HTTPS_HOST:COORDINATOR_HTTPS_PORT (a wildcard address mapped to
 * loopback) unless `--url` says otherwise, trusting only CERTS_DIR/public/ca.crt (the development
 * public CA) unless `--ca` names another, with COORDINATOR_ADMIN_TOKEN, which is never printed.
 * Asks for confirmation unless `--yes`. Stopping this tool does not stop the job: it keeps
 * running in the coordinator, and starting the tool again once it ended resumes what is left.
 * @module
 */
import { readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, type Config } from '../src/config/index.js';
import { AdminApiProblem, AdminClient, adminApiUrlOf } from '../src/coordinator/admin-client.js';
import { formatReshareProgress, formatReshareSummary, printable } from '../src/coordinator/job-progress.js';
import type { ReshareJobView } from '../src/coordinator/reshare.js';

const USAGE =
  'usage: npm run reshare -- --env <name> [--yes] [--poll-ms <ms>] [--url <https://host:port>] [--ca <file>]';
/** Polling errors in a row (a connection reset, a coordinator briefly busy) tolerated before giving up. */
const POLL_ERRORS_TOLERATED = 3;

/** Asks on stderr; a closed or ended stdin is a no (never a silent yes, never a hang). */
function ask(question: string): Promise<string> {
  return new Promise((resolveAnswer) => {
    const rl = createInterface({ input: process.stdin, output: process.stderr });
    let answered = false;
    rl.on('close', () => {
      if (!answered) process.stderr.write('\n');
      resolveAnswer('');
    });
    rl.question(question, (answer) => {
      answered = true;
      resolveAnswer(answer);
      rl.close();
    });
  });
}

function describeGroup(config: Config): string {
  return `${config.nodes.map((n) => n.id).join(', ')} (threshold ${config.mpc.threshold} of ${config.mpc.totalShards})`;
}

/** Shows progress on stderr: one line redrawn on a terminal, a line per change otherwise (logs, pipes). */
function progressWriter(): { show(job: ReshareJobView): void; end(): void } {
  const tty = process.stderr.isTTY;
  let last = '';
  return {
    show(job) {
      const line = formatReshareProgress(job);
      if (line === last) return;
      last = line;
      process.stderr.write(tty ? `\r${line}\x1b[K` : `${line}\n`);
    },
    end() {
      if (tty && last !== '') process.stderr.write('\n');
    },
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    options: {
      env: { type: 'string', default: 'local' },
      yes: { type: 'boolean', short: 'y', default: false },
      'poll-ms': { type: 'string', default: '1000' },
      url: { type: 'string' },
      ca: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    allowPositionals: true,
    strict: true,
  });
  const pollMs = Number(values['poll-ms']);
  if (values.help || positionals.length > 0 || !Number.isInteger(pollMs) || pollMs < 10 || pollMs > 600_000) {
    console.log(USAGE);
    return values.help ? 0 : 2;
  }
  const config = loadConfig({ env: values.env });
  const authorization = config.coordinator.api.adminAuthorization;
  if (authorization === undefined) {
    console.error(
      `reshare: COORDINATOR_ADMIN_TOKEN is not set (${config.envFile === undefined ? 'no env file' : relative(process.cwd(), config.envFile)} or the environment): ` +
        'the admin API is off without it, and this tool needs it',
    );
    return 1;
  }
  const baseUrl = values.url ?? adminApiUrlOf(config);
  const caFile = values.ca === undefined ? join(config.certsDir, 'public', 'ca.crt') : resolve(values.ca);
  let ca: Buffer;
  try {
    ca = readFileSync(caFile);
  } catch (e) {
    console.error(
      `reshare: cannot read the CA certificate ${caFile} (${(e as NodeJS.ErrnoException).code ?? 'error'})`,
    );
    return 1;
  }
  const client = new AdminClient({ baseUrl, ca, authorization });

  console.error(
    [
      `Coordinator: ${baseUrl} (trusting ${caFile})`,
      `Configured node group: ${describeGroup(config)}`,
      'Every wallet the group does not hold as configured is reshared to it (same public keys).',
      'A node left out of the group keeps its old shares, and old backups stay a valid sharing of the',
      'same key: wipe them (docs/security.md A19).',
    ].join('\n'),
  );
  if (!values.yes) {
    const answer = (await ask('Start the reshare job? [y/N] ')).trim().toLowerCase();
    if (answer !== 'y' && answer !== 'yes') {
      console.error('not confirmed: nothing changed');
      return 1;
    }
  }

  let job = await client.startReshare();
  console.error(`started reshare job ${job.jobId} (GET /v1/admin/jobs/${job.jobId})`);
  const jobId = job.jobId;
  process.once('SIGINT', () => {
    process.stderr.write(`\nstopped following job ${jobId}; it keeps running in the coordinator\n`);
    process.exit(130);
  });
  const progress = progressWriter();
  let errors = 0;
  while (job.status === 'running') {
    progress.show(job);
    await sleep(pollMs);
    try {
      job = await client.reshareJob(jobId);
      errors = 0;
    } catch (e) {
      // a problem is the API's answer (e.g. 404: the coordinator restarted and forgot the job)
      if (e instanceof AdminApiProblem || ++errors > POLL_ERRORS_TOLERATED) {
        progress.end();
        throw e;
      }
    }
  }
  progress.show(job);
  progress.end();
  if (job.status === 'succeeded') {
    console.log(formatReshareSummary(job));
    return 0;
  }
  console.error(formatReshareSummary(job));
  return 1;
}

/** What the operator is told of a failure: the API's problem as it put it, a TLS or network error with its code. */
function describeFailure(e: unknown): string {
  if (e instanceof ConfigError) return e.message;
  if (e instanceof AdminApiProblem) {
    const hint =
      e.status === 404 && /job-not-found$/.test(e.type)
        ? ' (a restarted coordinator forgets its jobs; start the job again to resume)'
        : '';
    // the problem's title and detail are the server's text: printable only, never escape sequences
    const detail = e.detail === '' ? '' : ` — ${printable(e.detail)}`;
    return `reshare: the coordinator refused: ${e.status} ${printable(e.title, 200)}${detail}${hint}`;
  }
  const err = e as NodeJS.ErrnoException;
  const code = typeof err?.code === 'string' ? ` (${err.code})` : '';
  const tls = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS|ERR_SSL/.test(err?.code ?? '')
    ? '; the API certificate is not trusted: does --ca (or CERTS_DIR/public/ca.crt) name the CA that issued it?'
    : '';
  return `reshare: ${e instanceof Error ? e.message : String(e)}${code}${tls}`;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(describeFailure(e));
    process.exit(1);
  },
);
