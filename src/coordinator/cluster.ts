/**
 * The coordinator's view of its node group: one link per node in NODE_IDS order, which of them
 * are connected, what each last said about itself (`info`), and whether the group has agreed
 * aux-info (made once per group; keygen and presign need it). Who is live decides what the
 * coordinator may do: wallet creation needs every node, signing any `threshold` of them that are
 * not suspended and of which no two are in dispute (quarantine.ts). A node that said it is shutting
 * down (draining) is left out of new work until it reconnects (it is a new process then) or a
 * while has passed: nothing is held against it.
 * @module
 */
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import type { NodeInfo } from '../rpc/messages.js';
import type { NodeLink } from './node-link.js';
import { combinations } from './pool.js';

/** How long a node that said it is shutting down is left out if it does not go away. */
export const DRAINING_HOLD_MS = 60_000;

interface Member {
  readonly link: NodeLink;
  connected: boolean;
  info: NodeInfo | undefined;
}

interface ClusterEvents {
  /** the number of connected nodes changed */
  connectivity: [connected: number, total: number];
  /** a node's info or the group's aux state changed */
  state: [];
}

export type Readiness = { readonly ready: true } | { readonly ready: false; readonly reason: string };

export interface HealthStatus {
  /** ok: every node connected and ready; degraded: enough to sign; unavailable: not even that */
  readonly status: 'ok' | 'degraded' | 'unavailable';
  readonly connectedNodes: number;
  readonly totalNodes: number;
  readonly threshold: number;
  /** nodes suspended after a cryptographic abort (see quarantine.ts) */
  readonly suspendedNodes: readonly string[];
  /** nodes restored from a copy and not yet reconciled with their peers (restored.ts); absent when none */
  readonly restoredNodes?: readonly string[];
  /** wallets the configured node group does not hold as configured (reshare.ts survey); absent when none */
  readonly reshareNeeded?: number;
  /** wallets some connected node did not describe to that survey, so not known to be held; absent when none */
  readonly reshareUnchecked?: number;
  /** the shared database did not answer the last look (store/); absent when it did or there is none */
  readonly databaseUnreachable?: true;
}

export class NodeCluster extends EventEmitter<ClusterEvents> {
  private readonly members: readonly Member[];
  private agreedAuxId: string | undefined;
  /** whether a node is suspended after a cryptographic abort (quarantine.ts); none by default */
  private suspended: (nodeId: string) => boolean = () => false;
  /** whether two nodes must not be used together after an abort report (quarantine.ts); none by default */
  private disputed: (a: string, b: string) => boolean = () => false;
  private auxStatus = 'aux-info not checked yet';
  /** nodes that answered that they are shutting down: until when (monotonic ms) they get no new work */
  private readonly drainingUntil = new Map<number, number>();

  constructor(
    links: readonly NodeLink[],
    /** t: nodes needed to sign */
    readonly threshold: number,
  ) {
    super();
    if (links.some((l, k) => l.index !== k)) throw new RangeError('links must be given in index order, starting at 0');
    if (!Number.isSafeInteger(threshold) || threshold < 1 || threshold > links.length)
      throw new RangeError('threshold must be 1..n');
    this.members = links.map((link) => ({ link, connected: false, info: undefined }));
  }

  get total(): number {
    return this.members.length;
  }

  /** Node ids in index order (the `parties` of every session). */
  get parties(): readonly string[] {
    return this.members.map((m) => m.link.nodeId);
  }

  get links(): readonly NodeLink[] {
    return this.members.map((m) => m.link);
  }

  link(index: number): NodeLink | undefined {
    return this.members[index]?.link;
  }

  get connectedCount(): number {
    return this.members.filter((m) => m.connected).length;
  }

  isConnected(index: number): boolean {
    return this.members[index]?.connected ?? false;
  }

  /**
   * A node answered that it is shutting down: no new work goes to it until its connection drops
   * and comes back (a new process), or `forMs` passes. Not an offence: nothing is recorded.
   */
  markDraining(index: number, forMs = DRAINING_HOLD_MS): void {
    if (!this.members[index]) return;
    const was = this.isDraining(index);
    this.drainingUntil.set(index, performance.now() + forMs);
    if (!was) this.emit('state');
  }

