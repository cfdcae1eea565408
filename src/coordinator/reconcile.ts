/**
 * Wallet reconciliation: what the nodes hold against what the registry says, run whenever every
 * node is connected (at start and after a reconnect; GroupMonitor's `onComplete`).
 *
 * Wallet creation writes a pending registry record, runs keygen (every node stores its share), then
 * commits the record (wallets.ts). A commit that failed (a full disk) or a coordinator that
 * stopped in between leaves shares that no committed wallet owns, and a keygen that failed may
 * leave pending states at some nodes (a run that can never commit). For each wallet id some node
 * holds, or the registry has pending:
 *
 * - registry `committed`, or a keygen `running` now: nothing to do;
 * - registry `interrupted` (no outcome was recorded): first claimed in the registry (a shared store
 *   checks that its coordinator is still not alive, and from then on refuses that coordinator's
 *   commit and abandon; unclaimed, it is left alone). Then, if every node holds a committed share with
 *   the same public key, the wallet is complete and is committed to the registry (recovered). If
 *   some nodes committed and the others hold the run's pending state, those are first finalized
 *   with a committed node's evidence (the run did finish; a finalize that fails is tried again
 *   later). If every node holds the pending state and none committed, the nodes' own stored
 *   confirmations are gathered and, all there, committed on (resolver.ts). Otherwise the run can
 *   never commit; every node archives what it holds of it and the registry records it `resolved`;
 * - registry `failed` (keygen failed) or `resolved` (dead): whatever a node still holds of it is
 *   archived, and a failed record is resolved;
 * - unknown to the registry with a committed share at some node: left alone, with an audit record,
 *   an error in the log and an alert metric. A registry that works accounts for every such wallet
 *   (its pending record is written before keygen starts), so the registry itself is wrong (empty,
 *   restored, foreign) and must not take live wallets out of use. Nodes refuse to archive a
 *   committed share anyway (src/node/archive.ts);
 * - unknown to the registry with only pending states (a run that committed nowhere, which cannot
 *   sign): logged, audited and archived — unless implausibly many, then left alone with an error.
 *
 * Nothing is deleted: nodes move the records to their archive (src/node/archive.ts), and a later
 * keygen of the same wallet id is no longer held up by a leftover pending state. Every action is
 * in the audit log. Decisions need every node (a node not asked might hold the missing share), so
 * a run starts only with all of them connected, and a run that fails is tried again later.
 * @module
 */
import {
  RPC_VERSION,
  archiveResponseSchema,
  evidenceResponseSchema,
  finalizeResponseSchema,
  walletResponseSchema,
  walletsResponseSchema,
} from '../rpc/messages.js';
import { silentLogger, type Logger } from '../util/log.js';
import type { NodeCluster } from './cluster.js';
import type { CoordinatorMetrics } from './metrics.js';
import { callNode, type NodeLink } from './node-link.js';
import type { WalletStore } from './registry.js';
import type { AuditSink } from './wallets.js';
import { ConfirmationLedger, PendingResolver } from './resolver.js';

/** wallets a node may list beyond those the registry accounts for before the run stops */
const MAX_EXTRA_LISTED = 10_000;
/** wallet ids named in one audit record */
const MAX_AUDITED_IDS = 1_000;

export interface ReconcilerOptions {
  readonly cluster: NodeCluster;
  readonly registry: WalletStore;
  readonly log?: Logger;
  readonly audit?: AuditSink;
  /** a wallet was recovered into the registry (the pool starts stocking it) */
  readonly onRecovered?: (walletId: string) => void;
  /** one node request (default 30 s: the node's protocol thread may be busy with a session) */
  readonly callTimeoutMs?: number;
  /** pending-only wallet states a node may hold that the registry never heard of before archiving them is refused (default 16) */
  readonly maxUnregistered?: number;
  /** counts unregistered committed wallets (an alert) */
  readonly metrics?: CoordinatorMetrics;
  /** wallet ids per `wallets` page (default 500, the most a node answers) */
  readonly pageSize?: number;
  /** wait before trying a failed run again (default 60 s) */
  readonly retryMs?: number;
  /** confirmations the orchestrator relayed (resolver.ts) */
  readonly ledger?: ConfirmationLedger;
  /**
   * whether this coordinator reconciles now (several coordinators: the holder of the
   * reconciliation lease, store/leases.ts). Default: always
   */
  readonly active?: () => boolean;
}

export interface ReconcileSummary {
  /** pending wallets every node held committed: now committed in the registry */
  readonly recovered: string[];
  /** pending wallets that can never commit: archived at every node, resolved in the registry */
  readonly resolved: string[];
  /** wallets of failed or resolved key generations some node still held: archived */
  readonly archivedDead: string[];
  /** pending-only wallet states the registry never heard of: archived */
  readonly unregistered: string[];
  /** unregistered wallets left alone: committed at some node, or too many */
  readonly refused: string[];
}

