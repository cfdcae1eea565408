/**
 * `npm run start:node -- --env local --id node_1`: one MPC node. It listens for the coordinator
 * only (mutual TLS 1.3 against the deployment CA; with ENABLE_KERNEL_FIREWALL=true, connections
 * from any address but TRUSTED_COORDINATOR_IP are dropped before TLS), answers signing requests
 * on the main thread and runs protocol sessions on a worker thread.
 *
 * Options: --print-firewall prints the matching nftables ruleset and exits; with
 * ENABLE_KERNEL_FIREWALL=true a node running as root with `nft` installed also applies it at start;
 * --dev-primes <file> takes safe primes from a file of public fixtures: refused unless the
 * environment is the development one (`local`, every member on the LOCAL platform; see
 * src/config/development.ts), before the node touches any state.
 *
 * The process owns the node's state directory while it runs (a second node or an offline tool on
 * the same directory is refused; the kernel frees it when this process ends, however it ends).
 * SIGTERM/SIGINT: new requests are refused, those in flight get NODE_DRAIN_MS to finish, then the
 * protocol worker is stopped (sessions still running are abandoned; every record is written whole
 * or not at all, so nothing is half-written) and the process exits. A second signal exits at once.
 * @module
 */
import { Worker } from 'node:worker_threads';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError, devPrimesRefusal, loadConfig, nodeEntry } from '../config/index.js';
import { TransportServer } from '../transport/server.js';
import { loadTlsMaterial } from '../transport/tls.js';
import { COORDINATOR, nodeIdentity } from '../transport/identity.js';
import { nftablesRuleset } from '../transport/firewall.js';
import { decodeJson, encodeJson } from '../rpc/messages.js';
import { rpcFailure } from '../rpc/errors.js';
import { openNodeRuntime, type RuntimeOptions } from './runtime.js';
import { AuditLog, type AuditEvent } from '../util/audit-log.js';
import { DirectoryLockError, LOCKED_EXIT_CODE, lockDirectory } from '../util/dir-lock.js';

/**
 * Kernel rules in addition to the in-process allow-list: applied only as root with `nft` present;
 * otherwise the node says so and relies on the allow-list (which it always enforces).
 */
