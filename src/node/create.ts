/**
 * The node's composition root: everything one node process runs, built from its configuration —
 * the state directory's lock, the audit log, the runtime (KMS, record store, safe primes, service;
 * runtime.ts), the kernel firewall when enabled, the protocol worker and the mutual-TLS server that
 * answers the coordinator. main.ts parses the command line and owns the process (signals, exit).
 * @module
 */
import { Worker } from 'node:worker_threads';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import type { Config, NodeEntry } from '../config/index.js';
import { TransportServer } from '../transport/server.js';
import { loadTlsMaterial } from '../transport/tls.js';
import { formatIdentity, identityName, nodeIdentity } from '../transport/identity.js';
import { nodeAdmission } from '../config/transport-options.js';
import { nftablesRuleset } from '../transport/firewall.js';
import { decodeJson, encodeJson } from '../rpc/messages.js';
import { rpcFailure } from '../rpc/errors.js';
import { openNodeRuntime, type RuntimeOptions } from './runtime.js';
import { RETENTION_INTERVAL_MS } from './storage/retention.js';
import { AuditLog, type AuditEvent } from '../util/audit-log.js';
import { lockDirectory } from '../util/dir-lock.js';
import type { Logger } from '../util/log.js';

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
  log.info({}, 'nftables rules applied: only the trusted coordinator addresses reach this port');
}

/** A running node: listening for the coordinators. */
export interface RunningNode {
  readonly log: Logger;
  /** requests in flight */
  inFlight(): number;
  /**
   * Refuse new requests, give those in flight up to NODE_DRAIN_MS, then close the server, stop the
   * protocol worker (sessions still running are abandoned) and release the state directory.
   */
  stop(): Promise<void>;
}

/**
 * Build and start one node. `options` are those of its runtime (environment, id, dev primes); the
 * process must own nothing of the node yet: the state directory is locked first.
 */
export async function createNode(config: Config, self: NodeEntry, options: RuntimeOptions): Promise<RunningNode> {
  // This process owns the node's state until it exits (offline tools refuse to run meanwhile).
  const owner = await lockDirectory(self.dataDir, `node ${self.id}`);
  const drainMs = config.drainMs;
  // the node's audit trail: one writer (this thread); the protocol worker sends its events here
  const audit = await AuditLog.open(join(self.dataDir, 'audit.jsonl'));
  const recordAudit = (event: AuditEvent): Promise<void> => audit.append(event);
  const runtime = await openNodeRuntime(options, { audit: recordAudit });
  const { log } = runtime;
  // before any session: finish or roll back a state switch a crash interrupted (lifecycle.ts)
  const recovered = await runtime.service.recover();
  if (recovered.pendingDropped + recovered.presignaturesBurnt > 0)
    log.info(recovered, 'recovered an interrupted state switch');
  // expired and orphaned presignatures, and single-use records past their grace (storage/retention.ts):
  // the node's state stays bounded however long it runs
  const prune = (): Promise<void> =>
    runtime.service.prune().then(
      (pruned) => {
        if (pruned.expired + pruned.markers + pruned.sessions > 0)
          log.info(pruned, 'records past their retention deleted');
      },
      (e: unknown) => log.error({ err: (e as Error).message }, 'retention pass failed (tried again later)'),
    );
  let pruning = prune();
  const retention = setInterval(() => {
    pruning = pruning.then(prune);
  }, RETENTION_INTERVAL_MS);
  retention.unref();
  if (config.firewall.enabled)
    applyFirewall(
      nftablesRuleset({
        ports: [self.port],
        trustedCoordinatorIps: config.firewall.trustedCoordinatorIps,
        nodeId: self.id,
      }),
      log,
    );

  // protocol sessions (and info) on the worker; signing inline
  const worker = new Worker(new URL('./worker.js', import.meta.url), {
    workerData: { ...options, fillPrimes: true },
  });
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
  const toWorker = (body: Uint8Array, coordinator: string): Promise<Uint8Array> =>
    new Promise((resolve) => {
      const id = nextId++;
      waiting.set(id, resolve);
      worker.postMessage({ id, body, coordinator });
    });

  const server = new TransportServer({
    tls: await loadTlsMaterial(self.tls, nodeIdentity(self.id)),
    ...nodeAdmission(config),
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
  // One link per coordinator identity; each request is answered on the link it came by, and the
  // sessions it opens belong to that identity (service.ts).
  server.on('connection', (conn) => {
    const coordinator = identityName(conn.peer);
    log.info({ peer: formatIdentity(conn.peer) }, 'coordinator connected');
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
        return await (method === 'sign' ? runtime.service.handleBytes(body, coordinator) : toWorker(body, coordinator));
      } finally {
        if (--inFlight === 0) onIdle?.();
      }
    });
  });
  const address = await server.listen(self.port, self.host);
  log.info({ port: address.port, firewall: config.firewall.enabled }, `node ${self.id} listening`);

  const stop = async (): Promise<void> => {
    draining = true;
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
    clearInterval(retention);
    await server.close();
    await pruning;
    await worker.terminate();
    await runtime.close();
    await audit.close();
    await owner.release();
  };
  return { log, inFlight: () => inFlight, stop };
}