  isDraining(index: number): boolean {
    const until = this.drainingUntil.get(index);
    if (until === undefined) return false;
    if (performance.now() < until) return true;
    this.drainingUntil.delete(index);
    return false;
  }

  /** Node ids shutting down now. */
  drainingNodes(): string[] {
    return this.members.filter((m) => this.isDraining(m.link.index)).map((m) => m.link.nodeId);
  }

  /** Links of the connected nodes, in index order. */
  liveLinks(): NodeLink[] {
    return this.members.filter((m) => m.connected).map((m) => m.link);
  }

  /**
   * Nodes that can sign now: connected, and holding the group's agreed aux-info (a node that lost
   * or never got it would fail every presign).
   */
  signerLinks(): NodeLink[] {
    if (this.agreedAuxId === undefined) return [];
    return this.members
      .filter(
        (m) =>
          m.connected &&
          m.info?.auxId === this.agreedAuxId &&
          !this.suspended(m.link.nodeId) &&
          !this.isDraining(m.link.index) &&
          // restored from a copy: its shares may be older than its peers' until reconciled (restored.ts)
          m.info?.restored !== true,
      )
      .map((m) => m.link);
  }

  /**
   * The signer sets usable now: every `threshold`-subset of signerLinks() (index order, sets in
   * lexicographic order) with no two members in dispute. The pool presigns for these and signing
   * chooses among them, so a node's accusation only removes sets containing the accuser itself.
   */
  usableSignerSets(): number[][] {
    const signers = this.signerLinks();
    return combinations(signers, this.threshold)
      .filter((set) => set.every((a, k) => set.slice(k + 1).every((b) => !this.disputed(a.nodeId, b.nodeId))))
      .map((set) => set.map((l) => l.index));
  }

  /**
   * Background presign sessions worth running at once: the fewest protocol workers (`workers` in
   * its info; one if it does not say) of any node that presigns now. More would only queue behind
   * one another in that node's workers, and hold back the on-demand presigns of signing requests
   * queued behind them; fewer would leave its cores idle. One while no node is usable.
   */
  presignCapacity(): number {
    const reported = this.signerLinks().map((l) => this.members[l.index]?.info?.workers ?? 1);
    return reported.length === 0 ? 1 : Math.max(1, Math.min(...reported));
  }

  /** Take suspensions into account (signing, presigning and wallet creation leave those nodes out). */
  setSuspension(isSuspended: (nodeId: string) => boolean): void {
    this.suspended = isSuspended;
    this.emit('state');
  }

  /** Take disputes into account (signing and presigning never put the two in one signer set). */
  setDisputes(inDispute: (a: string, b: string) => boolean): void {
    this.disputed = inDispute;
    this.emit('state');
  }

  /** Pairs of node ids in dispute now, in index order. */
  disputedPairs(): [string, string][] {
    const ids = this.parties;
    return ids.flatMap((a, k) =>
      ids.slice(k + 1).flatMap((b): [string, string][] => (this.disputed(a, b) ? [[a, b]] : [])),
    );
  }

  /** Node ids suspended now. */
  suspendedNodes(): string[] {
    return this.members.map((m) => m.link.nodeId).filter((id) => this.suspended(id));
  }

  setConnected(index: number, connected: boolean): void {
    const m = this.members[index];
    if (!m || m.connected === connected) return;
    m.connected = connected;
    this.drainingUntil.delete(index);
    if (!connected) m.info = undefined;
    this.emit('connectivity', this.connectedCount, this.total);
  }

  setInfo(index: number, info: NodeInfo): void {
    const m = this.members[index];
    if (!m) return;
    m.info = info;
    this.emit('state');
  }

  info(index: number): NodeInfo | undefined {
    return this.members[index]?.info;
  }

  /** The aux-info every node holds, once they were seen to agree (or a fresh aux run ended). */
  get auxId(): string | undefined {
    return this.agreedAuxId;
  }

