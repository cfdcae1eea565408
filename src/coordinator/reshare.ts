/**
 * Moving every wallet to the configured node group (docs/security.md A19): after an operator
 * replaced a node or grew the group (NODE_IDS, MPC_THRESHOLD, MPC_TOTAL_SHARDS changed on every
 * machine), `POST /v1/admin/reshare` starts a job that
 * 1. makes the group's aux-info if the nodes do not all hold the same one (a newcomer has none;
 *    every node commits the group's next aux epoch, GroupMonitor.renewAux with `groupChange`);
 * 2. for each registered, unarchived wallet, asks every node what it holds of it and, unless every
 *    node already holds the key as the configured group (index, n, t and the same public shares),
 *    runs a `reshare` session: the holders of the newest epoch deal (t or more of them), every node
 *    of the group receives, and the new epoch is committed on every node's confirmation. The public
 *    key never changes; the nodes themselves check the setup against what they hold.
 * Nothing here decides to move a wallet on its own: only the operator's job does. The job is
 * idempotent — a wallet the group already holds is skipped — so a job interrupted by a crash is
 * resumed by starting another: a wallet some node holds a run of pending is decided on only once
 * that run is resolved (committed or dropped), so a move the crash interrupted is not made twice.
 * Jobs live in memory (the nodes' epochs do not).
 * @module
 */
import { silentLogger, type Logger } from '../util/log.js';
import type { NodeCluster } from './cluster.js';
import { NodesUnavailableError, RotationRunningError } from './errors.js';
import { callNode, type NodeLink } from './node-link.js';
import { abortReason, type SessionRunner } from './orchestrator.js';
import { RPC_VERSION, walletResponseSchema, type ReshareSetup } from '../rpc/messages.js';
import type { AuditSink, RequestContext } from './wallets.js';
import { newJobId } from './rotation.js';

export interface ReshareJobView {
  readonly jobId: string;
  readonly kind: 'reshare';
  readonly status: 'running' | 'succeeded' | 'failed';
  /** aux: making the group's aux-info; reshare: moving the wallets; done */
  readonly phase: 'aux' | 'reshare' | 'done';
  readonly createdAt: string;
  readonly finishedAt?: string;
  /** the configured node group, in index order */
  readonly group: readonly string[];
  /** the group's aux-info id, once agreed */
  readonly auxId?: string;
  /** current: already held by the group (skipped) */
  readonly wallets: {
    readonly total: number;
    readonly reshared: number;
    readonly current: number;
    readonly failed: number;
  };
  /** why the job failed (our own sentence: never a node's text) */
  readonly error?: string;
}

export interface GroupReshareOptions {
  readonly cluster: NodeCluster;
  readonly runner: SessionRunner;
  /** every registered wallet's id */
  readonly walletIds: () => readonly string[];
  /** a registered wallet's public key (33-byte compressed hex) */
  readonly publicKeyOf: (walletId: string) => string | undefined;
  /** archived wallets are not moved (they are when restored and the job runs again) */
  readonly isArchived?: (walletId: string) => boolean;
  /**
   * brings the registry's copy up to date when it is older than the bound a decision on archive
   * state may rely on (WalletStore.ensureCurrent); rejects (503) if it cannot be
   */
  readonly current?: () => Promise<void>;
  /** makes the group's aux-info (GroupMonitor.renewAux) */
  readonly renewAux: (options: { readonly groupChange: boolean }) => Promise<string>;
  /** finish or drop a wallet's half-done runs now (GroupMonitor.resolveWallet) */
  readonly resolvePending?: (walletId: string) => Promise<void>;
  /** told of every change of a job's view, in order (several coordinators: store/jobs-pg.ts shares it) */
  readonly onJobChange?: (view: ReshareJobView) => void;
  /** another job that must not run alongside (a rotation) */
  readonly otherJobRunning?: () => boolean;
  /** drops presignatures the nodes burnt at a commit (PresignPool.discard) */
  readonly discardPresignatures?: (walletId?: string) => void;
  readonly audit?: AuditSink;
  readonly log?: Logger;
  /** request context used when a request carries none (the configured admin credential's id) */
  readonly defaultContext?: RequestContext;
  /** how often a wallet's run is tried when a node is busy with another run of it (default 5) */
  readonly attempts?: number;
}

