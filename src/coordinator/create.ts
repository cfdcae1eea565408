/**
 * The coordinator's composition root: everything the coordinator process runs, built from its
 * configuration — the data directory's lock, the audit log, the wallet registry, the quarantine,
 * the links to the nodes and the services on them (orchestrator, wallets, pool, reconciler, group
 * monitor, rotation, signing), metrics and the HTTPS API. main.ts parses the command line and owns
 * the process (signals, exit status).
 * @module
 */
import { join } from 'node:path';
import { coordinatorEntry, requireWallet, type Config } from '../config/index.js';
import { TransportClient } from '../transport/client.js';
import { coordinatorClientSetup } from '../config/transport-options.js';
import { loadPublicApiMaterial } from '../transport/tls.js';
import { addressMatcher } from '../util/ip.js';
import type { AuditEvent } from '../util/audit-log.js';
import { credentialId } from '../util/credential-id.js';
import { lockDirectory } from '../util/dir-lock.js';
import { createLogger, type Logger } from '../util/log.js';
import { createApi } from './api.js';
import { BannerPrinter } from './banner.js';
import { NodeCluster, type HealthStatus } from './cluster.js';
import { reportOf, type Offence } from './quarantine.js';
import { loadNodeKeys } from './identities.js';
import { GroupMonitor } from './group.js';
import { ConfirmationLedger } from './resolver.js';
import { startHttpsServer } from './https.js';
import { TransportNodeLink } from './links.js';
import { CoordinatorMetrics } from './metrics.js';
import { Orchestrator } from './orchestrator.js';
import { PresignPool } from './pool.js';
import { allWalletIds, KeyRotation, newJobId } from './rotation.js';
import { SharedJobs, type JobView } from './store/jobs-pg.js';
import { GroupReshare } from './reshare.js';
import { RefreshSchedule } from './refresh-schedule.js';
import { orchestratedPresign } from './presign.js';
import { WalletArchive } from './archive.js';
import { WalletReconciler } from './reconcile.js';
import { WalletRegistry, type WalletStore } from './registry.js';
import { openCoordinatorStore, openSharedStore } from './store/index.js';
import { FileInventory } from './store/presign-file.js';
import { PgInventory } from './store/presign-pg.js';
import { SigningService } from './signing.js';
import { WalletService } from './wallets.js';

/** A built coordinator: the API is listening; the nodes are dialled by start(). */
export interface RunningCoordinator {
  readonly log: Logger;
  /** announce the API, dial every node and record the start in the audit log */
  start(): void;
  /**
   * Stop: no new requests, those under way finish (up to 10 s), connections close, the registry,
   * audit log and quarantine are closed and the data directory is released.
   */
  stop(signal: string): Promise<void>;
}

