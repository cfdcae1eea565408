/**
 * Keeps the node group usable: asks each node that connects for its `info`, and makes sure the
 * group has one aux-info (each node's Paillier and ring-Pedersen keys, shared by every wallet).
 * When every node is connected and none has any aux-info (group setup), it runs the aux protocol
 * with all of them — about half a minute of proofs, once per group — after the nodes have their
 * safe primes ready (they report how many; four are needed). Until then wallet creation waits;
 * signing only needs the signers to agree, so two connected nodes with the same aux id suffice.
 *
 * A disagreement about the committed aux-info (id and epoch) never starts a new run: a new
 * aux-info makes every wallet's shares stale, and their refresh needs every node, so one node
 * reporting a fake aux id could otherwise stop all signing. With t nodes agreeing the group signs
 * and the others are reported (`onAlert`) for an operator.
 *
 * A node that reports a pending state — the aux-info, or a wallet's key share (`pendingScopes`):
 * it stored the successor but missed the last confirmations (a restart, a dropped message, a
 * coordinator that stopped mid-run) — is resolved by resolver.ts: another node's evidence, every
 * party's confirmation gathered from the parties, or every other party's signed abandonment (a
 * node never replaces a pending state otherwise). Aux-info laggards are handled one at a time with
 * infos re-read before each, so one committed a moment ago serves the next; a party that abandons a
 * run whose signed confirmation was seen here is reported.
 *
 * A rotation (rotation.ts) asks for a new aux-info on purpose (`renewAux`): the same run, with
 * every node, while nothing else runs aux here.
 *
 * A node restored from a copy (`restored` in its info) is compared with its peers and told
 * `reconciled` where every epoch matches (restored.ts); one behind its peers is reported
 * (`onAlert`, kind `restored-behind`) and stays out of use.
 *
 * Each time the whole group is connected again (at start, after a node reconnects), `onComplete`
 * is called once: the wallet reconciliation (reconcile.ts) needs every node.
 * @module
 */
import type { KeyObject } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { RPC_VERSION, infoSchema, walletResponseSchema, type NodeInfo } from '../rpc/messages.js';
import { silentLogger, type Logger } from '../util/log.js';
import type { NodeCluster } from './cluster.js';
import { callNode, type NodeLink } from './node-link.js';
import type { SessionOutcome, SessionRunner } from './orchestrator.js';
import { ConfirmationLedger, PendingResolver } from './resolver.js';
import { reconcileRestored } from './restored.js';

const AUX_SCOPE = 'aux';

/** Safe primes a node needs for a new aux-info (two for Paillier, two for ring-Pedersen). */
export const PRIMES_FOR_AUX = 4;

/** A node's committed aux-info as compared across the group: its id and its epoch. */
function auxKey(i: NodeInfo | undefined): string | undefined {
  return i?.auxId === undefined ? undefined : `${i.auxId}@${i.auxEpoch ?? ''}`;
}

/** The committed aux-info (id and epoch) held by the most nodes, if at least `threshold` hold it. */
function majorityAux(infos: readonly NodeInfo[], threshold: number): { auxId: string; key: string } | undefined {
  const counts = new Map<string, { auxId: string; n: number }>();
  for (const i of infos) {
    const key = auxKey(i);
    if (key === undefined) continue;
    const entry = counts.get(key) ?? { auxId: i.auxId as string, n: 0 };
    entry.n++;
    counts.set(key, entry);
  }
  let best: [string, { auxId: string; n: number }] | undefined;
  for (const entry of counts) if (!best || entry[1].n > best[1].n) best = entry;
  return best && best[1].n >= threshold ? { auxId: best[1].auxId, key: best[0] } : undefined;
}

/** An operator matter found by the monitor (logged here; the caller audits and counts it). */
export interface GroupAlert {
  /** restored-behind: a node restored from a copy differs from its peers (`reported`: the scopes) */
  readonly kind: 'aux-disagreement' | 'restored-behind';
  readonly nodeId: string;
  /** what the node reports (aux id@epoch), if anything */
  readonly reported: string | undefined;
  /** what the group agrees on (aux id@epoch), if at least t nodes agree */
  readonly group?: string;
}