/** Jobs remembered (finished ones are forgotten oldest first beyond this). */
const MAX_JOBS = 100;

/** Wallets read at once by a survey (each read is one small request to every connected node). */
const SURVEY_CONCURRENCY = 4;

/** What one node holds of a wallet, as far as a plan needs it. */
interface Held {
  readonly index: number;
  readonly epoch: number;
  readonly n: number;
  readonly t: number;
  readonly i: number;
  readonly X: readonly string[];
}

/** The wallet is held by the configured group already, or the setup of the run that moves it there. */
export type ReshareDecision =
  | { readonly kind: 'current' }
  | { readonly kind: 'reshare'; readonly setup: ReshareSetup }
  | { readonly kind: 'impossible'; readonly reason: string };

/**
 * Decide from what each node of a group of n (threshold t) holds of a wallet: nothing to do when
 * every node holds it at its own index as a t-of-n key with one set of public shares and one epoch;
 * otherwise the holders of the newest epoch that agree on its public shares deal, if there are at
 * least the old threshold of them. Pure.
 */
export function decideReshare(
  held: readonly (Held | undefined)[],
  n: number,
  t: number,
  publicKey: string,
): ReshareDecision {
  const holders = held.filter((h): h is Held => h !== undefined);
  const same = (a: Held, b: Held) => a.epoch === b.epoch && a.n === b.n && a.t === b.t && a.X.join() === b.X.join();
  const first = holders[0];
  if (
    first &&
    holders.length === n &&
    holders.every((h) => h.index === h.i && h.n === n && h.t === t && same(h, first))
  )
    return { kind: 'current' };
  const newest = Math.max(-1, ...holders.map((h) => h.epoch));
  const top = holders.filter((h) => h.epoch === newest);
  // the newest epoch's key as most of its holders state it; each dealer must state that one
  const key = top.find((h) => top.filter((o) => same(o, h)).length >= h.t);
  if (!key) return { kind: 'impossible', reason: 'fewer than t nodes hold the newest epoch of the key alike' };
  const dealers = top
    .filter((h) => same(h, key))
    .sort((a, b) => a.index - b.index)
    // two nodes stating one old index (a copy of another's data) cannot both deal
    .filter((h, k, all) => all.findIndex((o) => o.i === h.i) === k);
  if (dealers.length < key.t) return { kind: 'impossible', reason: 'fewer than t distinct old holders' };
  return {
    kind: 'reshare',
    setup: {
      dealers: dealers.map((h) => h.index),
      oldIndices: dealers.map((h) => h.i),
      old: { n: key.n, t: key.t, publicKey, X: [...key.X] },
      epoch: newest + 1,
    },
  };
}

interface Job {
  view: ReshareJobView;
}

/** What the last survey found: registered wallets the configured group does not hold as configured. */
export interface ReshareSurvey {
  /** wallets some connected node holds otherwise than the configured group would (or not at all) */
  readonly needed: number;
  /** wallets whose holdings were read at every connected node */
  readonly checked: number;
  /** wallets some connected node did not describe (it failed or timed out): not known to be held */
  readonly unchecked: number;
  readonly at: string;
}

/**
 * Whether what the connected nodes hold of a wallet (`undefined`: nothing of this key; absent
 * from `held`: not connected, unknown) differs from the configured group of n with threshold t:
 * a node holding nothing, another index, another n or t, or holders on different epochs or public
 * shares. Pure; nodes not connected are not guessed at.
 */
export function differsFromGroup(held: ReadonlyMap<number, Held | undefined>, n: number, t: number): boolean {
  const holders = [...held.values()];
  const first = holders[0];
  return holders.some(
    (h) =>
      h === undefined ||
      first === undefined ||
      h.index !== h.i ||
      h.n !== n ||
      h.t !== t ||
      h.epoch !== first.epoch ||
      h.X.join() !== first.X.join(),
  );
}