/** Builds the coordinator `config.coordinator` names (main.ts selects it with `coordinatorEntry`). */
export async function createCoordinator(config: Config): Promise<RunningCoordinator> {
  const wallet = requireWallet(config);
  // several coordinator identities without the database they need to share state: refused here too
  coordinatorEntry(config, config.coordinator.id);
  const poolSize = config.presignPoolSize;
  // First: the wallet registry and the quarantine file have one writer, and a second coordinator
  // must not bind the API port or dial the nodes (it would compete for their links).
  const owner = await lockDirectory(config.coordinator.dataDir, config.coordinator.id);
  const log = createLogger({ name: config.coordinator.id, level: config.logLevel });

  // TLS material before any state is opened: a CA key within reach, an internal certificate as the
  // API's, or a key that does not match stops the start here
  const clientOptions = await coordinatorClientSetup(config, log);
  const api = config.coordinator.api;
  const apiTls = await loadPublicApiMaterial(api);

  const metrics = new CoordinatorMetrics({ processMetrics: true });
  // A damaged audit log or registry stops the start (naming file and line); neither is modified.
  // The database (COORDINATOR_DATABASE_URL) the coordinators share, if any (store/index.ts).
  const shared = await openSharedStore(config, log);
  // The audit log and the quarantine: files in the data directory, or that database.
  const store = await openCoordinatorStore(config, log, {
    ...(shared === undefined ? {} : { database: shared.database }),
    writer: config.coordinator.id,
  });
  const { audit, quarantine } = store;
  // Events not tied to an answer (suspensions, start, stop): recorded in the background.
  const record = (event: AuditEvent): void =>
    void audit
      .append(event)
      .catch((e: unknown) =>
        log.error({ type: event.type, err: (e as Error).message }, 'audit log: event not recorded'),
      );
  // The wallet registry: PostgreSQL shared by every coordinator when COORDINATOR_DATABASE_URL is
  // set, else the file in the data directory.
  const registry: WalletStore =
    shared?.wallets ?? (await WalletRegistry.open(join(config.coordinator.dataDir, 'wallets.jsonl'), { log }));
  log.info(
    { wallets: registry.count, registry: registry.location, audit: audit.location, auditLines: audit.length },
    'wallet registry and audit log loaded',
  );
  // The one configured credential, by its public id (computed once: it is deliberately slow).
  const requestContext = { credentialId: credentialId(wallet.authorization) };

  const clients = clientOptions.map((options) => new TransportClient(options));
  const links = config.nodes.map((n, k) => new TransportNodeLink(n.id, n.index, clients[k] as TransportClient));
  const cluster = new NodeCluster(links, config.mpc.threshold);
  // A9: a verified offence suspends a node; an abort report puts the pair (accuser, accused) in
  // dispute, and an implausible accuser is suspended (quarantine.ts)
  for (const s of quarantine.suspended())
    log.warn({ node: s.nodeId, reason: s.reason, verified: s.verified }, 'node suspended after a cryptographic abort');
  for (const d of quarantine.disputes())
    log.warn({ nodes: d.nodes, reports: d.reports }, 'nodes in dispute after an abort report: not used together');
  cluster.setSuspension((id) => quarantine.isSuspended(id));
  cluster.setDisputes((a, b) => quarantine.inDispute(a, b));
  // Releases are appended by the operator's release command (another process): the audit trail
  // sees them as a suspension that ends. A verified one ends only by a release; a cool-down also
  // runs out (its `until` is recorded, to tell the two apart).
  let suspended = new Map(quarantine.suspended().map((s) => [s.nodeId, s]));
  quarantine.onChange = () => {
    cluster.emit('state');
    const now = new Map(quarantine.suspended().map((s) => [s.nodeId, s]));
    for (const [nodeId, s] of suspended) {
      if (now.has(nodeId)) continue;
      const since = new Date(s.since).toISOString();
      if (s.until === undefined) record({ type: 'node.released', nodeId, verified: true, since });
      else
        record({
          type: 'node.suspension_ended',
          nodeId,
          verified: false,
          since,
          until: new Date(s.until).toISOString(),
        });
    }
    suspended = now;
  };
  const suspend = (offence: Offence): void =>
    void quarantine.record(offence).then(
      (s) => {
        if (!s) {
          record({
            type: 'node.suspension_refused',
            ...offence,
            reason: `${offence.reason} (more faulty nodes than tolerated)`,
          });
          return;
        }
        suspended.set(s.nodeId, s);
        record({
          type: 'node.suspended',
          ...offence,
          verified: true,
          until: s.until === undefined ? null : new Date(s.until).toISOString(),
        });
      },
      (e: unknown) => log.error({ err: (e as Error).message }, 'could not record an offence'),
    );
  // the nodes' pinned identity keys (from their certificates), when readable here: they check
  // confirmations before the ledger keeps them, and proofs of a party's contradiction
  const identities = await loadNodeKeys(config, log);
  // confirmations relayed by the orchestrator: evidence for the pending-state resolver (resolver.ts)
  const confirmations = new ConfirmationLedger(identities);
  const orchestrator = new Orchestrator({
    log,
    confirmations,
    onOutcome: (o) => {
      metrics.recordSession(o);
      if (o.status !== 'aborted') return;
      const report = reportOf(o);
      if (!report) return;
      record({
        type: 'node.accused',
        accuser: report.accuser,
        accused: [...report.accused],
        valid: report.valid,
        protocol: report.protocol,
        reason: report.reason,
        ...(report.code === undefined ? {} : { code: report.code }),
      });
      void quarantine.report(report).then(
        ({ accuser }) => {
          if (accuser && !suspended.has(accuser.nodeId)) {
            suspended.set(accuser.nodeId, accuser);
            record({
              type: 'node.suspended',
              nodeId: accuser.nodeId,
              protocol: accuser.protocol,
              reason: accuser.reason,
              verified: false,
              until: accuser.until === undefined ? null : new Date(accuser.until).toISOString(),
            });
          }
        },
        (e: unknown) => log.error({ err: (e as Error).message }, 'could not record an abort report'),
      );
    },
  });

  const wallets: WalletService = new WalletService({
    registry,
    cluster,
    runner: orchestrator,
    log,
    // demand-driven: a wallet is stocked once it signs, or at once when its request asks
    onCreated: (id, o) => {
      if (o.presign) pool.track(id);
    },
    // what the failed run left at the nodes is archived now, not at the next restart
    onAbandoned: () => reconciler.trigger(),
    audit,
    defaultContext: requestContext,
    // a shared database is not this coordinator's alone: a key read from it is confirmed with the nodes
    confirmKeys: shared !== undefined,
  });
  const publicKeyOf = (id: string): string | undefined => wallets.publicKeyOf(id);
  // What is ready survives a restart: the journal in the data directory, or the shared table.
  const inventory =
    shared === undefined
      ? await FileInventory.open(join(config.coordinator.dataDir, 'presignatures.jsonl'), { log })
      : await PgInventory.open(shared.database, { log });
  const pool = new PresignPool({
    presign: orchestratedPresign({ runner: orchestrator, cluster, publicKeyOf }),
    targetSize: poolSize,
    // the nodes' reported capacity (their protocol workers), read each time the pool starts
    // sessions: it follows nodes that join, leave or restart with another NODE_WORKERS
    get concurrency() {
      return cluster.presignCapacity();
    },
    pairTarget: config.presignPoolTarget,
    signerSets: () => cluster.usableSignerSets(),
    currentAux: () => cluster.auxId,
    inventory,
    isLive: (id) => publicKeyOf(id) !== undefined && !registry.isArchived(id),
    maxAgeMs: config.presignMaxAgeMs,
    log,
  });
  // shares no committed wallet owns (a failed registry commit, a crash mid-creation): recovered or archived
  const reconciler = new WalletReconciler({
    cluster,
    registry,
    log,
    audit,
    metrics,
    onRecovered: (id) => pool.track(id),
    ledger: confirmations,
    ...(shared === undefined ? {} : { active: () => shared.leases.holds('reconciliation') }),
  });
  // Several coordinators: a key generation another coordinator left unfinished when it stopped is
  // noticed by none of this one's events, so the lease holder looks for such wallets every minute.
  const reconcileTimer =
    shared === undefined
      ? undefined
      : setInterval(() => {
          if (registry.pending().length > 0) reconciler.trigger();
        }, 60_000).unref();
  const group = new GroupMonitor({
    cluster,
    runner: orchestrator,
    log,
    onComplete: () => {
      reconciler.trigger();
      // whether the configured group holds every wallet (a replaced or added node): /health says
      void reshare.survey();
      // shares an aux change left stale while this coordinator was down (rotation.ts)
      void rotation
        .sweepStale()
        .catch((e: unknown) => log.error({ err: (e as Error).message }, 'stale-share sweep failed'));
    },
    ...(identities ? { identities } : {}),
    onMisbehaviour: suspend,
    ledger: confirmations,
    busy: (scope) => orchestrator.busy(scope),
    onAlert: (a) => {
      metrics.groupAlerts.inc({ node: a.nodeId, kind: a.kind });
      record({
        type: 'group.alert',
        kind: a.kind,
        node: a.nodeId,
        reported: a.reported ?? null,
        group: a.group ?? null,
      });
    },
  });
  // refresh and rotation: aux-info and every wallet's shares move together (rotation.ts)
  const adminContext =
    api.adminAuthorization === undefined ? {} : { credentialId: credentialId(api.adminAuthorization) };
  // several coordinators: one admin job at a time across them, its progress readable at each
  const jobs = shared === undefined ? undefined : new SharedJobs(shared.database, log);
  const onJobChange = jobs === undefined ? {} : { onJobChange: (view: JobView) => void jobs.update(view) };
  const rotation: KeyRotation = new KeyRotation({
    cluster,
    runner: orchestrator,
    walletIds: () => allWalletIds((o) => registry.list(o)),
    publicKeyOf,
    isArchived: (id) => registry.isArchived(id),
    current: () => registry.ensureCurrent(),
    renewAux: () => group.renewAux(),
    otherJobRunning: (): boolean => reshare.busy,
    discardPresignatures: (walletId) => void pool.discard(walletId),
    ...onJobChange,
    audit,
    log,
  });
  rotation.watch();
  // a changed node group: every wallet moved to it on the operator's reshare job (reshare.ts)
  const reshare: GroupReshare = new GroupReshare({
    cluster,
    runner: orchestrator,
    walletIds: () => allWalletIds((o) => registry.list(o)),
    publicKeyOf,
    isArchived: (id) => registry.isArchived(id),
    current: () => registry.ensureCurrent(),
    renewAux: (o) => group.renewAux(o),
    resolvePending: (walletId) => group.resolveWallet(walletId),
    otherJobRunning: (): boolean => rotation.busy,
    discardPresignatures: (walletId) => void pool.discard(walletId),
    ...onJobChange,
    audit,
    log,
    defaultContext: adminContext,
  });
  /**
   * Starts an admin job here; with several coordinators, only once the group's job slot is taken
   * (409 while another coordinator's runs), and a job that does not start gives it back.
   */
  const startJob = async <V extends JobView>(kind: string, start: (jobId: string) => V): Promise<V> => {
    const jobId = newJobId();
    if (jobs === undefined) return start(jobId);
    await jobs.begin({ jobId, kind, status: 'running' });
    try {
      const view = start(jobId);
      // the job's latest view: one it changed already (onJobChange) is written before this, in order
      await jobs.update(rotation.job(jobId) ?? reshare.job(jobId) ?? view);
      return view;
    } catch (e) {
      await jobs.abandon(jobId).catch(() => undefined);
      throw e;
    }
  };
  // KEY_REFRESH_INTERVAL: every wallet refreshed once per interval, spread over it
  const schedule =
    config.keyRefreshIntervalMs === undefined
      ? undefined
      : new RefreshSchedule({
          intervalMs: config.keyRefreshIntervalMs,
          walletIds: () => allWalletIds((o) => registry.list(o)).filter((id) => !registry.isArchived(id)),
          refresh: (walletId) => rotation.refresh(walletId, 'schedule'),
          ...(shared === undefined ? {} : { active: () => shared.leases.holds('refresh-schedule') }),
          log,
        });
  schedule?.start();
  const signing = new SigningService({
    cluster,
    pool,
    publicKeyOf,
    isArchived: (id) => registry.isArchived(id),
    // a shared store's copy no older than CURRENT_COPY_MS (registry.ts): archives made elsewhere hold here
    current: () => registry.ensureCurrent(),
    metrics,
    log,
    onBlame: (nodeId, protocol, reason, code) => suspend({ nodeId, protocol, reason, code }),
    audit,
    defaultContext: requestContext,
    refreshStale: (walletId) => rotation.refreshStale(walletId),
  });
  // archived wallets: no signing, no refresh, nothing in the pool (archive.ts)
  const archive = new WalletArchive({
    registry,
    view: (id) => wallets.get(id),
    audit,
    log,
    onArchived: (id) => {
      pool.untrack(id);
      void pool.discard(id);
    },
    onRestored: (id) => pool.track(id),
    defaultContext: adminContext,
  });
  metrics.watchConnected(() => cluster.connectedCount);
  metrics.watchPool(() => {
    const named = new Map<string, number>();
    for (const [key, n] of pool.sizesBySigners())
      named.set(
        key
          .split('-')
          .map((i) => cluster.parties[Number(i)])
          .join('+'),
        n,
      );
    return named;
  });

  const banner = new BannerPrinter({
    platform: config.coordinator.platform,
    total: cluster.total,
    threshold: config.mpc.threshold,
  });
  clients.forEach((client, k) => {
    client.on('connected', () => group.onConnected(k));
    client.on('disconnected', () => group.onDisconnected(k));
  });
  cluster.on('connectivity', (connected) => banner.update(connected));
  // Nodes back or the group ready again: stock the pool for the pairs now usable.
  cluster.on('state', () => pool.refill());

  const app = createApi({
    wallets,
    signer: signing,
    health: (): HealthStatus => {
      const h = cluster.health();
      const needed = reshare.surveyed?.needed ?? 0;
      const unchecked = reshare.surveyed?.unchecked ?? 0;
      // the database away: signing goes on from the registry's copy for CURRENT_COPY_MS at most, creating does not
      const unreachable = shared !== undefined && !shared.wallets.reachable;
      // a group that does not hold every wallet as configured (or is not known to) is not ok, though it may sign
      if (needed === 0 && unchecked === 0 && !unreachable) return h;
      return {
        ...h,
        status: h.status === 'ok' ? 'degraded' : h.status,
        ...(needed > 0 ? { reshareNeeded: needed } : {}),
        ...(unchecked > 0 ? { reshareUnchecked: unchecked } : {}),
        ...(unreachable ? { databaseUnreachable: true as const } : {}),
      };
    },
    metrics,
    authorization: wallet.authorization,
    credentialId: requestContext.credentialId,
    metricsAuthorization: api.metricsAuthorization,
    adminAuthorization: api.adminAuthorization,
    admin: {
      refresh: (walletId, reason, context) => rotation.refresh(walletId, reason, context),
      startRotation: (context) => startJob('rotation', (id) => rotation.startRotation(context, id)),
      startReshare: (context) => startJob('reshare', (id) => reshare.start(context, id)),
      job: async (jobId) => rotation.job(jobId) ?? reshare.job(jobId) ?? (await jobs?.get(jobId)),
    },
    archive,
    ...(adminContext.credentialId === undefined ? {} : { adminCredentialId: adminContext.credentialId }),
    trustedProxies: api.trustedProxies,
    log,
  });
  const server = await startHttpsServer(app, {
    cert: apiTls.cert,
    key: apiTls.key,
    port: config.coordinator.httpsPort,
    host: api.host,
    maxConnections: api.maxConnections,
    maxConnectionsPerIp: api.maxConnectionsPerIp,
    exemptFromPerIpCap: addressMatcher(api.trustedProxies),
    onRefused: (cap) => metrics.refusedConnections.inc({ cap }),
    log,
  });

  const start = (): void => {
    log.info(
      {
        host: api.host,
        port: server.port,
        metrics: api.metricsAuthorization !== undefined,
        admin: api.adminAuthorization !== undefined,
        presignPoolSize: poolSize,
        nodes: cluster.parties,
      },
      'wallet API listening (HTTPS)',
    );
    banner.update(cluster.connectedCount);
    for (const c of clients) c.start();
    // wallets with presignatures left from before the restart (or stocked by another coordinator)
    pool.start();
    record({
      type: 'coordinator.started',
      wallets: registry.count,
      // key generations never committed: nodes may hold shares under these ids that no wallet owns
      pendingWallets: registry.pending().map((p) => `${p.walletId} (${p.state})`),
      suspendedNodes: [...suspended.keys()],
      credentialId: requestContext.credentialId,
    });
  };
  const stop = async (signal: string): Promise<void> => {
    await server.close(10_000);
    group.stop();
    rotation.stop();
    reshare.stop();
    schedule?.stop();
    reconciler.stop();
    clearInterval(reconcileTimer);
    await pool.stop();
    await inventory.close();
    await Promise.all(clients.map((c) => c.stop()));
    await registry.close();
    record({ type: 'coordinator.stopped', signal });
    await store.close();
    await shared?.close();
    await owner.release();
  };
  return { log, start, stop };
}
