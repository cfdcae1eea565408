/**
 * Finishing or dropping a half-done state switch, for any scope: the group's aux-info or one
 * wallet's key share (docs/security.md, "State switches: epochs and an atomic commit"). A node
 * holding a pending state (it stored the successor and sent its confirmation, but never received
 * every party's) is resolved by the first of these that works:
 *
 *   1. finalize it with the evidence of another node that committed that run;
 *   2. gather every party's signed confirmation of the run — each node keeps its own with its
 *      pending state (the `confirmation` request), and the orchestrator keeps those it relayed
 *      (ConfirmationLedger) — and finalize every node with them: the n envelopes are exactly the
 *      evidence a node commits on, so this is the commit the run would have ended with had the last
 *      message arrived (a coordinator that crashed after every node confirmed leaves this case);
 *   3. collect the signed abandonments of the run by every other party and have the node drop it
 *      (a party signs one only if it never confirmed the run, so with every other party's no
 *      evidence of it can exist anywhere).
 *
 * Neither the ledger nor this module can make a commit happen that the parties did not confirm:
 * every envelope is signed by its party and checked by the node that commits. A party that signs
 * an abandonment of a run whose confirmation was seen here is reported (transferable proof).
 * @module
 */
import type { KeyObject } from 'node:crypto';
import { decodeEnvelope, openSignedHeader } from '../envelope/envelope.js';
import { verifyAbandonment } from '../protocol/abandonment.js';
import { ROUND as AUX_ROUND } from '../protocol/aux/messages.js';
import { KEYGEN_ROUND } from '../protocol/keygen/index.js';
import { ROUND as RESHARE_ROUND } from '../protocol/reshare/messages.js';
import {
  RPC_VERSION,
  abandonResponseSchema,
  confirmationResponseSchema,
  discardResponseSchema,
  evidenceResponseSchema,
  finalizeResponseSchema,
} from '../rpc/messages.js';
import type { Logger } from '../util/log.js';
import type { NodeCluster } from './cluster.js';
import { callNode, type NodeLink } from './node-link.js';

/** The rounds whose broadcasts are confirmations (refresh runs the keygen rounds). */
const CONFIRM_ROUNDS: ReadonlySet<string> = new Set([AUX_ROUND.confirm, KEYGEN_ROUND.confirm, RESHARE_ROUND.confirm]);

/** Runs whose confirmations are kept (the oldest are forgotten first). */
const HELD_RUNS = 64;

/** The sid (hex) and sender an envelope's header names, or undefined if it does not decode. */
function header(envelope: string): { sid: string; from: number; round: string } | undefined {
  try {
    const d = decodeEnvelope(Buffer.from(envelope, 'base64'));
    return { sid: Buffer.from(d.sid).toString('hex'), from: d.from, round: d.round };
  } catch {
    return undefined;
  }
}

/**
 * Signed confirmation envelopes (base64) of recent runs, by sid and sender: those the orchestrator
 * relayed and those seen in nodes' evidence. With the nodes' pinned identity keys, an envelope is
 * kept only if its named sender signed it: otherwise a node offering a forged one "from" another
 * party first would keep the genuine one out, and the gathered confirmations would never commit.
 * (The nodes check every envelope they commit on in any case.)
 */
export class ConfirmationLedger {
  private readonly runs = new Map<string, Map<number, string>>();

  constructor(private readonly identities?: readonly KeyObject[]) {}

  /** Keep `envelope` if its header names a confirmation round (and its sender signed it). */
  offer(envelope: string): void {
    const h = header(envelope);
    if (!h || !CONFIRM_ROUNDS.has(h.round)) return;
    if (this.identities) {
      const key = this.identities[h.from];
      if (!key || !openSignedHeader(Buffer.from(envelope, 'base64'), key)) return;
    }
    const run = this.runs.get(h.sid) ?? new Map<number, string>();
    if (!run.has(h.from)) run.set(h.from, envelope);
    this.runs.delete(h.sid);
    this.runs.set(h.sid, run);
    while (this.runs.size > HELD_RUNS) this.runs.delete(this.runs.keys().next().value as string);
  }

  /** The confirmations of run `sid` (hex), by sender. */
  of(sid: string): ReadonlyMap<number, string> {
    return this.runs.get(sid) ?? new Map();
  }
}