  setAux(auxId: string | undefined, status: string): void {
    this.agreedAuxId = auxId;
    this.auxStatus = status;
    this.emit('state');
  }

  /** Wallet creation: every node connected and the group's aux-info in place. */
  keygenReadiness(): Readiness {
    const members = this.membersReadiness('wallet creation');
    if (!members.ready) return members;
    const stale = this.members
      .filter((m) => this.agreedAuxId === undefined || m.info?.auxId !== this.agreedAuxId)
      .map((m) => m.link.nodeId);
    if (stale.length > 0) return { ready: false, reason: `the node group is not ready: ${this.auxStatus}` };
    return { ready: true };
  }

  /**
   * Every node connected and usable (none draining, suspended or restored unreconciled), whatever
   * aux-info each holds: what a group change's aux-info run needs (`purpose` names it in the reason).
   */
  membersReadiness(purpose: string): Readiness {
    const missing = this.members.filter((m) => !m.connected).map((m) => m.link.nodeId);
    if (missing.length > 0) {
      return {
        ready: false,
        reason: `${purpose} needs all ${this.total} nodes; not connected: ${missing.join(', ')}`,
      };
    }
    // what each holds (its aux-info above all) decides what the run does: not known yet, not ready
    const unread = this.members.filter((m) => m.info === undefined).map((m) => m.link.nodeId);
    if (unread.length > 0)
      return {
        ready: false,
        reason: `${purpose} needs all ${this.total} nodes; their state is being read: ${unread.join(', ')}`,
      };
    const draining = this.drainingNodes();
    if (draining.length > 0)
      return {
        ready: false,
        reason: `${purpose} needs all ${this.total} nodes; shutting down: ${draining.join(', ')}`,
      };
    const suspended = this.suspendedNodes();
    if (suspended.length > 0) {
      return {
        ready: false,
        reason: `${purpose} needs all ${this.total} nodes; suspended after a cryptographic abort: ${suspended.join(', ')} (see npm run quarantine)`,
      };
    }
    const restored = this.restoredNodes();
    if (restored.length > 0)
      return {
        ready: false,
        reason: `${purpose} needs all ${this.total} nodes; restored from a copy and not reconciled yet: ${restored.join(', ')}`,
      };
    return { ready: true };
  }

  health(): HealthStatus {
    const status = this.keygenReadiness().ready ? 'ok' : this.signReadiness().ready ? 'degraded' : 'unavailable';
    return {
      status,
      connectedNodes: this.connectedCount,
      totalNodes: this.total,
      threshold: this.threshold,
      suspendedNodes: this.suspendedNodes(),
      ...(this.restoredNodes().length > 0 ? { restoredNodes: this.restoredNodes() } : {}),
    };
  }

  /** Connected node ids that report being restored from a copy, not yet reconciled. */
  restoredNodes(): string[] {
    return this.members.filter((m) => m.connected && m.info?.restored === true).map((m) => m.link.nodeId);
  }

  /** Signing: a usable signer set (`threshold` connected nodes with the agreed aux-info, none suspended, no two in dispute). */
  signReadiness(): Readiness {
    const live = this.connectedCount;
    if (live < this.threshold)
      return { ready: false, reason: `signing needs ${this.threshold} of ${this.total} nodes; ${live} connected` };
    if (this.agreedAuxId === undefined)
      return { ready: false, reason: `the node group is not ready: ${this.auxStatus}` };
    const signers = this.signerLinks().length;
    if (signers < this.threshold) {
      const suspended = this.suspendedNodes();
      const why = suspended.length > 0 ? ` (suspended after a cryptographic abort: ${suspended.join(', ')})` : '';
      return {
        ready: false,
        reason: `signing needs ${this.threshold} nodes with the group's aux-info; ${signers} have it${why}`,
      };
    }
    if (this.usableSignerSets().length === 0) {
      const pairs = this.disputedPairs().map(([a, b]) => `${a}+${b}`);
      return {
        ready: false,
        reason: `signing needs ${this.threshold} nodes of which no two are in dispute after an abort report (${pairs.join(', ')})`,
      };
    }
    return { ready: true };
  }
}