export interface GroupMonitorOptions {
  readonly cluster: NodeCluster;
  readonly runner: SessionRunner;
  readonly log?: Logger;
  /** how often to ask again while nodes prepare primes or an info request failed (default 5 s) */
  readonly pollMs?: number;
  /** wait after a failed aux session (default 30 s) */
  readonly retryMs?: number;
  readonly infoTimeoutMs?: number;
  /** progress lines while aux runs (default every 10 s) */
  readonly progressMs?: number;
  /** every node is connected and has answered `info` (called once until a node disconnects) */
  readonly onComplete?: () => void;
  /** every node's pinned identity key by index: lets a party that abandons a run it confirmed be proven so */
  readonly identities?: readonly KeyObject[];
  /** a verified offence found here (a node abandoned a run it confirmed) */
  readonly onMisbehaviour?: (offence: { nodeId: string; protocol: string; reason: string }) => void;
  /** a node disagrees with the group's committed aux-info (no re-run is made for it) */
  readonly onAlert?: (alert: GroupAlert) => void;
  /** confirmations the orchestrator relayed (Orchestrator's `confirmations`): evidence when the nodes lack it */
  readonly ledger?: ConfirmationLedger;
  /** a session of this scope (wallet id) is running here: its pending states are that session's to finish */
  readonly busy?: (scope: string) => boolean;
}

export class GroupMonitor {
  private readonly log: Logger;
  private auxRunning = false;
  /** pending runs (sid) already tried to finalize or discard, per node (so none is asked in a loop) */
  private readonly finalizeTried = new Map<number, string>();
  private readonly resolver: PendingResolver;
  /** a pass over pending wallet scopes is going */
  private walletsResolving = false;
  /** when the next pass over pending wallet scopes may start (monotonic ms) */
  private walletsAt = -Infinity;
  /** a restored node is being compared with its peers */
  private restoredChecking = false;
  /** when the next comparison of restored nodes may start (monotonic ms) */
  private restoredAt = -Infinity;
  /** restored nodes reported behind, with what was reported (reported again only when it changes) */
  private readonly restoredBehind = new Map<number, string>();
  /** nodes alerted for disagreeing with the group's aux-info (until they agree again) */
  private readonly dissenting = new Set<number>();
  /** when finalizing was last tried (monotonic ms) */
  private finalizeAt = -Infinity;
  private retryAt = 0;
  private pollTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private running: Promise<unknown> | undefined;
  /** onComplete was called since the last disconnection */
  private completeSeen = false;

  constructor(private readonly o: GroupMonitorOptions) {
    this.log = (o.log ?? silentLogger()).child({ component: 'group' });
    this.resolver = new PendingResolver({
      cluster: o.cluster,
      log: this.log,
      timeoutMs: o.infoTimeoutMs ?? 10_000,
      ledger: o.ledger ?? new ConfirmationLedger(),
      ...(o.identities ? { identities: o.identities } : {}),
      ...(o.onMisbehaviour ? { onMisbehaviour: o.onMisbehaviour } : {}),
    });
  }

  /** A node's connection came up: learn its state, then see what the group needs. */
  onConnected(index: number): void {
    this.o.cluster.setConnected(index, true);
    // what it holds may have changed while it was away: its pending runs are worth another attempt
    this.finalizeTried.delete(index);
    this.walletsAt = -Infinity;
    void this.refresh(index).then(() => this.evaluate());
  }

  onDisconnected(index: number): void {
    this.completeSeen = false;
    this.o.cluster.setConnected(index, false);
    this.evaluate();
  }

