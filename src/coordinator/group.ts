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
 * committed on (infos re-read before each such node, so one committed a moment ago serves the
 * next). If no node committed it, the pending node may drop it only on every other party's signed
 * abandonment (a node never replaces a pending state otherwise), and only then is a new aux-info
 * made; a party that abandons a run whose signed confirmation was seen here is reported.
 *
 * A rotation (rotation.ts) asks for a new aux-info on purpose (`renewAux`): the same run, with
 * every node, while nothing else runs aux here.
 *
 * Each time the whole group is connected again (at start, after a node reconnects), `onComplete`
 * is called once: the wallet reconciliation (reconcile.ts) needs every node.
 * @module
 */
import type { KeyObject } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { decodeEnvelope, openSignedHeader } from '../envelope/envelope.js';
import { verifyAbandonment } from '../protocol/abandonment.js';
import { ROUND as AUX_ROUND } from '../protocol/aux/messages.js';
import { RPC_VERSION, abandonResponseSchema, discardResponseSchema, evidenceResponseSchema, finalizeResponseSchema, infoSchema, type NodeInfo } from '../rpc/messages.js';
import { silentLogger, type Logger } from '../util/log.js';
import type { NodeCluster } from './cluster.js';
import { callNode, type NodeLink } from './node-link.js';
import type { SessionOutcome, SessionRunner } from './orchestrator.js';

/** Runs whose confirmations are kept for the misbehaviour check. */
const HELD_RUNS = 8;

/** The sid (hex) an envelope's header names, or undefined if it does not decode. */
function envelopeSid(envelope: string): string | undefined {
  try {
    return Buffer.from(decodeEnvelope(Buffer.from(envelope, 'base64')).sid).toString('hex');
  } catch {
    return undefined;
  }
}

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
  /** every node's pinned identity key by index: lets a party that abandons a run it confirmed be proven so */
  readonly identities?: readonly KeyObject[];
  /** a verified offence found here (a node abandoned a run it confirmed) */
  readonly onMisbehaviour?: (offence: { nodeId: string; protocol: string; reason: string }) => void;
}

export class GroupMonitor {
  private readonly log: Logger;
  private auxRunning = false;
  /** pending runs (sid) already tried to finalize or discard, per node (so none is asked in a loop) */
  private readonly finalizeTried = new Map<number, string>();
  /** confirmation envelopes (base64) of recent runs seen in nodes' evidence, by sid */
  private readonly confirmations = new Map<string, string[]>();
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

  /**
   * Hand a committed node's evidence to nodes holding a pending aux-info, then look again. Infos
   * are re-read before each laggard and every other node is a candidate donor, so a node that
   * committed earlier in this pass serves the next one (a party that hands its evidence to one
   * node only cannot leave the others pending).
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
        if (await this.finalizeFromDonors(link, sid)) continue;
        await this.discardAbandoned(link, sid);
      }
    } finally {
      this.auxRunning = false;
    }
    await this.refreshConnected();
    this.evaluate();
  }

  private async refreshConnected(): Promise<void> {
    const c = this.o.cluster;
    await Promise.all(c.links.filter((l) => c.isConnected(l.index)).map((l) => this.refresh(l.index)));
  }

  /** Try every other connected node's evidence of run `sid`; true once `link` committed. */
  private async finalizeFromDonors(link: NodeLink, sid: string): Promise<boolean> {
    const c = this.o.cluster;
    for (const donor of c.links.filter((l) => c.isConnected(l.index) && l !== link)) {
      try {
        const e = await callNode(donor, { v: RPC_VERSION, method: 'evidence', scope: 'aux' }, evidenceResponseSchema, this.o.infoTimeoutMs ?? 10_000);
        if (e.protocol !== 'aux') continue;
        // kept for the misbehaviour check; evidence of another commit is refused by the node itself
        this.holdConfirmations(sid, e.envelopes.filter((env) => envelopeSid(env) === sid));
        const { result } = await callNode(link, { v: RPC_VERSION, method: 'finalize', scope: 'aux', envelopes: e.envelopes }, finalizeResponseSchema, this.o.infoTimeoutMs ?? 10_000);
        this.log.info({ node: link.nodeId, from: donor.nodeId, auxId: result.protocol === 'aux' ? result.auxId : undefined }, 'pending aux-info committed on another node’s evidence');
        return true;
      } catch (err) {
        this.log.warn({ node: link.nodeId, donor: donor.nodeId, err: (err as Error).message }, 'could not finalize a pending aux-info from this node’s evidence');
      }
    }
    return false;
  }