export interface PendingResolverOptions {
  readonly cluster: NodeCluster;
  readonly log: Logger;
  readonly timeoutMs: number;
  /** confirmations the orchestrator relayed (shared with it) */
  readonly ledger: ConfirmationLedger;
  /** every node's pinned identity key by index: lets a party that abandons a run it confirmed be proven so */
  readonly identities?: readonly KeyObject[];
  readonly onMisbehaviour?: (offence: { nodeId: string; protocol: string; reason: string }) => void;
}

type Resolution = 'committed' | 'discarded' | 'kept';

export class PendingResolver {
  constructor(private readonly o: PendingResolverOptions) {}

  /** Resolve `link`'s pending state of run `sid` (hex) of `scope`, as the module header says. */
  async resolve(scope: string, link: NodeLink, sid: string): Promise<Resolution> {
    if (await this.finalizeFromDonors(scope, link, sid)) return 'committed';
    if (await this.finishFromConfirmations(scope, link, sid)) return 'committed';
    return (await this.discardAbandoned(scope, link, sid)) ? 'discarded' : 'kept';
  }

  private connected(): NodeLink[] {
    const c = this.o.cluster;
    return c.links.filter((l) => c.isConnected(l.index));
  }

  /** Try every other connected node's evidence; true once `link` committed. */
  private async finalizeFromDonors(scope: string, link: NodeLink, sid: string): Promise<boolean> {
    for (const donor of this.connected().filter((l) => l !== link)) {
      let envelopes: string[];
      try {
        envelopes = (
          await callNode(donor, { v: RPC_VERSION, method: 'evidence', scope }, evidenceResponseSchema, this.o.timeoutMs)
        ).envelopes;
      } catch (err) {
        this.o.log.debug(
          { scope, node: link.nodeId, donor: donor.nodeId, err: (err as Error).message },
          'no commit evidence at this node',
        );
        continue;
      }
      // kept for the misbehaviour check; evidence of another commit is refused by the node itself
      for (const e of envelopes) if (header(e)?.sid === sid) this.o.ledger.offer(e);
      try {
        await callNode(
          link,
          { v: RPC_VERSION, method: 'finalize', scope, envelopes },
          finalizeResponseSchema,
          this.o.timeoutMs,
        );
        this.o.log.info(
          { scope, node: link.nodeId, from: donor.nodeId },
          'pending state committed on another node’s evidence',
        );
        return true;
      } catch (err) {
        this.o.log.warn(
          { scope, node: link.nodeId, donor: donor.nodeId, err: (err as Error).message },
          'could not finalize a pending state from this node’s evidence',
        );
      }
    }
    return false;
  }

  /**
   * Nobody committed the run: gather every party's confirmation of it (each node's own, kept with
   * its pending state, and those relayed earlier) and, with all n, finalize every connected node.
   * True if `link` committed.
   */
  async finishFromConfirmations(scope: string, link: NodeLink, sid: string): Promise<boolean> {
    const c = this.o.cluster;
    for (const node of this.connected()) {
      try {
        const r = await callNode(
          node,
          { v: RPC_VERSION, method: 'confirmation', scope },
          confirmationResponseSchema,
          this.o.timeoutMs,
        );
        const h = header(r.envelope);
        if (r.sid === sid && h?.sid === sid && h.from === node.index) this.o.ledger.offer(r.envelope);
      } catch (err) {
        this.o.log.debug(
          { scope, node: node.nodeId, err: (err as Error).message },
          'no stored confirmation at this node',
        );
      }
    }
    const held = this.o.ledger.of(sid);
    const envelopes = c.links.map((l) => held.get(l.index));
    if (envelopes.some((e) => e === undefined)) {
      this.o.log.info(
        { scope, node: link.nodeId, have: [...held.keys()].map((j) => c.parties[j]) },
        'not every party’s confirmation of the pending run is available',
      );
      return false;
    }
    let committed = false;
    for (const node of this.connected()) {
      try {
        await callNode(
          node,
          { v: RPC_VERSION, method: 'finalize', scope, envelopes: envelopes as string[] },
          finalizeResponseSchema,
          this.o.timeoutMs,
        );
        if (node === link) committed = true;
        this.o.log.info(
          { scope, node: node.nodeId },
          'pending state committed on every party’s confirmation, gathered from the parties',
        );
      } catch (err) {
        // a node that committed already or holds nothing of this run refuses: expected
        this.o.log.debug(
          { scope, node: node.nodeId, err: (err as Error).message },
          'finalize on gathered confirmations refused',
        );
      }
    }
    return committed;
  }