  /** Resolves when a running aux session (if any) has ended. */
  async idle(): Promise<void> {
    await this.running;
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.pollTimer);
  }

  private async refresh(index: number): Promise<NodeInfo | undefined> {
    const link = this.o.cluster.link(index) as NodeLink;
    try {
      const info = await callNode(link, { v: RPC_VERSION, method: 'info' }, infoSchema, this.o.infoTimeoutMs ?? 10_000);
      if (info.nodeId !== link.nodeId || info.index !== link.index) {
        this.log.error(
          { node: link.nodeId, reported: { nodeId: info.nodeId, index: info.index } },
          'node reports another identity or index than NODE_IDS gives it',
        );
        return undefined;
      }
      if (this.o.cluster.isConnected(index)) this.o.cluster.setInfo(index, info);
      return info;
    } catch (e) {
      this.log.warn({ node: link.nodeId, err: (e as Error).message }, 'info request failed');
      this.schedule();
      return undefined;
    }
  }

  private schedule(delayMs = this.o.pollMs ?? 5_000): void {
    if (this.stopped || this.pollTimer) return;
    this.pollTimer = setTimeout(() => {
      this.pollTimer = undefined;
      void this.pollAll();
    }, delayMs);
    this.pollTimer.unref();
  }

  private async pollAll(): Promise<void> {
    const c = this.o.cluster;
    await Promise.all(c.links.filter((l) => c.isConnected(l.index)).map((l) => this.refresh(l.index)));
    this.evaluate();
  }

  /**
   * Decide from the connected nodes' infos: finish half-done switches, agree on the aux-info, or
   * (only when no node has any: group setup) make one. A disagreement about the committed aux-info
   * is never settled by a new run: with t nodes agreeing the group signs, the others are reported.
   */
  evaluate(): void {
    if (this.stopped || this.auxRunning) return;
    const c = this.o.cluster;
    const live = c.links.filter((l) => c.isConnected(l.index));
    const infos = live.map((l) => c.info(l.index));
    if (infos.some((i) => i === undefined)) return; // a refresh is on its way
    const known = infos as NodeInfo[];
    if (live.length === c.total && !this.completeSeen) {
      this.completeSeen = true;
      this.o.onComplete?.();
    }
    const keys = new Set(known.map(auxKey));
    const agreed = keys.size === 1 ? known[0]?.auxId : undefined;
    // Enough nodes sharing one aux-info (id and epoch) can sign, whatever the others hold.
    const signing = majorityAux(known, c.threshold);
    if (live.length === c.total) {
      this.resolveWalletsSoon(known);
      this.reconcileRestoredSoon(live.filter((l) => c.info(l.index)?.restored));
      const laggards = live.filter((l) => {
        const sid = c.info(l.index)?.auxPendingSid;
        return sid !== undefined && this.finalizeTried.get(l.index) !== sid;
      });
      if (laggards.length > 0) {
        // a node reporting a new pending run at every poll must not keep the monitor busy: one
        // attempt per retry interval
        const wait = this.finalizeAt + (this.o.retryMs ?? 30_000) - performance.now();
        if (wait > 0) {
          this.setAux(agreed ?? signing?.auxId, 'finishing an aux-info switch (waiting to try again)');
          return this.schedule(wait);
        }
        this.finalizeAt = performance.now();
        this.setAux(agreed ?? signing?.auxId, 'finishing an aux-info switch');
        this.running = this.finalizeAux(laggards);
        return;
      }
      if (agreed !== undefined) {
        this.dissenting.clear();
        return this.setAux(agreed, 'ready');
      }
      if (known.every((i) => i.auxId === undefined)) return this.setup(known);
      // never a new run: a node behind with a pending state was finalized above; any other is an operator's matter
      const dissenters = live.filter((l) => signing === undefined || auxKey(c.info(l.index)) !== signing.key);
      this.alertDissent(dissenters, signing?.key);
      const names = dissenters.map((l) => l.nodeId).join(', ');
      this.setAux(
        signing?.auxId,
        signing
          ? `ready for signing; ${names} disagree with the group's aux-info (operator attention needed)`
          : `the nodes disagree on the aux-info (operator attention needed): ${names}`,
      );
      return this.schedule(); // keep watching: a node that comes back in line is seen
    }
    if (signing !== undefined) return this.setAux(signing.auxId, `ready for signing (${live.length}/${c.total} nodes)`);
    this.setAux(undefined, `waiting for nodes (${live.length}/${c.total} connected)`);
  }

  /** No node has any aux-info: make the group's first, once every node has its safe primes. */
  private setup(known: readonly NodeInfo[]): void {
    const short = known.filter((i) => i.primesReady < PRIMES_FOR_AUX);
    if (short.length > 0) {
      this.setAux(
        undefined,
        `waiting for safe primes before making aux-info (${short.map((i) => `${i.nodeId} ${i.primesReady}/${PRIMES_FOR_AUX}`).join(', ')})`,
      );
      return this.schedule();
    }
    const wait = this.retryAt - Date.now();
    if (wait > 0) {
      this.setAux(undefined, 'making aux-info failed; retrying soon');
      return this.schedule(wait);
    }
    this.setAux(undefined, 'making aux-info (about half a minute)');
    this.running = this.runAux();
  }

  /** Start a pass over the wallet scopes the nodes report pending (at most one per retry interval). */
  private resolveWalletsSoon(known: readonly NodeInfo[]): void {
    const scopes = [...new Set(known.flatMap((i) => i.pendingScopes ?? []))].filter((s) => !this.o.busy?.(s)).sort();
    if (scopes.length === 0 || this.walletsResolving) return;
    const wait = this.walletsAt - performance.now();
    if (wait > 0) return this.schedule(wait);
    this.walletsAt = performance.now() + (this.o.retryMs ?? 30_000);
    this.walletsResolving = true;
    void this.resolveWallets(scopes);
  }

  /**
   * Compare each restored node with its peers (restored.ts), at most once per retry interval: a
   * node found in line is told `reconciled`; one behind is reported once per finding.
   */
  private reconcileRestoredSoon(restored: readonly NodeLink[]): void {
    for (const k of [...this.restoredBehind.keys()])
      if (!restored.some((l) => l.index === k)) this.restoredBehind.delete(k);
    if (restored.length === 0 || this.restoredChecking) return;
    const wait = this.restoredAt - performance.now();
    if (wait > 0) return this.schedule(wait);
    this.restoredAt = performance.now() + (this.o.retryMs ?? 30_000);
    this.restoredChecking = true;
    void this.reconcileRestored(restored);
  }

  private async reconcileRestored(restored: readonly NodeLink[]): Promise<void> {
    try {
      for (const link of restored) {
        if (this.stopped) break;
        try {
          const r = await reconcileRestored(this.o.cluster, link, this.o.infoTimeoutMs ?? 10_000);
          if (r.outcome === 'reconciled') {
            this.restoredBehind.delete(link.index);
            this.log.warn(
              { node: link.nodeId, wallets: r.wallets },
              'a node restored from a copy matches its peers: reconciled, back in use',
            );
          } else if (r.outcome === 'waiting') {
            this.log.info(
              { node: link.nodeId, reason: r.reason },
              'a node restored from a copy waits for reconciliation',
            );
          } else {
            const reported = r.scopes.length > 16 ? `${r.scopes.slice(0, 16).join(', ')} …` : r.scopes.join(', ');
            if (this.restoredBehind.get(link.index) === reported) continue;
            this.restoredBehind.set(link.index, reported);
            this.log.error(
              { node: link.nodeId, scopes: r.scopes.length, behind: reported },
              'a node restored from a copy differs from its peers: kept out of use; its share must be re-made (resharing), never used as it is',
            );
            this.o.onAlert?.({ kind: 'restored-behind', nodeId: link.nodeId, reported });
          }
        } catch (e) {
          this.log.warn(
            { node: link.nodeId, err: (e as Error).message },
            'could not compare a restored node with its peers',
          );
        }
      }
    } finally {
      this.restoredChecking = false;
    }
    await this.refreshConnected();
    this.evaluate();
  }

  private setAux(auxId: string | undefined, status: string): void {
    const c = this.o.cluster;
    if (c.auxId !== auxId) this.log.info({ auxId, status }, auxId ? 'node group ready' : 'node group not ready');
    c.setAux(auxId, status);
  }

  /**
   * Resolve nodes holding a pending aux-info (resolver.ts: another node's evidence, every party's
   * confirmation gathered from the parties, or every other party's abandonment), then look again.
   * Infos are re-read before each laggard, so a node that committed earlier in this pass serves the
   * next one (a party that hands its evidence to one node only cannot leave the others pending).
   */
  private async finalizeAux(laggards: readonly NodeLink[]): Promise<void> {
    const c = this.o.cluster;
    this.auxRunning = true;
    try {
      for (const [k, link] of laggards.entries()) {
        if (k > 0) await this.refreshConnected();
        const sid = c.info(link.index)?.auxPendingSid;
        if (sid === undefined || !c.isConnected(link.index)) continue; // committed meanwhile, or gone
        this.finalizeTried.set(link.index, sid);
        await this.resolver.resolve(AUX_SCOPE, link, sid);
      }
    } finally {
      this.auxRunning = false;
    }
    await this.refreshConnected();
    this.evaluate();
  }

  /**
   * Resolve the wallet scopes nodes report pending (a refresh or keygen whose last message never
   * arrived, or whose coordinator stopped): each node's pending run is read afresh (`wallet`), and
   * a scope with a session running here is left to that session.
   */
  private async resolveWallets(scopes: readonly string[]): Promise<void> {
    try {
      for (const scope of scopes) await this.resolveWallet(scope);
    } finally {
      this.walletsResolving = false;
    }
    await this.refreshConnected();
    this.evaluate();
  }

  /**
   * Resolve one wallet scope now: each connected node's pending run of it is read afresh
   * (`wallet`) and finished or dropped (resolver.ts). Also for a job whose run of the wallet was
   * refused as `pending-unresolved` (a run this coordinator left half-done moments ago).
   */
  async resolveWallet(scope: string): Promise<void> {
    const c = this.o.cluster;
    for (const link of c.links.filter((l) => c.isConnected(l.index))) {
      if (this.stopped || this.o.busy?.(scope)) return;
      let sid: string | undefined;
      try {
        sid = (
          await callNode(
            link,
            { v: RPC_VERSION, method: 'wallet', walletId: scope },
            walletResponseSchema,
            this.o.infoTimeoutMs ?? 10_000,
          )
        ).pending?.sid;
      } catch (err) {
        this.log.warn(
          { scope, node: link.nodeId, err: (err as Error).message },
          'could not read a wallet scope’s pending state',
        );
      }
      if (sid !== undefined) await this.resolver.resolve(scope, link, sid);
    }
  }

  private async refreshConnected(): Promise<void> {
    const c = this.o.cluster;
    await Promise.all(c.links.filter((l) => c.isConnected(l.index)).map((l) => this.refresh(l.index)));
  }

  /**
   * Nodes whose committed aux-info differs from what at least t nodes agree on (or, with no such
   * majority, every node), and hold no pending aux-info that would explain it: never a reason to
   * re-run aux-info (one lying node would make every wallet stale, and their refresh needs it), but
   * an operator's matter. Reported once per node until it agrees again.
   */
  private alertDissent(dissenters: readonly NodeLink[], group: string | undefined): void {
    const c = this.o.cluster;
    for (const k of [...this.dissenting]) if (!dissenters.some((l) => l.index === k)) this.dissenting.delete(k);
    for (const link of dissenters) {
      if (this.dissenting.has(link.index)) continue;
      this.dissenting.add(link.index);
      const info = c.info(link.index);
      const alert = { nodeId: link.nodeId, reported: auxKey(info), ...(group === undefined ? {} : { group }) };
      this.log.error(
        alert,
        'a node reports another committed aux-info than the group and holds no pending one: not re-running aux-info (operator attention needed)',
      );
      this.o.onAlert?.({ kind: 'aux-disagreement', ...alert });
    }
  }

  /**
   * Make a new aux-info now (new Paillier and ring-Pedersen keys, a new aux epoch) with every node,
   * for a rotation. Resolves with the new aux id once the nodes report it; throws if the group is
   * not ready for it (a node missing or short of primes, an aux run already going) or the run failed.
   *
   * `groupChange`: the configured group differs from the one that made the current aux-info (a node
   * replaced or added, started by an operator's reshare): nodes without aux-info, or with the old
   * group's, take part alike, and every node commits the group's next epoch (the highest any node
   * holds, plus one), so the aux epochs stay equal across the group.
   */
  async renewAux(options: { readonly groupChange?: boolean } = {}): Promise<string> {
    const c = this.o.cluster;
    if (this.stopped) throw new Error('the group monitor is stopped');
    if (this.auxRunning) throw new AuxUnavailableError('an aux-info run is already going');
    const readiness = options.groupChange ? c.membersReadiness('a group change') : c.keygenReadiness();
    if (!readiness.ready) throw new AuxUnavailableError(readiness.reason);
    // a group change is decided on what every node says now, not on the last poll
    if (options.groupChange) await this.refreshConnected();
    const infos = c.links.map((l) => c.info(l.index));
    if (infos.some((i) => i === undefined || i.auxPendingSid !== undefined))
      throw new AuxUnavailableError('a node holds a pending aux-info (or reported nothing): resolve it first');
    // a rotation: every node on the same committed aux-info (id and epoch); it never settles a disagreement
    if (!options.groupChange && (new Set(infos.map(auxKey)).size !== 1 || infos.some((i) => i?.auxId === undefined)))
      throw new AuxUnavailableError('every node must hold the same committed aux-info, and none a pending one');
    const short = infos.filter((i) => i === undefined || i.primesReady < PRIMES_FOR_AUX);
    if (short.length > 0)
      throw new AuxUnavailableError(
        `nodes not ready with safe primes: ${short.map((i) => i?.nodeId ?? 'unknown').join(', ')}`,
      );
    const epoch = options.groupChange ? Math.max(0, ...infos.map((i) => i?.auxEpoch ?? 0)) + 1 : undefined;
    const run = this.runAux(epoch);
    this.running = run;
    const outcome = await run;
    if (outcome?.status !== 'done')
      throw new AuxUnavailableError(
        outcome === undefined
          ? 'the aux-info run failed'
          : outcome.status === 'aborted'
            ? 'the aux-info run was aborted (see the log)'
            : `the aux-info run failed (${outcome.failure})`,
      );
    if (c.auxId !== outcome.result.auxId)
      throw new AuxUnavailableError('the nodes do not all report the new aux-info yet');
    return outcome.result.auxId;
  }

  private async runAux(epoch?: number): Promise<SessionOutcome<'aux'> | undefined> {
    const c = this.o.cluster;
    let result: SessionOutcome<'aux'> | undefined;
    // Nodes that agreed on the old aux-info keep signing meanwhile (evaluate left it in place).
    this.auxRunning = true;
    const started = Date.now();
    this.log.info(
      'making the node group’s aux-info with all nodes (Paillier and ring-Pedersen keys with their proofs; about half a minute of compute)',
    );
    const progress = setInterval(
      () => this.log.info({ elapsedS: Math.round((Date.now() - started) / 1000) }, 'aux-info still running'),
      this.o.progressMs ?? 10_000,
    );
    progress.unref();
    try {
      const outcome = await this.o.runner.run({
        protocol: 'aux',
        parties: c.parties,
        participants: c.links,
        ...(epoch === undefined ? {} : { auxEpoch: epoch }),
      });
      result = outcome;
      if (outcome.status === 'done') {
        this.log.info({ auxId: outcome.result.auxId, durationMs: outcome.durationMs }, 'aux-info made');
      } else {
        const why =
          outcome.status === 'aborted'
            ? { culprits: outcome.culprits, code: outcome.code, reason: outcome.reason }
            : { failure: outcome.failure, nodes: outcome.nodes, reason: outcome.reason };
        if (outcome.status === 'failed' && outcome.failure === 'draining')
          for (const id of outcome.nodes) c.markDraining(c.parties.indexOf(id));
        this.log.error(why, 'making aux-info failed; will retry');
        this.retryAt = Date.now() + (this.o.retryMs ?? 30_000);
      }
    } catch (e) {
      this.log.error({ err: (e as Error).message }, 'making aux-info failed (bug); will retry');
      this.retryAt = Date.now() + (this.o.retryMs ?? 30_000);
    } finally {
      clearInterval(progress);
      this.auxRunning = false;
    }
    // Learn the new state from the nodes themselves rather than from the session's result.
    await Promise.all(c.links.filter((l) => c.isConnected(l.index)).map((l) => this.refresh(l.index)));
    this.evaluate();
    return result;
  }
}

/** A new aux-info cannot be made now (nodes missing, primes not ready, a run going) or its run failed. */
export class AuxUnavailableError extends Error {
  override readonly name = 'AuxUnavailableError';
}