interface Held {
  committed: boolean;
  pending: boolean;
}

export class WalletReconciler {
  private readonly log: Logger;
  private running: Promise<ReconcileSummary | undefined> | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly resolver: PendingResolver;

  constructor(private readonly o: ReconcilerOptions) {
    this.log = (o.log ?? silentLogger()).child({ component: 'reconcile' });
    this.resolver = new PendingResolver({
      cluster: o.cluster,
      log: this.log,
      timeoutMs: o.callTimeoutMs ?? 30_000,
      ledger: o.ledger ?? new ConfirmationLedger(),
    });
  }

  /** Start a run unless one is under way (a failed one is retried later); never rejects. */
  trigger(): void {
    void this.run();
  }

  /**
   * One run (or the one under way); undefined if it could not run or failed. Without every node
   * connected it does not run (the next reconnect starts it); with a registry that failed a write
   * neither (a restart repairs it, and the run at that start does the work).
   */
  run(): Promise<ReconcileSummary | undefined> {
    if (this.stopped || this.o.active?.() === false) return Promise.resolve(undefined);
    const c = this.o.cluster;
    const missing = c.links.filter((l) => !c.isConnected(l.index)).map((l) => l.nodeId);
    if (missing.length > 0) {
      this.log.debug({ missing }, 'wallet reconciliation waits for every node');
      return Promise.resolve(undefined);
    }
    if (!this.o.registry.writable) {
      this.log.warn(
        'wallet reconciliation skipped: the wallet registry cannot be written until the coordinator restarts',
      );
      return Promise.resolve(undefined);
    }
    this.running ??= this.reconcile()
      .catch((e: unknown) => {
        this.log.warn(
          { err: (e as Error).message, retryMs: this.o.retryMs ?? 60_000 },
          'wallet reconciliation did not finish; will try again',
        );
        this.scheduleRetry();
        return undefined;
      })
      .finally(() => {
        this.running = undefined;
      });
    return this.running;
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.retryTimer);
  }

  private scheduleRetry(): void {
    if (this.stopped || this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.trigger();
    }, this.o.retryMs ?? 60_000);
    this.retryTimer.unref();
  }

  private async reconcile(): Promise<ReconcileSummary> {
    const c = this.o.cluster;
    const { registry } = this.o;
    const summary: ReconcileSummary = { recovered: [], resolved: [], archivedDead: [], unregistered: [], refused: [] };
    // what each node holds, then the registry: a keygen that begins meanwhile is `running` by then
    const held = new Map<string, Map<number, Held>>();
    for (const link of c.links) {
      for (const w of await this.list(link)) {
        const byNode = held.get(w.walletId) ?? new Map<number, Held>();
        byNode.set(link.index, { committed: w.committed, pending: w.pending });
        held.set(w.walletId, byNode);
      }
    }
    // a shared store's copy may lag another coordinator's begin by a moment: brought up to date
    // after the nodes answered, so a key generation they already hold is known here by now
    await registry.catchUp();
    const ids = [...new Set([...held.keys(), ...registry.pending().map((p) => p.walletId)])].sort();
    const unregistered: string[] = [];
    // one wallet that cannot be settled now (a node refuses, a record does not read) holds up no other
    let unsettled = 0;
    for (const walletId of ids) {
      try {
        const heldBy = held.get(walletId) ?? new Map<number, Held>();
        const holders = [...heldBy.keys()].map((i) => c.link(i) as NodeLink);
        // nodes archive unfinished runs only: a committed share (every party confirmed) is refused
        const committedAt = [...heldBy].filter(([, h]) => h.committed).map(([i]) => c.parties[i] as string);
        switch (registry.status(walletId)) {
          case 'committed':
          case 'running':
            break;
          case undefined:
            unregistered.push(walletId);
            break;
          case 'interrupted':
            // claimed before any node is asked anything: a coordinator that was only paused (its
            // liveness ran out) and wakes up can then neither commit nor abandon it (registry.ts)
            if (!(await registry.claim(walletId))) {
              this.log.info({ walletId }, 'interrupted key generation not claimed: its coordinator is alive again');
              break;
            }
            if (await this.settleInterrupted(walletId)) summary.recovered.push(walletId);
            else summary.resolved.push(walletId);
            break;
          case 'failed':
          case 'resolved': {
            const status = registry.status(walletId);
            if (committedAt.length > 0) {
              // a key every party confirmed although the registry records its keygen as failed: left in place
              summary.refused.push(walletId);
              this.log.error(
                { walletId, registry: status, committedAt },
                'nodes hold a committed key share of a wallet whose key generation the registry records as failed: left in place for the operator',
              );
              break;
            }
            const archived = await this.archiveAt(holders, walletId, 'abandoned');
            if (status === 'failed') {
              await registry.resolve(walletId);
              await this.record({ type: 'wallet.resolved', walletId, registry: 'failed', archived });
              this.log.warn(
                { walletId, archived },
                'failed key generation resolved: what nodes held of it is archived',
              );
              summary.resolved.push(walletId);
            } else {
              await this.record({ type: 'wallet.resolved', walletId, registry: 'resolved', archived });
              this.log.warn({ walletId, archived }, 'records of a resolved key generation were still held: archived');
              summary.archivedDead.push(walletId);
            }
            break;
          }
        }
      } catch (e) {
        unsettled++;
        this.log.warn({ walletId, err: (e as Error).message }, 'wallet not reconciled this time');
      }
    }
    await this.unregistered(unregistered, held, summary);
    if (Object.values(summary).some((list: readonly string[]) => list.length > 0))
      this.log.info(summary, 'wallet reconciliation done');
    if (unsettled > 0) throw new Error(`${unsettled} wallet(s) could not be reconciled`);
    return summary;
  }

  /**
   * Wallets the registry never heard of. Committed at some node: left alone (see the module
   * comment). Pending-only: archived, unless there are implausibly many.
   */
  private async unregistered(
    all: readonly string[],
    held: ReadonlyMap<string, ReadonlyMap<number, Held>>,
    summary: ReconcileSummary,
  ): Promise<void> {
    const c = this.o.cluster;
    const isCommitted = (id: string): boolean => [...(held.get(id)?.values() ?? [])].some((h) => h.committed);
    const committed = all.filter(isCommitted);
    this.o.metrics?.unregisteredCommitted.set(committed.length);
    if (committed.length > 0) {
      summary.refused.push(...committed);
      this.log.error(
        { wallets: committed.length, walletIds: committed.slice(0, 20), registry: this.o.registry.location },
        'nodes hold committed key shares of wallets the registry never heard of: is this the right registry? They are left in place',
      );
      await this.record({
        type: 'reconcile.refused',
        reason: 'unregistered committed key shares',
        wallets: committed.length,
        // bounded: one audit line, whatever a node lists
        walletIds: committed.slice(0, MAX_AUDITED_IDS),
      });
    }
    const ids = all.filter((id) => !isCommitted(id));
    if (ids.length === 0) return;
    const max = this.o.maxUnregistered ?? 16;
    const perNode = c.links.map((l) => ids.filter((id) => held.get(id)?.has(l.index)).length);
    if (perNode.some((n) => n > max)) {
      summary.refused.push(...ids);
      const counts = Object.fromEntries(c.links.map((l, k) => [l.nodeId, perNode[k] as number]));
      this.log.error(
        { counts, max, registry: this.o.registry.location },
        'nodes hold more wallets the registry never heard of than failed key generations explain: is this the right registry? Nothing was archived',
      );
      await this.record({ type: 'reconcile.refused', reason: 'too many unregistered wallets', counts, max });
      return;
    }
    for (const walletId of ids) {
      const holders = [...(held.get(walletId)?.keys() ?? [])].map((i) => c.link(i) as NodeLink);
      this.log.warn(
        { walletId, nodes: holders.map((l) => l.nodeId) },
        'nodes hold a pending state of a wallet the registry never heard of: archiving it',
      );
      const archived = await this.archiveAt(holders, walletId, 'unregistered');
      await this.record({ type: 'wallet.unregistered', walletId, archived });
      summary.unregistered.push(walletId);
    }
  }

  /** An interrupted key generation: recovered (true) or resolved (false). */
  private async settleInterrupted(walletId: string): Promise<boolean> {
    const c = this.o.cluster;
    const { registry } = this.o;
    let states = await this.describe(walletId);
    const committed = (): string[] => states.flatMap((s) => (s.committed ? [s.committed.publicKey] : []));
    // every node confirmed the run but none received every confirmation (the coordinator stopped
    // before the last deliver): the nodes' own stored confirmations are the evidence (resolver.ts)
    const sids = new Set(states.map((s) => s.pending?.sid));
    if (committed().length === 0 && sids.size === 1 && states.every((s) => s.pending?.protocol === 'keygen')) {
      await this.resolver.finishFromConfirmations(walletId, c.links[0] as NodeLink, states[0]?.pending?.sid as string);
      states = await this.describe(walletId);
    }
    // the run finished somewhere (evidence exists): hand it to the nodes that missed the end
    const finishable =
      committed().length > 0 &&
      committed().length < states.length &&
      states.every((s) => s.committed || s.pending?.protocol === 'keygen');
    if (finishable) {
      const donor = c.links[states.findIndex((s) => s.committed)] as NodeLink;
      const e = await callNode(
        donor,
        { v: RPC_VERSION, method: 'evidence', scope: walletId },
        evidenceResponseSchema,
        this.timeout,
      );
      for (const [k, s] of states.entries()) {
        if (s.committed) continue;
        const link = c.links[k] as NodeLink;
        try {
          await callNode(
            link,
            { v: RPC_VERSION, method: 'finalize', scope: walletId, envelopes: e.envelopes },
            finalizeResponseSchema,
            this.timeout,
          );
          this.log.info(
            { walletId, node: link.nodeId, from: donor.nodeId },
            'pending key share committed on another node’s evidence',
          );
        } catch (err) {
          this.log.warn(
            { walletId, node: link.nodeId, err: (err as Error).message },
            'could not finalize a pending key share',
          );
        }
      }
      states = await this.describe(walletId);
      // the keygen completed: a finalize that failed now (a busy or restarting node) is tried again
      // later, never taken for a run that can never commit (which would archive a complete wallet)
      if (committed().length < states.length)
        throw new Error('a node committed the key generation but not every other node could be finalized yet');
    }
    const keys = committed();
    const pending = registry.pendingRecord(walletId);
    if (keys.length === states.length && new Set(keys).size === 1 && pending) {
      const publicKey = keys[0] as string;
      await registry.append({
        walletId,
        ...(pending.label === undefined ? {} : { label: pending.label }),
        publicKey,
        createdAt: pending.startedAt,
      });
      await this.record({ type: 'wallet.recovered', walletId, publicKey });
      this.log.warn(
        { walletId, publicKey },
        'wallet recovered: every node holds its share; its registry commit had not been written',
      );
      this.o.onRecovered?.(walletId);
      return true;
    }
    if (new Set(keys).size > 1)
      this.log.error({ walletId }, 'nodes hold different public keys for one wallet id: archived');
    const holders = c.links.filter((_, k) => states[k]?.committed !== undefined || states[k]?.pending !== undefined);
    const archived = await this.archiveAt(holders, walletId, 'abandoned');
    await registry.resolve(walletId);
    await this.record({ type: 'wallet.resolved', walletId, registry: 'interrupted', archived });
    this.log.warn(
      { walletId, archived },
      'interrupted key generation can never complete: what nodes held of it is archived',
    );
    return false;
  }

  private get timeout(): number {
    return this.o.callTimeoutMs ?? 30_000;
  }

  /** Every wallet scope a node holds, page by page (each page must move forward). */
  private async list(link: NodeLink): Promise<{ walletId: string; committed: boolean; pending: boolean }[]> {
    const out: { walletId: string; committed: boolean; pending: boolean }[] = [];
    let after: string | undefined;
    // a node holds the registry's wallets and a few more at most (failed commits): a node listing
    // without end must not grow this process's memory without bound
    const max = this.o.registry.count + this.o.registry.pending().length + MAX_EXTRA_LISTED;
    for (;;) {
      if (out.length > max)
        throw new Error(
          `${link.nodeId} lists more than ${max} wallets, far more than the registry accounts for: is this the right registry?`,
        );
      const page = await callNode(
        link,
        { v: RPC_VERSION, method: 'wallets', ...(after === undefined ? {} : { after }), limit: this.o.pageSize ?? 500 },
        walletsResponseSchema,
        this.timeout,
      );
      for (const w of page.wallets) {
        if (after !== undefined && w.walletId <= after) throw new Error(`${link.nodeId} listed wallets out of order`);
        after = w.walletId;
        out.push(w);
      }
      if (page.next === undefined) return out;
      if (page.wallets.length === 0 || page.next !== after)
        throw new Error(`${link.nodeId} gave a page cursor that does not follow its page`);
    }
  }

  private describe(walletId: string) {
    const c = this.o.cluster;
    return Promise.all(
      c.links.map(async (link) => {
        const s = await callNode(
          link,
          { v: RPC_VERSION, method: 'wallet', walletId },
          walletResponseSchema,
          this.timeout,
        );
        if (s.walletId !== walletId) throw new Error(`${link.nodeId} described another wallet`);
        return s;
      }),
    );
  }

  /** Has each node archive the wallet's records; what each moved, by node id. */
  private async archiveAt(
    links: readonly NodeLink[],
    walletId: string,
    reason: 'abandoned' | 'unregistered',
  ): Promise<Record<string, string[]>> {
    const out: Record<string, string[]> = {};
    for (const link of links) {
      const r = await callNode(
        link,
        { v: RPC_VERSION, method: 'archive', walletId, reason },
        archiveResponseSchema,
        this.timeout,
      );
      out[link.nodeId] = r.archived;
    }
    return out;
  }

  private async record(event: { type: string } & Record<string, unknown>): Promise<void> {
    try {
      await this.o.audit?.append(event as Parameters<AuditSink['append']>[0]);
    } catch (e) {
      this.log.error({ type: event.type, err: (e as Error).message }, 'audit log: reconciliation event not recorded');
    }
  }
}
