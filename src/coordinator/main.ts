/**
 * `node dist/src/coordinator/main.js local` (npm run start:coordinator -- local): the coordinator.
 * Loads env/.env.<name>, dials every node over mutual TLS (expecting NODE_IDS[k] at
 * NODE_HOSTS[k]), asks each for its `info` when it connects, makes the node group's aux-info when
 * it is missing or differs (all nodes connected; ~30 s of compute), and serves the wallet HTTPS
 * API on COORDINATOR_HTTPS_PORT with the coordinator's certificate from CERTS_DIR. Prints the
 * seed's banner whenever the number of connected nodes changes. SIGINT/SIGTERM stop it cleanly:
 * no new requests, those under way finish (up to 10 s), connections close, the registry is closed.
 *
 * One coordinator per data directory: the process owns COORDINATOR's directory (DATA_DIR/coordinator)
 * before it touches anything else, so a second coordinator started on it exits with status 75 and
 * a message naming the first, having bound no port and dialled no node.
 *
 * Wiring only; the logic lives in the modules it connects.
 * @module
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, requireWallet } from '../config/index.js';
import { TransportClient } from '../transport/client.js';
import { COORDINATOR } from '../transport/identity.js';
import { coordinatorClientSetup } from '../transport/setup.js';
import { loadTlsMaterial } from '../transport/tls.js';
import { DirectoryLockError, LOCKED_EXIT_CODE, lockDirectory } from '../util/dir-lock.js';
import { createLogger } from '../util/log.js';
import { createApi } from './api.js';
import { BannerPrinter } from './banner.js';
import { NodeCluster } from './cluster.js';
import { Quarantine } from './quarantine.js';
import { GroupMonitor } from './group.js';
import { startHttpsServer } from './https.js';
import { TransportNodeLink } from './links.js';
import { CoordinatorMetrics } from './metrics.js';
import { Orchestrator } from './orchestrator.js';
import { combinations, PresignPool } from './pool.js';
import { orchestratedPresign } from './presign.js';
import { WalletRegistry } from './registry.js';
import { SigningService } from './signing.js';
import { WalletService } from './wallets.js';

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({ options: { env: { type: 'string' } }, allowPositionals: true, strict: true });
  if (positionals.length > 1) throw new ConfigError([{ variable: '--env', message: `one environment name expected, got ${positionals.length}` }]);
  const envName = values.env ?? positionals[0] ?? 'local';
  const config = loadConfig({ env: envName });
  const wallet = requireWallet(config);
  const poolSize = config.presignPoolSize;
  // First: the wallet registry and the quarantine file have one writer, and a second coordinator
  // must not bind the API port or dial the nodes (it would compete for their links).
  const owner = await lockDirectory(config.coordinator.dataDir, 'coordinator');
  const log = createLogger({ name: 'coordinator', level: config.logLevel });
  const tls = await loadTlsMaterial(config.coordinator.tls, COORDINATOR);

  const metrics = new CoordinatorMetrics({ processMetrics: true });
  const registry = await WalletRegistry.open(join(config.coordinator.dataDir, 'wallets.jsonl'), { log });
  log.info({ wallets: registry.count, path: registry.path }, 'wallet registry loaded');

  const clients = (await coordinatorClientSetup(config, log)).map((options) => new TransportClient(options));
  const links = config.nodes.map((n, k) => new TransportNodeLink(n.id, n.index, clients[k] as TransportClient));
  const cluster = new NodeCluster(links, config.mpc.threshold);
  // A9: a culprit named in an abort is suspended (a cool-down: the coordinator cannot check a node's accusation)
  const quarantine = await Quarantine.open(join(config.coordinator.dataDir, 'quarantine.jsonl'), { log });
  for (const s of quarantine.suspended()) log.warn({ node: s.nodeId, reason: s.reason, verified: s.verified }, 'node suspended after a cryptographic abort');
  cluster.setSuspension((id) => quarantine.isSuspended(id));
  quarantine.onChange = () => cluster.emit('state');
  const orchestrator = new Orchestrator({
    log,
    onOutcome: (o) => {
      metrics.recordSession(o);
      if (o.status !== 'aborted') return;
      for (const c of o.culprits) {
        if (c.nodeId === undefined) continue;
        void quarantine.record({ nodeId: c.nodeId, protocol: o.protocol, reason: o.reason, verified: false }).catch((e: unknown) => log.error({ err: (e as Error).message }, 'could not record an offence'));
      }
    },
  });

  const wallets: WalletService = new WalletService({ registry, cluster, runner: orchestrator, log, onCreated: (id) => pool.track(id) });
  const publicKeyOf = (id: string): string | undefined => wallets.publicKeyOf(id);
  const pool = new PresignPool({
    presign: orchestratedPresign({ runner: orchestrator, cluster, publicKeyOf }),
    targetSize: poolSize,
    signerSets: () => combinations(cluster.signerLinks().map((l) => l.index), cluster.threshold),
    log,
  });
  const signing = new SigningService({
    cluster,
    pool,
    publicKeyOf,
    metrics,
    log,
    onBlame: (nodeId, protocol, reason) =>
      void quarantine.record({ nodeId, protocol, reason, verified: true }).catch((e: unknown) => log.error({ err: (e as Error).message }, 'could not record an offence')),
  });
  metrics.watchConnected(() => cluster.connectedCount);
  metrics.watchPool(() => {
    const named = new Map<string, number>();
    for (const [key, n] of pool.sizesBySigners()) named.set(key.split('-').map((i) => cluster.parties[Number(i)]).join('+'), n);
    return named;
  });

  const group = new GroupMonitor({ cluster, runner: orchestrator, log });
  const banner = new BannerPrinter({ platform: config.coordinator.platform, total: cluster.total, threshold: config.mpc.threshold });
  clients.forEach((client, k) => {
    client.on('connected', () => group.onConnected(k));
    client.on('disconnected', () => group.onDisconnected(k));
  });
  cluster.on('connectivity', (connected) => banner.update(connected));
  // Nodes back or the group ready again: stock the pool for the pairs now usable.
  cluster.on('state', () => pool.refill());

  const app = createApi({ wallets, signer: signing, health: () => cluster.health(), metrics, authorization: wallet.authorization, log });
  const server = await startHttpsServer(app, { cert: tls.cert, key: tls.key, port: config.coordinator.httpsPort });
  log.info({ port: server.port, presignPoolSize: poolSize, nodes: cluster.parties }, 'wallet API listening (HTTPS)');
  banner.update(cluster.connectedCount);
  for (const c of clients) c.start();

  let stopping = false;
  const shutdown = async (signal: string): Promise<void> => {
    if (stopping) {
      log.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    log.info({ signal }, 'shutting down');
    await server.close(10_000);
    group.stop();
    await pool.stop();
    await Promise.all(clients.map((c) => c.stop()));
    await registry.close();
    quarantine.close();
    await owner.release();
    log.info('stopped');
    log.flush();
    process.exit(0);
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => void shutdown(signal));
}

main().catch((e: unknown) => {
  const locked = e instanceof DirectoryLockError && e.code === 'locked';
  if (e instanceof ConfigError || e instanceof RangeError || locked) console.error(e.message);
  else console.error('coordinator failed to start:', e instanceof Error ? e.message : e);
  process.exit(locked ? LOCKED_EXIT_CODE : e instanceof ConfigError || e instanceof RangeError ? 2 : 1);
});