export class GroupReshare {
  private readonly log: Logger;
  private readonly jobs = new Map<string, Job>();
  private running = false;
  private stopped = false;
  private lastSurvey: ReshareSurvey | undefined;
  private surveying: Promise<void> | undefined;
  private surveyAgain = false;

  constructor(private readonly o: GroupReshareOptions) {
    this.log = o.log ?? silentLogger();
  }

  /** The last survey's finding (undefined before the first one finished). */
  get surveyed(): ReshareSurvey | undefined {
    return this.lastSurvey;
  }

  /**
   * Read what the connected nodes hold of every unarchived wallet and remember how many the
   * configured group does not hold as configured (GET /health reports it; nothing is moved: only
   * the operator's job does that). A survey asked for while one runs runs once more after it.
   */
  survey(): Promise<void> {
    if (this.surveying) {
      this.surveyAgain = true;
      return this.surveying;
    }
    const run = async (): Promise<void> => {
      do {
        this.surveyAgain = false;
        await this.surveyOnce();
      } while (this.surveyAgain && !this.stopped);
    };
    this.surveying = run()
      .catch((e: unknown) => this.log.error({ err: (e as Error).message }, 'reshare survey failed'))
      .finally(() => {
        this.surveying = undefined;
      });
    return this.surveying;
  }

