/**
 * Keeps the node group usable: asks each node that connects for its `info`, and makes sure the
 * group has one aux-info (each node's Paillier and ring-Pedersen keys, shared by every wallet).
 * When every node is connected and their aux ids are missing or differ, it runs the aux protocol
 * with all of them — about half a minute of proofs, once per group — after the nodes have their
 * safe primes ready (they report how many; four are needed). Until then wallet creation waits;
 * signing only needs the signers to agree, so two connected nodes with the same aux id suffice,
 * also while a new aux-info is being made.
 *
 * A node that reports a pending aux-info (it stored the successor but missed the last
 * confirmations: a restart, a dropped message) is finalized first with the evidence another node
 * committed on. If no node committed it, some party never confirmed that run: its signed
 * abandonment lets the pending node drop it (a node never replaces a pending state otherwise), and
 * only then is a new aux-info made.
 *
 * A rotation (rotation.ts) asks for a new aux-info on purpose (`renewAux`): the same run, with
 * every node, while nothing else runs aux here.
 *
 * Each time the whole group is connected again (at start, after a node reconnects), `onComplete`
 * is called once: the wallet reconciliation (reconcile.ts) needs every node.
 * @module
 */
import { performance } from 'node:perf_hooks';
import { RPC_VERSION, abandonResponseSchema, discardResponseSchema, evidenceResponseSchema, finalizeResponseSchema, infoSchema, type NodeInfo } from '../rpc/messages.js';
import { silentLogger, type Logger } from '../util/log.js';
import type { NodeCluster } from './cluster.js';
import { callNode, type NodeLink } from './node-link.js';
import type { SessionOutcome, SessionRunner } from './orchestrator.js';

/** Safe primes a node needs for a new aux-info (two for Paillier, two for ring-Pedersen). */
export const PRIMES_FOR_AUX = 4;

/** The aux id held by the most nodes, if at least `threshold` hold it. */
function majorityAux(infos: readonly NodeInfo[], threshold: number): string | undefined {
  const counts = new Map<string, number>();
  for (const i of infos) if (i.auxId !== undefined) counts.set(i.auxId, (counts.get(i.auxId) ?? 0) + 1);
  let best: [string, number] | undefined;
  for (const entry of counts) if (!best || entry[1] > best[1]) best = entry;
  return best && best[1] >= threshold ? best[0] : undefined;
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
}

