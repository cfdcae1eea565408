/**
 * Key rotation: refreshing wallets' key shares, and renewing the group's aux-info together with
 * every wallet's shares.
 *
 * Why both move together (docs/security.md, "Rotation: aux-info and key shares move together (P2)"): the MtA ciphertexts a node sees while
 * presigning are under its peers' Paillier keys. A refresh alone leaves those keys in place, so an
 * adversary who reads node A before it and node B after it decrypts, with B's unchanged Paillier
 * key, the nonce shares A saw and gets the key from any published signature; new aux-info alone
 * leaves the shares in place, so the two reads combine directly. A rotation is therefore an
 * aux-info run (new Paillier and ring-Pedersen keys, a new aux epoch) followed by a refresh of
 * every wallet. In between, a wallet whose share predates the aux-info is *stale*: its nodes refuse
 * to presign for it (`share-stale`) until its refresh is committed, so no presignature is ever made
 * in the mixed state.
 *
 * What refreshes a stale wallet, whatever made the aux-info move (a rotation; the group monitor
 * makes aux-info by itself only at group setup, never after a disagreement):
 * - a sweep after every aux-info change this coordinator sees, one wallet at a time, retried
 *   later for the wallets that failed;
 * - the signing path: a presign refused as `share-stale` refreshes that wallet and tries again
 *   (signing.ts), so a wallet the sweep has not reached yet still signs;
 * - `sweepStale`, each time the whole group is connected: the nodes report each share's aux epoch,
 *   so a coordinator restarted between an aux change and its sweep still finds idle stale wallets.
 *
 * Every refresh is a `refresh` session of all n nodes committed on every party's confirmation
 * (src/node/lifecycle.ts): the committed shares are replaced, presignatures of the old epoch are
 * burnt at the nodes and dropped from the pool here. Concurrent requests for the same wallet
 * share one run. Rotation jobs live in memory (a restart forgets them; the nodes' epochs do not).
 * @module
 */
import { randomBytes } from 'node:crypto';
import { silentLogger, type Logger } from '../util/log.js';
import type { NodeCluster } from './cluster.js';
import {
  NodesUnavailableError,
  RefreshFailedError,
  RotationRunningError,
  WalletArchivedError,
  WalletNotFoundError,
} from './errors.js';
import { abortReason, type SessionOutcome, type SessionRunner } from './orchestrator.js';
import { callNode } from './node-link.js';
import { RPC_VERSION, walletResponseSchema } from '../rpc/messages.js';
import { AuditUnavailableError, type AuditSink, type RequestContext } from './wallets.js';

/** Why a wallet was refreshed (recorded in the audit event). */
export type RefreshReason = 'admin' | 'rotation' | 'stale' | 'sweep' | 'schedule';

export interface RefreshResult {
  readonly walletId: string;
  /** unchanged by a refresh */
  readonly publicKey: string;
  /** the key shares' epoch after the refresh */
  readonly epoch: number;
}

/** A fresh admin job id: `job_` and 16 base64url characters (GET /v1/admin/jobs/:jobId). */
export function newJobId(): string {
  return `job_${randomBytes(12).toString('base64url')}`;
}

export interface RotationJobView {
  readonly jobId: string;
  readonly kind: 'rotation';
  readonly status: 'running' | 'succeeded' | 'failed';
  /** aux: making the new aux-info; refresh: refreshing the wallets; done */
  readonly phase: 'aux' | 'refresh' | 'done';
  readonly createdAt: string;
  readonly finishedAt?: string;
  /** the new aux-info's id, once made */
  readonly auxId?: string;
  readonly wallets: { readonly total: number; readonly refreshed: number; readonly failed: number };
  /** why the job failed (our own sentence: never a node's text) */
  readonly error?: string;
}