  /**
   * The node may drop its pending state only on the signed abandonments of every other party (a
   * party signs one only if it never confirmed the run). True if it was dropped.
   */
  private async discardAbandoned(scope: string, link: NodeLink, sid: string): Promise<boolean> {
    const c = this.o.cluster;
    const others = c.links.filter((l) => l !== link);
    const abandonments: { by: number; signature: string }[] = [];
    for (const other of others) {
      try {
        if (!c.isConnected(other.index)) throw new Error('not connected');
        const a = await callNode(
          other,
          { v: RPC_VERSION, method: 'abandon', scope, sid },
          abandonResponseSchema,
          this.o.timeoutMs,
        );
        if (a.by !== other.index) throw new Error(`answered an abandonment by party ${a.by}`);
        abandonments.push(a);
      } catch (err) {
        this.o.log.warn(
          { scope, node: link.nodeId, asked: other.nodeId, err: (err as Error).message },
          'no abandonment of the pending state from this party',
        );
      }
    }
    if (this.exposeLiars(scope, sid, abandonments)) return false;
    if (abandonments.length !== others.length) {
      this.o.log.warn(
        { scope, node: link.nodeId, sid },
        'pending state kept: not every other party abandoned its run (the committed state keeps serving; see docs/security.md, State switches)',
      );
      return false;
    }
    try {
      const r = await callNode(
        link,
        { v: RPC_VERSION, method: 'discard', scope, sid, abandonments },
        discardResponseSchema,
        this.o.timeoutMs,
      );
      this.o.log.info(
        { scope, node: link.nodeId, abandonedBy: others.map((l) => l.nodeId), discarded: r.discarded },
        'pending state of an unfinished run dropped on every other party’s signed abandonment',
      );
      return r.discarded;
    } catch (err) {
      this.o.log.warn(
        { scope, node: link.nodeId, err: (err as Error).message },
        'could not have a pending state dropped',
      );
      return false;
    }
  }

  /**
   * A party that signed an abandonment of run `sid` and whose signed confirmation of that same run
   * we hold has lied: the pair is transferable proof. Checked against the pinned identity keys;
   * the party is reported as a verified offence. True if one was found.
   */
  private exposeLiars(scope: string, sid: string, abandonments: readonly { by: number; signature: string }[]): boolean {
    const held = this.o.ledger.of(sid);
    const keys = this.o.identities;
    if (held.size === 0 || !keys) return false;
    const sidBytes = Buffer.from(sid, 'hex');
    let found = false;
    for (const a of abandonments) {
      const key = keys[a.by];
      const env = held.get(a.by);
      if (
        !key ||
        env === undefined ||
        !verifyAbandonment(scope, sidBytes, { by: a.by, signature: Buffer.from(a.signature, 'hex') }, key)
      )
        continue;
      const d = openSignedHeader(Buffer.from(env, 'base64'), key);
      if (
        d === undefined ||
        d.from !== a.by ||
        !CONFIRM_ROUNDS.has(d.round) ||
        Buffer.from(d.sid).toString('hex') !== sid ||
        // an abandonment names a scope and a confirmation does not: a run of the other kind is no contradiction
        (d.protocol === 'mpc-engine/aux') !== (scope === 'aux')
      )
        continue;
      found = true;
      const nodeId = this.o.cluster.parties[a.by] as string;
      const protocol = d.protocol.replace(/^mpc-engine\//, '');
      const reason = `signed an abandonment of ${scope === 'aux' ? 'aux-info' : `${scope}'s`} run ${sid.slice(0, 16)}… whose confirmation it signed`;
      this.o.log.error({ scope, node: nodeId, sid }, 'a node abandoned a run it confirmed: verified misbehaviour');
      this.o.onMisbehaviour?.({ nodeId, protocol, reason });
    }
    return found;
  }
}
