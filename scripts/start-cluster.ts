/**
 * `npm start [-- --env local] [--fast]`: the whole local cluster in one command — development
 * certificates on first run (CA keys in CERTS_CA_DIR, apart from the certificates), three nodes and the coordinator as child processes, their logs
 * condensed to one line each, and a clean stop on Ctrl-C (SIGTERM to every child, then exit).
 *
 * The first start makes the node group's aux-info, which needs four fresh 1536-bit safe primes
 * per node (OpenSSL; a few minutes on two cores) and then about half a minute of proofs; progress
 * is shown. `--fast` takes the primes from the (public) test fixtures instead: refused outside the
 * development environment (src/config/development.ts), before anything is started.
 * @module
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ConfigError, devPrimesRefusal, loadConfig } from '../src/config/index.js';
import { generateDevCertificates } from '../src/transport/certs.js';

const dist = (p: string) => fileURLToPath(new URL(`../${p}`, import.meta.url));

const LEVELS: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };

/** One pino JSON line → "[name] msg k=v …"; anything else is shown as it is. */
function condense(name: string, line: string): string {
  try {
    const o = JSON.parse(line) as Record<string, unknown>;
    const { level, time: _t, pid: _p, hostname: _h, name: _n, msg, ...rest } = o;
    const fields = Object.entries(rest)
      .map(
        ([k, v]) =>
          `${k}=${typeof v === 'object' || typeof v === 'function' ? JSON.stringify(v) : String(v as string | number | boolean | bigint | symbol | undefined)}`,
      )
      .join(' ');
    const lvl = typeof level === 'number' && level >= 40 ? `${LEVELS[level] ?? level} ` : '';
    return `[${name}] ${lvl}${typeof msg === 'string' ? msg : JSON.stringify(msg ?? '')}${fields ? ' ' + fields : ''}`;
  } catch {
    return name === 'coordinator' ? line : `[${name}] ${line}`;
  }
}

function pipe(name: string, child: ChildProcess): void {
  for (const stream of [child.stdout, child.stderr]) {
    let rest = '';
    stream?.on('data', (chunk: Buffer) => {
      const lines = (rest + chunk.toString('utf8')).split('\n');
      rest = lines.pop() ?? '';
      for (const l of lines) if (l.trim()) console.log(condense(name, l));
    });
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { env: { type: 'string', default: 'local' }, fast: { type: 'boolean', default: false } },
    strict: true,
  });
  const config = loadConfig({ env: values.env });
  const refusal = values.fast ? devPrimesRefusal(config) : undefined;
  if (refusal) throw new ConfigError([{ variable: '--fast', message: refusal }], config.envFile);
  const certs = await generateDevCertificates({
    dir: config.certsDir,
    caDir: config.certsCaDir,
    nodeIds: config.nodes.map((n) => n.id),
  });
  if (certs.created.length) {
    console.log(
      `[cluster] created development certificates in ${config.certsDir} (CA keys in ${config.certsCaDir}; API clients trust ${join(config.certsDir, 'public', 'ca.crt')})`,
    );
  }
  const children: [string, ChildProcess][] = [];
  const devPrimes = values.fast ? ['--dev-primes', dist('../test/fixtures/safe-primes.json')] : [];
  if (values.fast) console.log('[cluster] --fast: safe primes from the test fixtures (development only)');
  for (const n of config.nodes) {
    const child = spawn(process.execPath, [dist('src/node/main.js'), '--env', values.env, '--id', n.id, ...devPrimes], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push([n.id, child]);
  }
  const coordinator = spawn(process.execPath, [dist('src/coordinator/main.js'), values.env], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(['coordinator', coordinator]);
  let stopping = false;
  for (const [name, child] of children) {
    pipe(name, child);
    child.on('exit', (code, signal) => {
      if (stopping) return;
      console.error(`[cluster] ${name} exited (${signal ?? code}); stopping the cluster`);
      void stop(1);
    });
  }
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    console.log('[cluster] stopping…');
    await Promise.all(
      children.map(
        ([, c]) =>
          new Promise<void>((resolve) => {
            if (c.exitCode !== null || c.signalCode !== null) return resolve();
            const kill = setTimeout(() => c.kill('SIGKILL'), 10_000);
            c.once('exit', () => {
              clearTimeout(kill);
              resolve();
            });
            c.kill('SIGTERM');
          }),
      ),
    );
    process.exit(code);
  };
  process.on('SIGINT', () => void stop(0));
  process.on('SIGTERM', () => void stop(0));
}

main().catch((e: unknown) => {
  console.error(e instanceof ConfigError ? e.message : `start: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