  /**
   * Nobody committed run `sid`: the node may drop its pending state only on the signed
   * abandonments of every other party (a party signs one only if it never confirmed the run). A
   * party that also confirmed the run (not every node can hold the pending state then) refuses,
   * and the state stays until that party releases it or an operator drops it on every node.
   */
  private async discardAbandoned(link: NodeLink, sid: string): Promise<void> {
    const c = this.o.cluster;
    const others = c.links.filter((l) => l !== link);
    const abandonments: { by: number; signature: string }[] = [];
    for (const other of others) {
      try {
        if (!c.isConnected(other.index)) throw new Error('not connected');
        const a = await callNode(other, { v: RPC_VERSION, method: 'abandon', scope: 'aux', sid }, abandonResponseSchema, this.o.infoTimeoutMs ?? 10_000);
        if (a.by !== other.index) throw new Error(`answered an abandonment by party ${a.by}`);
        abandonments.push(a);
      } catch (err) {
        this.log.warn({ node: link.nodeId, asked: other.nodeId, err: (err as Error).message }, 'no abandonment of the pending aux-info from this party');
      }
    }
    if (this.exposeLiars(sid, abandonments)) return;
    if (abandonments.length !== others.length) {
      this.log.warn({ node: link.nodeId, sid }, 'pending aux-info kept: not every other party abandoned its run (the committed aux-info keeps serving; see docs/security.md, State switches)');
      return;
    }
    try {
      const r = await callNode(link, { v: RPC_VERSION, method: 'discard', scope: 'aux', sid, abandonments }, discardResponseSchema, this.o.infoTimeoutMs ?? 10_000);
      this.log.info({ node: link.nodeId, abandonedBy: others.map((l) => l.nodeId), discarded: r.discarded }, 'pending aux-info of an unfinished run dropped on every other party’s signed abandonment');
    } catch (err) {
      this.log.warn({ node: link.nodeId, err: (err as Error).message }, 'could not have a pending aux-info dropped');
    }
  }

  /** Remember confirmation envelopes of run `sid` seen in a node's evidence (a few runs only). */
  private holdConfirmations(sid: string, envelopes: readonly string[]): void {
    if (envelopes.length === 0) return;
    const held = this.confirmations.get(sid) ?? [];
    for (const e of envelopes) if (!held.includes(e)) held.push(e);
    this.confirmations.delete(sid);
    this.confirmations.set(sid, held);
    while (this.confirmations.size > HELD_RUNS) this.confirmations.delete(this.confirmations.keys().next().value as string);
  }

  /**
   * A party that signed an abandonment of run `sid` and whose signed confirmation of that same run
   * we hold has lied: the pair is transferable proof. Checked against the pinned identity keys;
   * the party is reported as a verified offence. True if one was found.
   */
  private exposeLiars(sid: string, abandonments: readonly { by: number; signature: string }[]): boolean {
    const held = this.confirmations.get(sid);
    const keys = this.o.identities;
    if (!held || !keys) return false;
    const sidBytes = Buffer.from(sid, 'hex');
    let found = false;
    for (const a of abandonments) {
      const key = keys[a.by];
      if (!key || !verifyAbandonment('aux', sidBytes, { by: a.by, signature: Buffer.from(a.signature, 'hex') }, key)) continue;
      const confirmed = held.some((env) => {
        const d = openSignedHeader(Buffer.from(env, 'base64'), key);
        return d !== undefined && d.from === a.by && d.round === AUX_ROUND.confirm && d.protocol === 'mpc-engine/aux' && Buffer.from(d.sid).toString('hex') === sid;
      });
      if (!confirmed) continue;
      found = true;
      const nodeId = this.o.cluster.parties[a.by] as string;
      const reason = `signed an abandonment of aux-info run ${sid.slice(0, 16)}… whose confirmation it signed`;
      this.log.error({ node: nodeId, sid }, 'a node abandoned a run it confirmed: verified misbehaviour');
      this.o.onMisbehaviour?.({ nodeId, protocol: 'aux', reason });
    }
    return found;
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
