/**
 * A real local cluster for end-to-end tests: three node processes and the coordinator, started
 * with the commands users run (`node dist/src/node/main.js --env local --id …`,
 * `node dist/src/coordinator/main.js local`), on free loopback ports, with certificates, data and
 * KMS keys in a temporary directory (environment variables override env/.env.local). Safe primes
 * come from the fixtures (--dev-primes); the aux-info protocol runs for real.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateDevCertificates } from '../../src/transport/certs.js';

const dist = (p: string) => fileURLToPath(new URL(`../../${p}`, import.meta.url));
export const TOKEN = 'Bearer wallet_dev_token_12345';
export const NODE_IDS = ['node_1', 'node_2', 'node_3'];

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export interface HttpAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
  text: string;
}

export class Cluster {
  readonly procs = new Map<string, ChildProcess>();
  readonly logs = new Map<string, string[]>();
  private constructor(
    readonly dir: string,
    readonly env: Record<string, string>,
    readonly nodePorts: number[],
    readonly httpsPort: number,
    readonly ca: Buffer,
  ) {}

  /** `coordinatorIds`: certificates for these coordinator identities (default `coordinator` alone) */
  static async create(extraEnv: Record<string, string> = {}, coordinatorIds?: readonly string[]): Promise<Cluster> {
    const dir = await mkdtemp(join(tmpdir(), 'mpc-e2e-'));
    const certs = join(dir, 'certs');
    await generateDevCertificates({
      dir: certs,
      caDir: join(dir, 'certs-ca'),
      nodeIds: NODE_IDS,
      ...(coordinatorIds === undefined ? {} : { coordinatorIds }),
    });
    const nodePorts = [await freePort(), await freePort(), await freePort()];
    const httpsPort = await freePort();
    const env = {
      CERTS_DIR: certs,
      DATA_DIR: join(dir, 'data'),
      COORDINATOR_LOCAL_KMS_PATH: join(dir, 'kms'),
      NODE_HOSTS: nodePorts.map((p) => `127.0.0.1:${p}`).join(','),
      COORDINATOR_HTTPS_PORT: String(httpsPort),
      // The API's own certificate (public CA), not the coordinator's internal one.
      COORDINATOR_HTTPS_CERT: join(certs, 'public', 'api.crt'),
      COORDINATOR_HTTPS_KEY: join(certs, 'public', 'api.key'),
      LOG_LEVEL: 'info',
      ...extraEnv,
    };
    // API clients trust the public CA only (the internal CA is for the coordinator↔node channel).
    return new Cluster(dir, env, nodePorts, httpsPort, await readFile(join(certs, 'public', 'ca.crt')));
  }

  private spawnProc(name: string, args: string[]): ChildProcess {
    const child = spawn(process.execPath, args, {
      env: { ...process.env, ...this.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      cwd: dist('..'),
    });
    const log = this.logs.get(name) ?? [];
    this.logs.set(name, log);
    for (const s of [child.stdout, child.stderr]) s?.on('data', (b: Buffer) => log.push(b.toString('utf8')));
    this.procs.set(name, child);
    return child;
  }

  /** `name` tells apart several processes of one node (default its id). */
  startNode(id: string, name = id): ChildProcess {
    return this.spawnProc(name, [
      dist('src/node/main.js'),
      '--env',
      'local',
      '--id',
      id,
      '--dev-primes',
      dist('../test/fixtures/safe-primes.json'),
    ]);
  }

  /** `args`: e.g. `['--id', 'coordinator_2', '--https-port', '8444']` */
  startCoordinator(name = 'coordinator', args: readonly string[] = []): ChildProcess {
    return this.spawnProc(name, [dist('src/coordinator/main.js'), 'local', ...args]);
  }

  async stop(name: string, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    const c = this.procs.get(name);
    if (!c || c.exitCode !== null || c.signalCode !== null) return c?.exitCode ?? null;
    const exited = new Promise<number | null>((resolve) => c.once('exit', (code) => resolve(code)));
    c.kill(signal);
    return exited;
  }

  async close(): Promise<void> {
    await Promise.all([...this.procs.keys()].map((n) => this.stop(n, 'SIGKILL')));
    await rm(this.dir, { recursive: true, force: true });
  }

  allLogs(): string {
    return [...this.logs.values()].map((l) => l.join('')).join('\n');
  }

  http(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
    agent?: import('node:https').Agent,
    port: number = this.httpsPort,
  ): Promise<HttpAnswer> {
    const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port,
          method,
          path,
          ca: this.ca,
          servername: 'localhost',
          ...(agent ? { agent } : {}),
          headers: {
            authorization: TOKEN,
            ...(payload !== undefined ? { 'content-type': 'application/json' } : {}),
            ...headers,
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown = text;
            try {
              parsed = JSON.parse(text);
            } catch {
              /* not JSON (metrics) */
            }
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body: parsed, text });
          });
        },
      );
      req.on('error', reject);
      if (payload !== undefined) req.write(payload);
      req.end();
    });
  }

  /** Poll until fn returns a value (not undefined) or the deadline passes. */
  async until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 120_000, everyMs = 250): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        const v = await fn();
        if (v !== undefined) return v;
      } catch {
        /* not up yet */
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${this.allLogs().slice(-4000)}`);
      await new Promise((r) => setTimeout(r, everyMs));
    }
  }

  /** Create a wallet, retrying while the node group is still making its aux-info (503). */
  async createWallet(label: string, timeoutMs = 180_000): Promise<HttpAnswer> {
    return this.until(
      'wallet creation',
      async () => {
        const r = await this.http('POST', '/v1/wallets', { label });
        return r.status === 201 ? r : undefined;
      },
      timeoutMs,
      1000,
    );
  }
}
