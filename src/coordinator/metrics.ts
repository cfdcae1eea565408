/**
 * The coordinator's Prometheus metrics (GET /metrics), in a registry of its own so tests and
 * several app instances never share counters. Labels are bounded sets — routes, protocols,
 * outcomes, node ids, signer pairs — never wallet ids or anything a client chooses.
 * @module
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { SessionOutcome } from './orchestrator.js';

export interface MetricsOptions {
  /** process metrics (CPU, memory, event loop); off in tests */
  readonly processMetrics?: boolean;
}

export class CoordinatorMetrics {
  readonly registry = new Registry();

  readonly httpRequests = new Counter({
    name: 'mpc_http_requests_total',
    help: 'Wallet API requests by method, route and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [this.registry],
  });

  readonly httpDuration = new Histogram({
    name: 'mpc_http_request_duration_seconds',
    help: 'Wallet API latency by method, route and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [this.registry],
  });

  readonly refusedConnections = new Counter({
    name: 'mpc_https_connections_refused_total',
    help: 'Wallet API connections closed unserved because a cap was reached (total, per-ip)',
    labelNames: ['cap'] as const,
    registers: [this.registry],
  });

  readonly sessions = new Counter({
    name: 'mpc_sessions_total',
    help: 'Protocol sessions by protocol and outcome (done, aborted, or the failure: timeout, unavailable, draining, rejected, invalid-response, stalled, inconsistent, state-mismatch)',
    labelNames: ['protocol', 'outcome'] as const,
    registers: [this.registry],
  });

  readonly sessionDuration = new Histogram({
    name: 'mpc_session_duration_seconds',
    help: 'Protocol session duration by protocol and outcome',
    labelNames: ['protocol', 'outcome'] as const,
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600],
    registers: [this.registry],
  });

  readonly blames = new Counter({
    name: 'mpc_blames_total',
    help: 'Cryptographic misbehaviour attributed to a node (wrong partial signature, protocol abort naming it)',
    labelNames: ['node', 'protocol'] as const,
    registers: [this.registry],
  });

  readonly groupAlerts = new Counter({
    name: 'mpc_group_alerts_total',
    help: 'Operator matters the group monitor found (aux-disagreement: a node reports another committed aux-info than the group)',
    labelNames: ['node', 'kind'] as const,
    registers: [this.registry],
  });

  readonly signatures = new Counter({
    name: 'mpc_signatures_total',
    help: 'Sign requests by outcome (ok, failed)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  readonly signAttempts = new Counter({
    name: 'mpc_sign_attempts_total',
    help: 'Signing attempts by signer pair and outcome (ok, node-failed, blamed, presign-failed, share-stale)',
    labelNames: ['signers', 'outcome'] as const,
    registers: [this.registry],
  });

  /** alert on > 0: a correct registry accounts for every committed share (reconcile.ts) */
  readonly unregisteredCommitted = new Gauge({
    name: 'mpc_unregistered_committed_wallets',
    help: 'Wallets whose committed key shares the nodes hold but the registry never heard of, at the last reconciliation (left in place: is the registry the right one?)',
    registers: [this.registry],
  });

  private poolSource: (() => ReadonlyMap<string, number>) | undefined;
  private connectedSource: (() => number) | undefined;

  // Gauges of state owned elsewhere are read when scraped (prom-client calls collect()).
  readonly poolSize: Gauge<'signers'> = new Gauge({
    name: 'mpc_presign_pool_size',
    help: 'Presignatures ready, summed over wallets, by signer pair',
    labelNames: ['signers'] as const,
    registers: [this.registry],
    collect: () => {
      if (!this.poolSource) return;
      this.poolSize.reset();
      for (const [signers, n] of this.poolSource()) this.poolSize.set({ signers }, n);
    },
  });

  readonly connectedNodes: Gauge = new Gauge({
    name: 'mpc_connected_nodes',
    help: 'Nodes with an open connection',
    registers: [this.registry],
    collect: () => {
      if (this.connectedSource) this.connectedNodes.set(this.connectedSource());
    },
  });

  constructor(options: MetricsOptions = {}) {
    if (options.processMetrics) collectDefaultMetrics({ register: this.registry });
  }

  /** Counts a finished session (the orchestrator's onOutcome). */
  recordSession(o: SessionOutcome): void {
    const outcome = o.status === 'failed' ? o.failure : o.status;
    this.sessions.inc({ protocol: o.protocol, outcome });
    this.sessionDuration.observe({ protocol: o.protocol, outcome }, o.durationMs / 1000);
    if (o.status === 'aborted')
      for (const c of o.culprits) this.blames.inc({ node: c.nodeId ?? `index-${c.index}`, protocol: o.protocol });
  }

  /** Pool sizes by signer pair, read on each scrape. */
  watchPool(source: () => ReadonlyMap<string, number>): void {
    this.poolSource = source;
  }

  watchConnected(source: () => number): void {
    this.connectedSource = source;
  }

  async exposition(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