export interface KeyRotationOptions {
  readonly cluster: NodeCluster;
  readonly runner: SessionRunner;
  /** every registered wallet's id */
  readonly walletIds: () => readonly string[];
  /** a registered wallet's public key (33-byte compressed hex) */
  readonly publicKeyOf: (walletId: string) => string | undefined;
  /** an archived wallet is not refreshed: sweeps and rotations skip it, a refresh is refused (409) */
  readonly isArchived?: (walletId: string) => boolean;
  /**
   * brings the registry's copy up to date when it is older than the bound a decision on archive
   * state may rely on (WalletStore.ensureCurrent); rejects (503) if it cannot be
   */
  readonly current?: () => Promise<void>;
  /** makes a new aux-info with every node (GroupMonitor.renewAux) */
  readonly renewAux: () => Promise<string>;
  /** told of every change of a job's view, in order (several coordinators: store/jobs-pg.ts shares it) */
  readonly onJobChange?: (view: RotationJobView) => void;
  /** another job that must not run alongside (a reshare) */
  readonly otherJobRunning?: () => boolean;
  /** drops presignatures the nodes burnt at a commit (PresignPool.discard) */
  readonly discardPresignatures?: (walletId?: string) => void;
  readonly audit?: AuditSink;
  readonly log?: Logger;
  readonly refreshTimeoutMs?: number;
  /** wait before a sweep tries the wallets it could not refresh again (default 60 s) */
  readonly retryMs?: number;
  /** request context used when a request carries none (the configured admin credential's id) */
  readonly defaultContext?: RequestContext;
}

/** Jobs remembered (finished ones are forgotten oldest first beyond this). */
const MAX_JOBS = 100;

interface Job {
  view: RotationJobView;
}