  private async surveyOnce(): Promise<void> {
    const c = this.o.cluster;
    const links = c.links.filter((l) => c.isConnected(l.index));
    if (links.length === 0) return;
    const ids = this.o.walletIds().filter((id) => this.o.isArchived?.(id) !== true);
    let needed = 0;
    let checked = 0;
    let unchecked = 0;
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < ids.length && !this.stopped) {
        const walletId = ids[next++] as string;
        // what the nodes that answered hold: a node that does not answer must not hide a difference
        const held = (await this.readHeld(walletId, links, true))?.held;
        if (held === undefined) continue;
        if (held.size < links.length) unchecked++;
        else checked++;
        if (differsFromGroup(held, c.links.length, c.threshold)) needed++;
      }
    };
    await Promise.all(Array.from({ length: SURVEY_CONCURRENCY }, worker));
    const previous = this.lastSurvey;
    this.lastSurvey = { needed, checked, unchecked, at: new Date().toISOString() };
    if (needed > 0 && needed !== previous?.needed)
      this.log.warn(
        { wallets: needed, checked, group: c.parties },
        'the configured node group does not hold every wallet: run the reshare job (npm run reshare) once the group is complete',
      );
    if (unchecked > 0 && unchecked !== previous?.unchecked)
      this.log.warn(
        { wallets: unchecked },
        'some node did not describe these wallets: whether the group holds them is unknown',
      );
  }

  /**
   * What each of `links` holds of a wallet, keyed by node index. A node that does not answer makes
   * the whole answer undefined, unless `partial`: then it is left out of the map.
   */
  private async readHeld(
    walletId: string,
    links: readonly NodeLink[],
    partial = false,
  ): Promise<{ held: Map<number, Held | undefined>; pending: boolean } | undefined> {
    const publicKey = this.o.publicKeyOf(walletId);
    if (publicKey === undefined) return undefined;
    let pending = false;
    const answers = await Promise.allSettled(
      links.map(async (link): Promise<[number, Held | undefined]> => {
        const w = await callNode(link, { v: RPC_VERSION, method: 'wallet', walletId }, walletResponseSchema, 10_000);
        if (w.pending) pending = true;
        const k = w.committed;
        // a share of another key under this id is not this wallet's: that node holds nothing of it
        if (!k?.key || k.publicKey !== publicKey) return [link.index, undefined];
        return [link.index, { index: link.index, epoch: k.epoch, ...k.key }];
      }),
    );
    const held = new Map<number, Held | undefined>();
    for (const a of answers) {
      if (a.status === 'fulfilled') held.set(a.value[0], a.value[1]);
      else
        this.log.debug({ walletId, err: (a.reason as Error).message }, 'reshare: a node did not answer about a wallet');
    }
    return held.size === links.length || (partial && held.size > 0) ? { held, pending } : undefined;
  }

  /** A reshare job is running (a rotation must wait). */
  get busy(): boolean {
    return this.running;
  }

  stop(): void {
    this.stopped = true;
  }

  job(jobId: string): ReshareJobView | undefined {
    return this.jobs.get(jobId)?.view;
  }

  /**
   * Start moving every wallet to the configured group.
   * @throws RotationRunningError while a rotation or another reshare runs, NodesUnavailableError
   *   unless every node is connected and usable
   */
  start(context?: RequestContext, id?: string): ReshareJobView {
    if (this.running || this.o.otherJobRunning?.()) throw new RotationRunningError('a rotation or reshare is running');
    const readiness = this.o.cluster.membersReadiness('a reshare');
    if (!readiness.ready) throw new NodesUnavailableError(readiness.reason);
    this.running = true;
    const jobId = id ?? newJobId();
    const job: Job = {
      view: {
        jobId,
        kind: 'reshare',
        status: 'running',
        phase: 'aux',
        createdAt: new Date().toISOString(),
        group: [...this.o.cluster.parties],
        wallets: { total: 0, reshared: 0, current: 0, failed: 0 },
      },
    };
    this.jobs.set(jobId, job);
    for (const [id, j] of this.jobs) {
      if (this.jobs.size <= MAX_JOBS) break;
      if (j.view.status !== 'running') this.jobs.delete(id);
    }
    const ctx = { ...this.o.defaultContext, ...context };
    void this.record({ type: 'reshare.started', jobId, group: job.view.group.join(','), ...ctx });
    void this.run(job, ctx).finally(() => {
      this.running = false;
      void this.survey();
    });
    return job.view;
  }

  private async run(job: Job, context: RequestContext): Promise<void> {
    const update = (patch: Partial<ReshareJobView>): void => {
      job.view = { ...job.view, ...patch };
      this.o.onJobChange?.(job.view);
    };
    const finish = async (status: 'succeeded' | 'failed', error?: string) => {
      update({ status, phase: 'done', finishedAt: new Date().toISOString(), ...(error ? { error } : {}) });
      await this.record({ type: 'reshare.finished', jobId: job.view.jobId, status, ...job.view.wallets, ...context });
    };
    const c = this.o.cluster;
    const infos = c.links.map((l) => c.info(l.index));
    const agreed = infos.every((i) => i?.auxId !== undefined && i.auxId === infos[0]?.auxId);
    let auxId = infos[0]?.auxId;
    if (!agreed) {
      try {
        auxId = await this.o.renewAux({ groupChange: true });
        // every stored presignature was made under the old aux-info: the nodes burnt them
        this.o.discardPresignatures?.();
      } catch (e) {
        this.log.error({ jobId: job.view.jobId, err: (e as Error).message }, 'reshare: the group’s aux-info failed');
        return finish(
          'failed',
          'the group’s aux-info could not be made (nodes missing or not ready, or the run failed)',
        );
      }
    }
    const ids = this.o.walletIds().filter((id) => this.o.isArchived?.(id) !== true);
    update({
      phase: 'reshare',
      ...(auxId === undefined ? {} : { auxId }),
      wallets: { ...job.view.wallets, total: ids.length },
    });
    for (const walletId of ids) {
      if (this.stopped) return finish('failed', 'the coordinator stopped; start the job again to resume');
      const outcome = await this.moveWallet(walletId, context);
      const w = job.view.wallets;
      // archived (at any coordinator) since the job listed it: not moved, and no longer counted
      if (outcome === 'archived') update({ wallets: { ...w, total: w.total - 1 } });
      else update({ wallets: { ...w, [outcome]: w[outcome] + 1 } });
    }
    const { failed } = job.view.wallets;
    return failed === 0
      ? finish('succeeded')
      : finish('failed', `${failed} wallet(s) could not be moved (see the log); start the job again to retry them`);
  }

  /** Move one wallet if the group does not hold it yet. */
  private async moveWallet(
    walletId: string,
    context: RequestContext,
  ): Promise<'reshared' | 'current' | 'failed' | 'archived'> {
    const c = this.o.cluster;
    // archive state as of the bound, before any node is asked
    try {
      if (this.o.current) await this.o.current();
    } catch (e) {
      this.log.warn({ walletId, err: (e as Error).message }, 'reshare: the wallet registry cannot be read now');
      return 'failed';
    }
    if (this.o.isArchived?.(walletId) === true) return 'archived';
    const publicKey = this.o.publicKeyOf(walletId);
    if (publicKey === undefined) return 'failed';
    const attempts = this.o.attempts ?? 5;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      let read = await this.readHeld(walletId, c.links);
      // A node holding a run's successor pending (an interrupted move, which the group monitor may
      // be committing node by node right now) makes this read a moment of a state still changing:
      // deciding on it could start a second move of a wallet the interrupted one gives the group
      // (a node committing between this read and the run's prepare lets that run through), a
      // wasted run and a needless epoch. So the pending runs are resolved first, and a decision is
      // made only on a read with none: a node commits nothing but a pending state, so what that
      // read shows stays until a run starts.
      if (read?.pending) {
        await this.o.resolvePending?.(walletId);
        read = await this.readHeld(walletId, c.links);
      }
      if (read === undefined) {
        this.log.warn({ walletId }, 'reshare: could not read the wallet at every node');
        return 'failed';
      }
      if (read.pending) {
        // not resolvable now (some party confirmed the run and another never staged it: the
        // operator drops it), or still being resolved: a node holding it refuses a new run anyway
        this.log.warn({ walletId }, 'reshare: a run of this wallet awaits its commit or an abandonment');
        await new Promise((r) => setTimeout(r, 200 * attempt));
        continue;
      }
      const { held: heldAt } = read;
      const held = c.links.map((l) => heldAt.get(l.index));
      const decision = decideReshare(held, c.links.length, c.threshold, publicKey);
      if (decision.kind === 'current') return 'current';
      if (decision.kind === 'impossible') {
        this.log.error({ walletId, reason: decision.reason }, 'reshare: this wallet cannot be moved');
        return 'failed';
      }
      const outcome = await this.o.runner.run({
        protocol: 'reshare',
        parties: c.parties,
        participants: c.links,
        walletId,
        reshare: decision.setup,
      });
      if (outcome.status === 'done') {
        this.o.discardPresignatures?.(walletId);
        await this.record({
          type: 'wallet.reshared',
          walletId,
          epoch: outcome.result.epoch,
          dealers: decision.setup.dealers.map((k) => c.parties[k]).join(','),
          ...context,
        });
        this.log.info({ walletId, epoch: outcome.result.epoch }, 'wallet reshared to the configured group');
        return 'reshared';
      }
      const busy = outcome.status === 'failed' && (outcome.code === 'busy' || outcome.code === 'pending-unresolved');
      this.log.warn(
        {
          walletId,
          status: outcome.status,
          reason: outcome.status === 'aborted' ? abortReason(outcome) : outcome.reason,
        },
        'reshare: the run did not finish',
      );
      if (!busy) return 'failed';
      // a run left half-done (by this job's previous attempt, or a coordinator that stopped) is
      // committed or dropped on the parties' signed evidence before the next attempt
      if (outcome.status === 'failed' && outcome.code === 'pending-unresolved') await this.o.resolvePending?.(walletId);
      await new Promise((r) => setTimeout(r, 200 * attempt));
    }
    return 'failed';
  }

  private async record(event: { type: string } & Record<string, string | number | undefined>): Promise<void> {
    try {
      await this.o.audit?.append(event);
    } catch (e) {
      this.log.error({ err: (e as Error).message, type: event.type }, 'audit record not written');
    }
  }
}