function applyFirewall(
  ruleset: string,
  log: { info: (o: object, m: string) => void; warn: (o: object, m: string) => void },
): void {
  if (process.getuid?.() !== 0) {
    log.warn(
      {},
      'ENABLE_KERNEL_FIREWALL: not root, nftables rules not applied (the in-process allow-list is active; --print-firewall shows the rules)',
    );
    return;
  }
  const r = spawnSync('nft', ['-f', '-'], { input: ruleset, encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    log.warn(
      { reason: r.error?.message ?? r.stderr.trim().slice(0, 300) },
      'ENABLE_KERNEL_FIREWALL: nft failed; the in-process allow-list is active',
    );
    return;
  }
  log.info({}, 'nftables rules applied: only the trusted coordinator address reaches this port');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      env: { type: 'string', default: 'local' },
      id: { type: 'string' },
      'dev-primes': { type: 'string' },
      'print-firewall': { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (!values.id) throw new ConfigError([{ variable: '--id', message: 'required (e.g. --id node_1)' }], undefined);
  const config = loadConfig({ env: values.env });
  const self = nodeEntry(config, values.id);
  if (values['dev-primes'] !== undefined) {
    const refusal = devPrimesRefusal(config);
    if (refusal) throw new ConfigError([{ variable: '--dev-primes', message: refusal }], config.envFile);
  }
  if (values['print-firewall']) {
    const ip = config.firewall.trustedCoordinatorIp;
    if (!ip)
      throw new ConfigError(
        [{ variable: 'TRUSTED_COORDINATOR_IP', message: 'required to print firewall rules' }],
        config.envFile,
      );
    console.log(nftablesRuleset({ ports: [self.port], trustedCoordinatorIp: ip, nodeId: self.id }));
    return;
  }
  const opts: RuntimeOptions = { env: values.env, id: values.id, devPrimes: values['dev-primes'] };
  // This process owns the node's state until it exits (offline tools refuse to run meanwhile).
  const owner = await lockDirectory(self.dataDir, `node ${self.id}`);
  const drainMs = config.drainMs;
  // the node's audit trail: one writer (this thread); the protocol worker sends its events here
  const audit = await AuditLog.open(join(self.dataDir, 'audit.jsonl'));
  const recordAudit = (event: AuditEvent): Promise<void> => audit.append(event);
  const runtime = await openNodeRuntime(opts, { audit: recordAudit });
  const { log } = runtime;
  // before any session: finish or roll back a state switch a crash interrupted (lifecycle.ts)
  const recovered = await runtime.service.recover();
  if (recovered.pendingDropped + recovered.presignaturesBurnt > 0)
    log.info(recovered, 'recovered an interrupted state switch');
  if (config.firewall.enabled)
    applyFirewall(
      nftablesRuleset({
        ports: [self.port],
        trustedCoordinatorIp: config.firewall.trustedCoordinatorIp,
        nodeId: self.id,
      }),
      log,
    );

  // protocol sessions (and info) on the worker; signing inline
  const worker = new Worker(new URL('./worker.js', import.meta.url), { workerData: { ...opts, fillPrimes: true } });
  const waiting = new Map<number, (b: Uint8Array) => void>();
  let nextId = 0;
  await new Promise<void>((resolve, reject) => {
    worker.once('error', reject);
    worker.on('message', (m: { ready?: true; id?: number; body?: Uint8Array; audit?: AuditEvent }) => {
      if (m.ready) return resolve();
      if (m.audit)
        return void recordAudit(m.audit).catch((e: unknown) =>
          runtime.log.error({ err: (e as Error).message }, 'audit log: event not recorded'),
        );
      const done = waiting.get(m.id as number);
      waiting.delete(m.id as number);
      done?.(m.body as Uint8Array);
    });
  });
  worker.on('error', (e) => {
    log.fatal({ err: e.message }, 'protocol worker failed');
    process.exit(1);
  });
  const toWorker = (body: Uint8Array): Promise<Uint8Array> =>
    new Promise((resolve) => {
      const id = nextId++;
      waiting.set(id, resolve);
      worker.postMessage({ id, body });
    });

  const server = new TransportServer({
    tls: await loadTlsMaterial(self.tls, nodeIdentity(self.id)),
    acceptPeers: [COORDINATOR],
    allowedAddresses: config.firewall.enabled ? [config.firewall.trustedCoordinatorIp] : undefined,
    maxFrameBytes: config.transport.maxFrameBytes,
    heartbeatIntervalMs: config.transport.heartbeatIntervalMs,
    heartbeatMisses: config.transport.heartbeatMisses,
    handshakeTimeoutMs: config.transport.handshakeTimeoutMs,
    logger: log, // the server logs refusals itself, rate-limited per address
  });

  // Requests in flight, so that a stop can wait for them (bounded by NODE_DRAIN_MS).
  let inFlight = 0;
  let draining = false;
  let onIdle: (() => void) | undefined;
  server.on('connection', (conn) => {
    log.info('coordinator connected');
    conn.onRequest(async (body) => {
      if (draining) return encodeJson(rpcFailure('unavailable', 'node is shutting down'));
      inFlight++;
      try {
        let method: unknown;
        try {
          method = (decodeJson(body) as { method?: unknown } | null)?.method;
        } catch {
          return encodeJson(rpcFailure('bad-request', 'request is not JSON'));
        }
        return await (method === 'sign' ? runtime.service.handleBytes(body) : toWorker(body));
      } finally {
        if (--inFlight === 0) onIdle?.();
      }
    });
  });
  const address = await server.listen(self.port, self.host);
  log.info({ port: address.port, firewall: config.firewall.enabled }, `node ${self.id} listening`);

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) {
      // Safe at any point: every record is replaced atomically; the kernel frees the directory.
      log.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    draining = true;
    log.info({ signal, inFlight, drainMs }, 'stopping: refusing new requests, letting those in flight finish');
    // Whatever hangs below (a KMS call that never returns), the process still ends.
    setTimeout(() => {
      log.error({ drainMs }, 'stop did not finish in time: exiting now');
      process.exit(1);
    }, drainMs + 10_000).unref();
    if (inFlight > 0) {
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        onIdle = resolve;
        timer = setTimeout(resolve, drainMs);
      });
      clearTimeout(timer);
      if (inFlight > 0)
        log.warn(
          { inFlight },
          'drain time over: abandoning the requests still in flight (their records are written whole or not at all)',
        );
    }
    await server.close();
    await worker.terminate();
    await runtime.close();
    await audit.close();
    await owner.release();
    log.info('stopped');
    log.flush();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}

main().catch((e: unknown) => {
  console.error(e instanceof ConfigError ? e.message : `node: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(e instanceof DirectoryLockError && e.code === 'locked' ? LOCKED_EXIT_CODE : 1);
});