export class KeyRotation {
  private readonly log: Logger;
  private readonly inFlight = new Map<string, Promise<RefreshResult>>();
  /** wallet → the aux id its shares were last refreshed under by this coordinator */
  private readonly freshUnder = new Map<string, string>();
  private readonly jobs = new Map<string, Job>();
  private rotating = false;
  private lastAux: string | undefined;
  private sweeping: Promise<void> | undefined;
  private sweepAgain = false;
  private staleSweep: Promise<{ stale: number; refreshed: number }> | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly o: KeyRotationOptions) {
    this.log = (o.log ?? silentLogger()).child({ component: 'rotation' });
  }

  /**
   * Follow the group's aux-info: when it changes (not the first sighting: after a restart nothing
   * is known of the shares, and the signing path refreshes on demand), every presignature in the
   * pool is dropped (the nodes burnt them) and the wallets are swept.
   */
  watch(): void {
    this.lastAux = this.o.cluster.auxId;
    this.o.cluster.on('state', () => {
      const auxId = this.o.cluster.auxId;
      if (auxId === undefined || auxId === this.lastAux) return;
      const first = this.lastAux === undefined;
      this.lastAux = auxId;
      if (first) return;
      this.log.info({ auxId }, 'the group has new aux-info: refreshing every wallet’s key shares');
      this.o.discardPresignatures?.();
      this.scheduleSweep();
    });
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.retryTimer);
  }

  /** Every wallet id but the archived ones. */
  private activeWalletIds(): string[] {
    return this.o.walletIds().filter((id) => this.o.isArchived?.(id) !== true);
  }

  /** Resolves when no sweep runs (tests). */
  async idle(): Promise<void> {
    while (this.sweeping) await this.sweeping;
  }

  /**
   * Refresh one wallet's key shares with every node (public key unchanged, epoch + 1). Joins a
   * refresh of the same wallet already under way.
   * @throws WalletNotFoundError, WalletArchivedError, NodesUnavailableError, RefreshFailedError, AuditUnavailableError
   */
  refresh(walletId: string, reason: RefreshReason, context?: RequestContext): Promise<RefreshResult> {
    const running = this.inFlight.get(walletId);
    if (running) return running;
    const work = this.refreshOnce(walletId, reason, { ...this.o.defaultContext, ...context }).finally(() =>
      this.inFlight.delete(walletId),
    );
    this.inFlight.set(walletId, work);
    return work;
  }

  /**
   * The signing path's refresh of a wallet a node called stale (`share-stale`): at most one per
   * wallet per aux-info. A refresh burns the wallet's presignatures, so once this coordinator has
   * refreshed the wallet under the current aux-info another `share-stale` is not believed: resolves
   * false without a refresh (the caller treats the refusing node as failed), true once refreshed.
   * @throws as refresh()
   */
  async refreshStale(walletId: string): Promise<boolean> {
    const auxId = this.o.cluster.auxId;
    if (auxId !== undefined && this.freshUnder.get(walletId) === auxId) return false;
    await this.refresh(walletId, 'stale');
    return true;
  }

  /** Start a rotation job: new aux-info, then every wallet refreshed. @throws RotationRunningError */
  startRotation(context?: RequestContext, id?: string): RotationJobView {
    if (this.rotating || this.o.otherJobRunning?.())
      throw new RotationRunningError('a rotation or reshare is already running');
    this.assertGroupAgrees();
    this.rotating = true;
    const jobId = id ?? newJobId();
    const job: Job = {
      view: {
        jobId,
        kind: 'rotation',
        status: 'running',
        phase: 'aux',
        createdAt: new Date().toISOString(),
        wallets: { total: 0, refreshed: 0, failed: 0 },
      },
    };
    this.jobs.set(jobId, job);
    this.forgetOldJobs();
    const ctx = { ...this.o.defaultContext, ...context };
    void this.record({ type: 'rotation.started', jobId, ...ctx });
    void this.rotate(job, ctx).finally(() => {
      this.rotating = false;
    });
    return job.view;
  }

  /**
   * A rotation starts only with every node connected on the same committed aux-info (id and epoch)
   * and none mid-switch: a new aux-info makes every share stale, and their refresh needs every node.
   * @throws NodesUnavailableError
   */
  private assertGroupAgrees(): void {
    const c = this.o.cluster;
    const readiness = c.keygenReadiness();
    if (!readiness.ready) throw new NodesUnavailableError(readiness.reason.replace('wallet creation', 'a rotation'));
    const infos = c.links.map((l) => c.info(l.index));
    const first = infos[0];
    const agree = infos.every(
      (i) =>
        i?.auxId !== undefined &&
        i.auxId === first?.auxId &&
        i.auxEpoch === first.auxEpoch &&
        i.auxPendingSid === undefined,
    );
    if (!agree)
      throw new NodesUnavailableError(
        'a rotation needs every node on the same committed aux-info, none with a pending one',
      );
  }

  /**
   * Refresh every registered wallet whose committed share at some node predates the group's
   * aux-info (its `auxEpoch` below the committed aux epoch): the shares a rotation or aux change
   * left stale when this coordinator stopped before its sweep (what it remembers lives in memory
   * only; the nodes' epochs do not). Run when the whole group is connected; one `wallet` request
   * per node and wallet.
   */
  sweepStale(): Promise<{ stale: number; refreshed: number }> {
    // one at a time: the whole group reconnecting twice in a row must not run two
    this.staleSweep ??= this.sweepStaleOnce().finally(() => (this.staleSweep = undefined));
    return this.staleSweep;
  }

  private async sweepStaleOnce(): Promise<{ stale: number; refreshed: number }> {
    const c = this.o.cluster;
    if (this.stopped || !c.keygenReadiness().ready) return { stale: 0, refreshed: 0 };
    // the epoch of the aux-info the group agrees on: the cluster's aux id at an epoch at least t
    // nodes report, never one node's word (a node reporting a higher epoch would make every wallet stale)
    const auxId = c.auxId;
    const epochs = c.links
      .map((l) => c.info(l.index))
      .filter((i) => i?.auxId !== undefined && i.auxId === auxId)
      .map((i) => i?.auxEpoch);
    const auxEpoch = epochs.find((e) => e !== undefined && epochs.filter((x) => x === e).length >= c.threshold);
    if (auxId === undefined || auxEpoch === undefined) return { stale: 0, refreshed: 0 };
    let stale = 0;
    let refreshed = 0;
    for (const walletId of this.activeWalletIds()) {
      if (this.stopped) break;
      // refreshed under this aux-info already: a node still calling it stale is not believed (as in
      // refreshStale), or one node could have every wallet refreshed, its presignatures burnt, at each reconnection
      if (this.freshUnder.get(walletId) === auxId) continue;
      let behind = false;
      for (const link of c.links) {
        try {
          const w = await callNode(link, { v: RPC_VERSION, method: 'wallet', walletId }, walletResponseSchema, 10_000);
          // a share that does not say is a legacy one, made under the first aux-info (lifecycle.ts)
          if (w.committed && (w.committed.auxEpoch ?? 1) < auxEpoch) behind = true;
        } catch (e) {
          this.log.warn(
            { walletId, node: link.nodeId, err: (e as Error).message },
            'stale-share sweep: could not read the wallet at this node',
          );
        }
        if (behind) break;
      }
      if (!behind) continue;
      stale++;
      try {
        await this.refresh(walletId, 'sweep');
        refreshed++;
      } catch (e) {
        this.log.warn(
          { walletId, err: (e as Error).message },
          'stale-share sweep: wallet not refreshed yet (it is refreshed before it signs)',
        );
      }
    }
    if (stale > 0) this.log.info({ stale, refreshed, auxEpoch }, 'stale-share sweep done');
    return { stale, refreshed };
  }

  /** A rotation job is running (a reshare must wait). */
  get busy(): boolean {
    return this.rotating;
  }

  job(jobId: string): RotationJobView | undefined {
    return this.jobs.get(jobId)?.view;
  }

  private async rotate(job: Job, context: RequestContext): Promise<void> {
    const update = (patch: Partial<RotationJobView>): void => {
      job.view = { ...job.view, ...patch };
      this.o.onJobChange?.(job.view);
    };
    let auxId: string;
    try {
      auxId = await this.o.renewAux();
    } catch (e) {
      this.log.error(
        { jobId: job.view.jobId, err: (e as Error).message },
        'rotation: making new aux-info failed; nothing changed',
      );
      update({
        status: 'failed',
        phase: 'done',
        finishedAt: new Date().toISOString(),
        error:
          'the new aux-info could not be made (nodes missing or not ready, or the run failed); the group keeps its current keys',
      });
      await this.record({
        type: 'rotation.finished',
        jobId: job.view.jobId,
        status: 'failed',
        phase: 'aux',
        ...context,
      });
      return;
    }
    const ids = this.activeWalletIds();
    update({ phase: 'refresh', auxId, wallets: { total: ids.length, refreshed: 0, failed: 0 } });
    this.log.info(
      { jobId: job.view.jobId, auxId, wallets: ids.length },
      'rotation: new aux-info made; refreshing every wallet',
    );
    let refreshed = 0;
    let failed = 0;
    for (const walletId of ids) {
      if (this.stopped) break;
      try {
        if (this.freshUnder.get(walletId) !== auxId) await this.refresh(walletId, 'rotation', context);
        refreshed++;
      } catch (e) {
        failed++;
        this.log.warn(
          { jobId: job.view.jobId, walletId, err: (e as Error).message },
          'rotation: a wallet could not be refreshed (it is refreshed before it signs again)',
        );
      }
      update({ wallets: { total: ids.length, refreshed, failed } });
    }
    const ok = failed === 0 && refreshed === ids.length;
    update({
      status: ok ? 'succeeded' : 'failed',
      phase: 'done',
      finishedAt: new Date().toISOString(),
      ...(ok
        ? {}
        : {
            error: `${ids.length - refreshed} of ${ids.length} wallets were not refreshed; they are refreshed before they sign again, or by another rotation`,
          }),
    });
    await this.record({
      type: 'rotation.finished',
      jobId: job.view.jobId,
      status: job.view.status,
      auxId,
      refreshed,
      failed,
      ...context,
    });
  }

  private async refreshOnce(walletId: string, reason: RefreshReason, context: RequestContext): Promise<RefreshResult> {
    // archive state as of the bound, before any node is asked (StoreUnavailableError if it cannot be known)
    if (this.o.current) await this.o.current();
    const publicKey = this.o.publicKeyOf(walletId);
    if (publicKey === undefined) throw new WalletNotFoundError(walletId);
    if (this.o.isArchived?.(walletId) === true) throw new WalletArchivedError(walletId, 'it is not refreshed');
    const c = this.o.cluster;
    const readiness = c.keygenReadiness();
    if (!readiness.ready) throw new NodesUnavailableError(readiness.reason.replace('wallet creation', 'a refresh'));
    const auxId = c.auxId;
    let outcome: SessionOutcome<'refresh'>;
    try {
      outcome = await this.o.runner.run({
        protocol: 'refresh',
        parties: c.parties,
        participants: c.links,
        walletId,
        ...(this.o.refreshTimeoutMs === undefined ? {} : { timeoutMs: this.o.refreshTimeoutMs }),
      });
    } finally {
      // whatever the outcome: a refresh that committed at some nodes and then failed has burnt the
      // wallet's presignatures there, and the pool must not keep offering them
      this.o.discardPresignatures?.(walletId);
    }
    if (outcome.status === 'aborted') {
      const culprits = outcome.culprits.map((x) => x.nodeId ?? `index ${x.index}`);
      throw new RefreshFailedError(
        `refresh of ${walletId} aborted (${abortReason(outcome)}${culprits.length ? `; blamed: ${culprits.join(', ')}` : ''})`,
        502,
      );
    }
    if (outcome.status === 'failed')
      throw new RefreshFailedError(
        `refresh of ${walletId} failed (${outcome.failure}: ${outcome.nodes.join(', ') || 'no node'}; ${outcome.reason})`,
        503,
      );
    const { epoch } = outcome.result;
    if (outcome.result.publicKey !== publicKey) {
      // cannot happen with honest nodes (a refresh adds sharings of zero): every node agreed on it, so it is loud
      this.log.error(
        { walletId, registered: publicKey, reported: outcome.result.publicKey },
        'refresh reported another public key than the registered one',
      );
      throw new RefreshFailedError(`refresh of ${walletId} reported another public key`, 502);
    }
    if (auxId !== undefined) this.freshUnder.set(walletId, auxId);
    this.log.info({ walletId, epoch, reason }, 'wallet key shares refreshed');
    try {
      await this.o.audit?.append({
        type: 'wallet.refreshed',
        walletId,
        publicKey,
        epoch,
        reason,
        ...(auxId === undefined ? {} : { auxId }),
        ...context,
      });
    } catch (e) {
      this.log.error({ walletId, err: (e as Error).message }, 'audit log: wallet.refreshed not recorded');
      // the refresh is committed either way; an operator's request is told the record is missing
      if (reason === 'admin')
        throw new AuditUnavailableError('the refresh was committed but the audit log cannot be written');
    }
    return { walletId, publicKey, epoch };
  }

  private scheduleSweep(): void {
    if (this.stopped) return;
    if (this.sweeping) {
      this.sweepAgain = true;
      return;
    }
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.sweeping = this.sweep()
      .catch((e: unknown) => this.log.error({ err: (e as Error).message }, 'sweep failed'))
      .finally(() => {
        this.sweeping = undefined;
        if (this.sweepAgain) {
          this.sweepAgain = false;
          this.scheduleSweep();
        }
      });
  }

  /** Refresh every wallet not refreshed under the current aux-info; try the failures again later. */
  private async sweep(): Promise<void> {
    const auxId = this.o.cluster.auxId;
    let failed = 0;
    for (const walletId of this.activeWalletIds()) {
      if (this.stopped || this.o.cluster.auxId !== auxId) return; // moved again: the next sweep follows
      if (this.freshUnder.get(walletId) === auxId) continue;
      try {
        await this.refresh(walletId, 'sweep');
      } catch (e) {
        failed++;
        this.log.warn({ walletId, err: (e as Error).message }, 'sweep: wallet not refreshed yet');
      }
    }
    if (failed > 0 && !this.stopped) {
      const retryMs = this.o.retryMs ?? 60_000;
      this.log.warn(
        { failed, retryMs },
        'sweep: some wallets keep stale key shares (they cannot presign); trying again later',
      );
      this.retryTimer = setTimeout(() => this.scheduleSweep(), retryMs);
      this.retryTimer.unref();
    }
  }

  private async record(event: Parameters<AuditSink['append']>[0]): Promise<void> {
    try {
      await this.o.audit?.append(event);
    } catch (e) {
      this.log.error({ type: event.type, err: (e as Error).message }, 'audit log: event not recorded');
    }
  }

  private forgetOldJobs(): void {
    for (const [id, job] of this.jobs) {
      if (this.jobs.size <= MAX_JOBS) break;
      if (job.view.status !== 'running') this.jobs.delete(id);
    }
  }
}

/** Every wallet id of a paged listing (the registry's). */
export function allWalletIds(
  list: (options: { limit?: number; cursor?: string }) => {
    wallets: readonly { walletId: string }[];
    nextCursor: string | undefined;
  },
): string[] {
  const ids: string[] = [];
  let cursor: string | undefined;
  do {
    const page = list({ limit: 100, ...(cursor === undefined ? {} : { cursor }) });
    ids.push(...page.wallets.map((w) => w.walletId));
    cursor = page.nextCursor;
  } while (cursor !== undefined);
  return ids;
}
