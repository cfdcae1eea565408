/**
 * The node's composition root: everything one node process runs, built from its configuration —
 * the state directory's lock, the audit log, the runtime (KMS, record store, safe primes, service;
 * runtime.ts), the kernel firewall when enabled, the protocol workers (workers.ts) and the mutual-TLS server that
 * answers the coordinator. main.ts parses the command line and owns the process (signals, exit).
 * @module
 */
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
import { KeyedLock } from './storage/lock.js';
import { ProtocolWorkers } from './workers.js';

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
   * protocol workers (sessions still running are abandoned) and release the state directory.
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
  // the node's audit trail: one writer (this thread); the protocol workers send their events here
  const audit = await AuditLog.open(join(self.dataDir, 'audit.jsonl'));
  const recordAudit = (event: AuditEvent): Promise<void> => audit.append(event);
  // the lifecycle's per-scope lock, one for every thread of the node (workers.ts)
  const scopeLock = new KeyedLock();
  // the main thread signs and runs no aux-info: the safe primes stay in protocol worker 0 alone
  const runtime = await openNodeRuntime(options, { audit: recordAudit, scopeLock, runsAux: false });
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

  // protocol sessions (and info) on the workers; signing inline
  const workers = await ProtocolWorkers.start({
    count: config.nodeWorkers,
    runtime: options,
    lock: scopeLock,
    auxGeneration: new SharedArrayBuffer(4),
    audit: (event) =>
      recordAudit(event).catch((e: unknown) =>
        log.error({ err: (e as Error).message }, 'audit log: event not recorded'),
      ),
    log,
  });
  log.info({ workers: config.nodeWorkers }, 'protocol workers started');

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
        let decoded: unknown;
        try {
          decoded = decodeJson(body);
        } catch {
          return encodeJson(rpcFailure('bad-request', 'request is not JSON'));
        }
        return await ((decoded as { method?: unknown } | null)?.method === 'sign'
          ? runtime.service.handleBytes(body, coordinator)
          : workers.handle(body, coordinator, decoded));
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
    await workers.stop();
    await runtime.close();
    await audit.close();
    await owner.release();
  };
  return { log, inFlight: () => inFlight, stop };
}