export class GroupMonitor {
  private readonly log: Logger;
  private auxRunning = false;
  /** pending runs (sid) already tried to finalize or discard, per node (so none is asked in a loop) */
  private readonly finalizeTried = new Map<number, string>();
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
  }

  /** A node's connection came up: learn its state, then see what the group needs. */
  onConnected(index: number): void {
    this.o.cluster.setConnected(index, true);
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
        this.log.error({ node: link.nodeId, reported: { nodeId: info.nodeId, index: info.index } }, 'node reports another identity or index than NODE_IDS gives it');
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

  /** Decide from the connected nodes' infos: agreed aux, wait, or make a new one. */
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
    const ids = new Set(known.map((i) => i.auxId));
    const agreed = ids.size === 1 ? [...ids][0] : undefined;
    // Enough nodes sharing one aux-info can sign, whatever the others hold.
    const signing = majorityAux(known, c.threshold);
    if (live.length === c.total) {
      if (agreed !== undefined) return this.setAux(agreed, 'ready');
      const laggards = live.filter((l) => {
        const sid = c.info(l.index)?.auxPendingSid;
        return sid !== undefined && this.finalizeTried.get(l.index) !== sid;
      });
      if (laggards.length > 0) {
        // a node reporting a new pending run at every poll must not keep the monitor busy: one
        // attempt per retry interval
        const wait = this.finalizeAt + (this.o.retryMs ?? 30_000) - performance.now();
        if (wait > 0) {
          this.setAux(signing, 'finishing an aux-info switch (waiting to try again)');
          return this.schedule(wait);
        }
        this.finalizeAt = performance.now();
        this.setAux(signing, 'finishing an aux-info switch');
        this.running = this.finalizeAux(laggards);
        return;
      }
      const short = known.filter((i) => i.primesReady < PRIMES_FOR_AUX);
      if (short.length > 0) {
        this.setAux(signing, `waiting for safe primes before making aux-info (${short.map((i) => `${i.nodeId} ${i.primesReady}/${PRIMES_FOR_AUX}`).join(', ')})`);
        return this.schedule();
      }
      const wait = this.retryAt - Date.now();
      if (wait > 0) {
        this.setAux(signing, 'making aux-info failed; retrying soon');
        return this.schedule(wait);
      }
      this.setAux(signing, 'making aux-info (about half a minute)');
      this.running = this.runAux();
      return;
    }
    if (signing !== undefined) return this.setAux(signing, `ready for signing (${live.length}/${c.total} nodes)`);
    this.setAux(undefined, `waiting for nodes (${live.length}/${c.total} connected)`);
  }

  private setAux(auxId: string | undefined, status: string): void {
    const c = this.o.cluster;
    if (c.auxId !== auxId) this.log.info({ auxId, status }, auxId ? 'node group ready' : 'node group not ready');
    c.setAux(auxId, status);
  }

  /** Hand a committed node's evidence to nodes holding a pending aux-info, then look again. */
  private async finalizeAux(laggards: readonly NodeLink[]): Promise<void> {
    const c = this.o.cluster;
    this.auxRunning = true;
    try {
      const donors = c.links.filter((l) => c.isConnected(l.index) && !laggards.includes(l));
      for (const link of laggards) {
        const sid = c.info(link.index)?.auxPendingSid as string;
        this.finalizeTried.set(link.index, sid);
        let done = false;
        for (const donor of donors) {
          try {
            const e = await callNode(donor, { v: RPC_VERSION, method: 'evidence', scope: 'aux' }, evidenceResponseSchema, this.o.infoTimeoutMs ?? 10_000);
            if (e.protocol !== 'aux') continue;
            const { result } = await callNode(link, { v: RPC_VERSION, method: 'finalize', scope: 'aux', envelopes: e.envelopes }, finalizeResponseSchema, this.o.infoTimeoutMs ?? 10_000);
            this.log.info({ node: link.nodeId, from: donor.nodeId, auxId: result.protocol === 'aux' ? result.auxId : undefined }, 'pending aux-info committed on another node’s evidence');
            done = true;
            break;
          } catch (err) {
            this.log.warn({ node: link.nodeId, donor: donor.nodeId, err: (err as Error).message }, 'could not finalize a pending aux-info from this node’s evidence');
          }
        }
        if (done) continue;
        // nobody committed it: a party that never confirmed the run abandons it, and the node drops it
        for (const other of c.links.filter((l) => c.isConnected(l.index) && l !== link)) {
          try {
            const a = await callNode(other, { v: RPC_VERSION, method: 'abandon', scope: 'aux', sid }, abandonResponseSchema, this.o.infoTimeoutMs ?? 10_000);
            const r = await callNode(link, { v: RPC_VERSION, method: 'discard', scope: 'aux', sid, by: a.by, signature: a.signature }, discardResponseSchema, this.o.infoTimeoutMs ?? 10_000);
            this.log.info({ node: link.nodeId, abandonedBy: other.nodeId, discarded: r.discarded }, 'pending aux-info of an unfinished run dropped on a signed abandonment');
            break;
          } catch (err) {
            this.log.warn({ node: link.nodeId, asked: other.nodeId, err: (err as Error).message }, 'could not have a pending aux-info abandoned');
          }
        }
      }
    } finally {
      this.auxRunning = false;
    }
    await Promise.all(c.links.filter((l) => c.isConnected(l.index)).map((l) => this.refresh(l.index)));
    this.evaluate();
  }

  /**
   * Make a new aux-info now (new Paillier and ring-Pedersen keys, a new aux epoch) with every node,
   * for a rotation. Resolves with the new aux id once the nodes report it; throws if the group is
   * not ready for it (a node missing or short of primes, an aux run already going) or the run failed.
   */
  async renewAux(): Promise<string> {
    const c = this.o.cluster;
    if (this.stopped) throw new Error('the group monitor is stopped');
    if (this.auxRunning) throw new AuxUnavailableError('an aux-info run is already going');
    const readiness = c.keygenReadiness();
    if (!readiness.ready) throw new AuxUnavailableError(readiness.reason);
    const short = c.links.map((l) => c.info(l.index)).filter((i) => i === undefined || i.primesReady < PRIMES_FOR_AUX);
    if (short.length > 0) throw new AuxUnavailableError(`nodes not ready with safe primes: ${short.map((i) => i?.nodeId ?? 'unknown').join(', ')}`);
    const run = this.runAux();
    this.running = run;
    const outcome = await run;
    if (outcome?.status !== 'done') throw new AuxUnavailableError(outcome === undefined ? 'the aux-info run failed' : outcome.status === 'aborted' ? 'the aux-info run was aborted (see the log)' : `the aux-info run failed (${outcome.failure})`);
    if (c.auxId !== outcome.result.auxId) throw new AuxUnavailableError('the nodes do not all report the new aux-info yet');
    return outcome.result.auxId;
  }

  private async runAux(): Promise<SessionOutcome<'aux'> | undefined> {
    const c = this.o.cluster;
    let result: SessionOutcome<'aux'> | undefined;
    // Nodes that agreed on the old aux-info keep signing meanwhile (evaluate left it in place).
    this.auxRunning = true;
    const started = Date.now();
    this.log.info('making the node group’s aux-info with all nodes (Paillier and ring-Pedersen keys with their proofs; about half a minute of compute)');
    const progress = setInterval(() => this.log.info({ elapsedS: Math.round((Date.now() - started) / 1000) }, 'aux-info still running'), this.o.progressMs ?? 10_000);
    progress.unref();
    try {
      const outcome = await this.o.runner.run({ protocol: 'aux', parties: c.parties, participants: c.links });
      result = outcome;
      if (outcome.status === 'done') {
        this.log.info({ auxId: outcome.result.auxId, durationMs: outcome.durationMs }, 'aux-info made');
      } else {
        const why = outcome.status === 'aborted' ? { culprits: outcome.culprits, reason: outcome.reason } : { failure: outcome.failure, nodes: outcome.nodes, reason: outcome.reason };
        if (outcome.status === 'failed' && outcome.failure === 'draining') for (const id of outcome.nodes) c.markDraining(c.parties.indexOf(id));
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
