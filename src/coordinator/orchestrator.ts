/**
 * Runs one protocol session (aux, keygen, presign, refresh) over a set of node links, as the
 * coordinator ↔ node protocol prescribes (src/rpc/messages.ts):
 *
 *   prepare → every participant returns a fresh nonce and a signed session key
 *   start   → every participant gets all nonces, state fingerprints and session keys in party-index
 *             order (after the coordinator checked the fingerprints agree; each node checks the
 *             keys' signatures) and returns its first outbox
 *   deliver → each envelope goes where its signed header says: a broadcast to every other
 *             participant, whatever the node asked for, so no node can show its broadcast to some
 *             peers only; a point-to-point envelope to its one recipient. Envelopes waiting for a
 *             node are sent in one `deliver` as soon as its previous request has returned, and
 *             every answer brings the next outbox
 *   finalize → aux-info, keygen and refresh switch a node's state only on every party's signed
 *             confirmation (src/node/lifecycle.ts). A node that reports done hands that evidence
 *             over; if the session then ends in any other way (a dropped message, an abort after
 *             the last confirmation, a timeout), every participant not done gets `finalize` with
 *             it, so the group ends on one committed epoch
 *
 * until every participant reports `done` (the results are compared: all must be identical), one
 * reports `aborted` (its culprits and reason are returned), a node fails (unreachable, refused,
 * malformed answer) or the session's deadline passes. On anything but success every participant
 * is told to `abort`, so no node keeps half a session.
 *
 * The coordinator only moves envelopes: it cannot read or forge them (they are signed, and
 * point-to-point ones encrypted, by the nodes). It never looks inside, so it also never has to
 * trust what it moves; the outcome's three kinds follow docs/style.md, "Errors and aborts": a protocol abort with culprits
 * (named by the honest nodes), a node failure (transport, timeout, refusal), or a bug (thrown).
 * @module
 */
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { equalBytes } from '@noble/curves/utils.js';
import { decodeEnvelope, type DecodedEnvelope } from '../envelope/envelope.js';
import { deriveSessionId } from '../protocol/session-id.js';
import {
  RPC_VERSION,
  finalizeResponseSchema,
  prepareResponseSchema,
  sessionUpdateSchema,
  type ProtocolName,
  type Request,
  type ReshareSetup,
  type SessionResult,
  type SessionUpdate,
} from '../rpc/messages.js';
import type { RpcErrorCode } from '../rpc/errors.js';
import type { BlameCode } from '../util/blame-codes.js';
import { silentLogger, type Logger } from '../util/log.js';
import { callNode, linkFailure, NodeCallError, type NodeFailureKind, type NodeLink } from './node-link.js';
import { screenCulprits } from './quarantine.js';
import type { ConfirmationLedger } from './resolver.js';

/** The most envelopes one `deliver` may carry (the schema's cap). */
export const MAX_ENVELOPES_PER_DELIVER = 64;

/** Default deadline per protocol: aux-info is ~25 s of compute per group, the others are short. */
export const DEFAULT_SESSION_TIMEOUTS_MS: Readonly<Record<ProtocolName, number>> = {
  aux: 10 * 60_000,
  keygen: 60_000,
  refresh: 60_000,
  presign: 60_000,
  reshare: 60_000,
};

export interface SessionSpec<P extends ProtocolName> {
  readonly protocol: P;
  /** every node of the group, in index order (NODE_IDS) */
  readonly parties: readonly string[];
  /** the participants' links: every party, or for presign the signers only */
  readonly participants: readonly NodeLink[];
  /** keygen, presign, refresh, reshare */
  readonly walletId?: string;
  /** reshare: the dealers, the key in the old group and the new epoch */
  readonly reshare?: ReshareSetup;
  /** aux: the epoch the new aux-info takes at every node (a group change) */
  readonly auxEpoch?: number;
  /** default: fresh random */
  readonly sessionId?: string;
  /** default: DEFAULT_SESSION_TIMEOUTS_MS[protocol] (or the orchestrator's setting) */
  readonly timeoutMs?: number;
}

export type ResultOf<P extends ProtocolName> = Extract<SessionResult, { protocol: P }>;

export interface Culprit {
  readonly index: number;
  /** undefined if the index names no party (a node reporting nonsense) */
  readonly nodeId: string | undefined;
}

/** Why a session failed without a protocol abort. */
export type SessionFailureKind = NodeFailureKind | 'stalled' | 'inconsistent' | 'state-mismatch';

/** Protocols whose result is a state switch committed on every party's confirmation. */
const COMMITTING: ReadonlySet<ProtocolName> = new Set(['aux', 'keygen', 'refresh', 'reshare']);

interface OutcomeBase<P extends ProtocolName> {
  readonly sessionId: string;
  readonly protocol: P;
  readonly durationMs: number;
}

export type SessionOutcome<P extends ProtocolName = ProtocolName> =
  | (OutcomeBase<P> & {
      readonly status: 'done';
      readonly result: ResultOf<P>;
      readonly participants: readonly string[];
      /** the state fingerprint every participant reported at prepare (what the result was made under) */
      readonly state?: string;
    })
  | (OutcomeBase<P> & {
      readonly status: 'aborted';
      readonly reportedBy: string;
      readonly culprits: readonly Culprit[];
      /** the check that failed, as the reporter named it (absent when it gave no details) */
      readonly code?: BlameCode;
      readonly reason: string;
      /** why the reporter's culprit list was discarded (then `culprits` is empty) */
      readonly discarded?: string;
    })
  | (OutcomeBase<P> & {
      readonly status: 'failed';
      readonly failure: SessionFailureKind;
      /** the nodes at fault: the one that failed, or those still working when time ran out */
      readonly nodes: readonly string[];
      readonly reason: string;
      /** `rejected`: the refusing node's error code (e.g. `share-stale`: the wallet needs a refresh first) */
      readonly code?: RpcErrorCode;
    });

/**
 * An abort's reason followed by its code, `reason [code]`, as the coordinator's log lines and error
 * messages give it (the reason is the node's text; the code is from the closed list).
 */
export function abortReason(o: { readonly reason: string; readonly code?: BlameCode | undefined }): string {
  return o.code === undefined ? o.reason : `${o.reason} [${o.code}]`;
}

/** What wallets, the pool and start-up need of an orchestrator (tests put a fake here). */
export interface SessionRunner {
  run<P extends ProtocolName>(spec: SessionSpec<P>): Promise<SessionOutcome<P>>;
}

export interface OrchestratorOptions {
  log?: Logger;
  /** deadlines per protocol, overriding the defaults */
  timeoutsMs?: Partial<Record<ProtocolName, number>>;
  /** how long an `abort` request may take (it is not awaited by the caller) */
  abortTimeoutMs?: number;
  /** observer of every finished session (metrics) */
  onOutcome?: (outcome: SessionOutcome) => void;
  /** keeps the confirmation broadcasts relayed here: evidence a node left pending may lack (resolver.ts) */
  confirmations?: ConfirmationLedger;
}

function newSessionId(protocol: ProtocolName): string {
  return `${protocol}_${randomBytes(18).toString('base64url')}`;
}

/** Programming errors in a spec are bugs, not outcomes. */
function checkSpec(spec: SessionSpec<ProtocolName>): void {
  const { protocol, parties, participants } = spec;
  if (participants.some((l, k) => k > 0 && l.index <= (participants[k - 1] as NodeLink).index)) {
    throw new RangeError('participants must be sorted by index, without repeats');
  }
  for (const l of participants) {
    if (parties[l.index] !== l.nodeId) throw new RangeError(`participant ${l.nodeId} is not party ${l.index}`);
  }
  if (protocol === 'presign') {
    if (participants.length < 2) throw new RangeError('presign needs at least two signers');
  } else if (participants.length !== parties.length) {
    throw new RangeError(`${protocol} needs every party`);
  }
  if ((protocol === 'aux') !== (spec.walletId === undefined))
    throw new RangeError(protocol === 'aux' ? 'aux takes no walletId' : `${protocol} needs a walletId`);
}

export class Orchestrator implements SessionRunner {
  private readonly log: Logger;
  /** scopes (wallet ids, 'aux') of the sessions running here, with how many */
  private readonly active = new Map<string, number>();

  constructor(private readonly options: OrchestratorOptions = {}) {
    this.log = (options.log ?? silentLogger()).child({ component: 'orchestrator' });
  }

  /** Whether a session of `scope` (a wallet id, or 'aux') runs here, its finalizing included. */
  busy(scope: string): boolean {
    return this.active.has(scope);
  }

  /** Runs the session to its end; never rejects except on a bad spec (a bug). */
  async run<P extends ProtocolName>(spec: SessionSpec<P>): Promise<SessionOutcome<P>> {
    checkSpec(spec);
    const timeoutMs =
      spec.timeoutMs ?? this.options.timeoutsMs?.[spec.protocol] ?? DEFAULT_SESSION_TIMEOUTS_MS[spec.protocol];
    const sessionId = spec.sessionId ?? newSessionId(spec.protocol);
    const log = this.log.child({ sessionId, protocol: spec.protocol });
    log.info({ participants: spec.participants.map((l) => l.nodeId), walletId: spec.walletId }, 'session starting');
    const scope = spec.walletId ?? 'aux';
    this.active.set(scope, (this.active.get(scope) ?? 0) + 1);
    let outcome: SessionOutcome<P>;
    try {
      outcome = await new SessionRun(
        spec,
        sessionId,
        timeoutMs,
        this.options.abortTimeoutMs ?? 5_000,
        log,
        this.options.confirmations,
      ).run();
    } finally {
      const left = (this.active.get(scope) ?? 1) - 1;
      if (left > 0) this.active.set(scope, left);
      else this.active.delete(scope);
    }
    if (outcome.status === 'done') log.info({ durationMs: outcome.durationMs }, 'session done');
    else if (outcome.status === 'aborted')
      log.warn(
        { reportedBy: outcome.reportedBy, culprits: outcome.culprits, code: outcome.code, reason: outcome.reason },
        'session aborted',
      );
    else log.warn({ failure: outcome.failure, nodes: outcome.nodes, reason: outcome.reason }, 'session failed');
    this.options.onOutcome?.(outcome);
    return outcome;
  }
}

const sessionAnswer = sessionUpdateSchema;
const abortAnswer = z.object({}).strict();

/** Resolves when every promise has settled, or after `ms`, whichever comes first. */
function settledWithin(promises: readonly Promise<unknown>[], ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
    timer.unref();
  });
  return Promise.race([Promise.allSettled(promises).then(() => undefined), late]).finally(() => clearTimeout(timer));
}

/** The state of one session while it runs. */
class SessionRun<P extends ProtocolName> {
  private readonly started = Date.now();
  private readonly deadline: number;
  private readonly byIndex = new Map<number, NodeLink>();
  /** envelopes waiting for each participant (by index), in arrival order */
  private readonly queues = new Map<number, string[]>();
  /** participants with a request outstanding */
  private readonly inFlight = new Set<number>();
  private readonly results = new Map<number, ResultOf<P>>();
  private readonly nonces = new Map<number, string>();
  private readonly states = new Map<number, string>();
  private readonly sessionKeys = new Map<number, { key: string; signature: string }>();
  /** every participant's `prepare` request, settled or not (aborts wait for them) */
  private readonly prepares: Promise<void>[] = [];
  private openPrepares = 0;
  /** the sid every envelope of this session carries, derived as the nodes derive it (src/protocol/session-id.ts) */
  private sid: Uint8Array | undefined;
  /** every party's signed confirmation, as each node that reported done gave it (committing protocols; unchecked here) */
  private readonly evidence: string[][] = [];
  private settled = false;
  private finish: (o: SessionOutcome<P>) => void = () => undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly spec: SessionSpec<P>,
    private readonly sessionId: string,
    timeoutMs: number,
    private readonly abortTimeoutMs: number,
    private readonly log: Logger,
    private readonly confirmations?: ConfirmationLedger,
  ) {
    this.deadline = this.started + timeoutMs;
    for (const l of spec.participants) {
      this.byIndex.set(l.index, l);
      this.queues.set(l.index, []);
    }
  }

  run(): Promise<SessionOutcome<P>> {
    return new Promise((resolve) => {
      this.finish = resolve;
      this.timer = setTimeout(() => this.onDeadline(), Math.max(0, this.deadline - Date.now()));
      this.prepare();
    });
  }

  private remaining(): number {
    return Math.max(1, this.deadline - Date.now());
  }

  private base(): OutcomeBase<P> {
    return { sessionId: this.sessionId, protocol: this.spec.protocol, durationMs: Date.now() - this.started };
  }

  /** One request; the answer (or failure) is handled only while the session is still open. */
  private send<S extends z.ZodType>(
    link: NodeLink,
    req: Request,
    schema: S,
    onAnswer: (a: z.output<S>) => void,
  ): Promise<void> {
    this.inFlight.add(link.index);
    return callNode(link, req, schema, this.remaining()).then(
      (answer) => {
        this.inFlight.delete(link.index);
        if (!this.settled) onAnswer(answer);
      },
      (e: unknown) => {
        this.inFlight.delete(link.index);
        if (!this.settled) this.failNode(link, e);
      },
    );
  }

  private prepare(): void {
    const { protocol, parties, walletId } = this.spec;
    const signers = protocol === 'presign' ? { signers: this.spec.participants.map((l) => l.index) } : {};
    const req: Request = {
      v: RPC_VERSION,
      method: 'prepare',
      sessionId: this.sessionId,
      protocol,
      parties: [...parties],
      ...(walletId === undefined ? {} : { walletId }),
      ...signers,
      ...(this.spec.reshare === undefined ? {} : { reshare: this.spec.reshare }),
      ...(this.spec.auxEpoch === undefined ? {} : { auxEpoch: this.spec.auxEpoch }),
    };
    for (const link of this.spec.participants) {
      const sent = this.send(link, req, prepareResponseSchema, ({ nonce, state, sessionKey }) => {
        this.nonces.set(link.index, nonce);
        this.states.set(link.index, state);
        this.sessionKeys.set(link.index, sessionKey);
        if (this.nonces.size === this.spec.participants.length) this.start();
      });
      this.openPrepares++;
      this.prepares.push(sent.finally(() => this.openPrepares--));
    }
  }

  private start(): void {
    const nonces = this.spec.participants.map((l) => this.nonces.get(l.index) as string);
    const states = this.spec.participants.map((l) => this.states.get(l.index) as string);
    if (new Set(states).size > 1) {
      // Different epochs, aux-info or key shares: no proof can tell who is right, so nobody is
      // blamed; the nodes that differ from the most common state are named for the operator.
      const counts = new Map<string, number>();
      for (const st of states) counts.set(st, (counts.get(st) ?? 0) + 1);
      const top = Math.max(...counts.values());
      const common = [...counts].filter(([, c]) => c === top);
      const odd =
        common.length === 1
          ? this.spec.participants
              .filter((l) => this.states.get(l.index) !== (common[0] as [string, number])[0])
              .map((l) => l.nodeId)
          : [];
      return this.fail(
        'state-mismatch',
        odd,
        `state mismatch: participants hold different epochs, aux-info or key shares${odd.length ? ` (differing: ${odd.join(', ')})` : ''}`,
      );
    }
    const { protocol, parties, walletId } = this.spec;
    const sessionKeys = this.spec.participants.map(
      (l) => this.sessionKeys.get(l.index) as { key: string; signature: string },
    );
    const participants = this.spec.participants.map((l) => l.index);
    this.sid = deriveSessionId({
      protocol,
      sessionId: this.sessionId,
      parties,
      walletId,
      participants,
      nonces,
      state: states[0] as string,
      sessionKeys: sessionKeys.map((k) => k.key),
    });
    for (const link of this.spec.participants) {
      void this.send(
        link,
        { v: RPC_VERSION, method: 'start', sessionId: this.sessionId, nonces, states, sessionKeys },
        sessionAnswer,
        (u) => this.onUpdate(link, u),
      );
    }
  }

  /**
   * Where an envelope goes, from its header (signed by its sender; the recipient checks the
   * signature): the outer `to` must agree with it, the sender must be the node that sent it, and
   * every envelope of the session must carry the same protocol and sid.
   */
  private route(from: NodeLink, to: number | 'all', envelope: string): number[] | string {
    let d: DecodedEnvelope;
    try {
      d = decodeEnvelope(Buffer.from(envelope, 'base64'));
    } catch (e) {
      return `${from.nodeId} sent an envelope that does not decode (${(e as Error).message})`;
    }
    if (d.from !== from.index) return `${from.nodeId} sent an envelope from party ${d.from}`;
    // checked against the derived sid, never the first envelope seen: a participant replaying an
    // old envelope first must not make the honest ones look foreign
    if (!this.sid || !equalBytes(d.sid, this.sid) || d.protocol !== `mpc-engine/${this.spec.protocol}`)
      return `${from.nodeId} sent an envelope of another session`;
    if (d.to !== to) return `${from.nodeId} addressed an envelope to ${String(to)} whose header names ${String(d.to)}`;
    if (d.to === 'all') {
      if (COMMITTING.has(this.spec.protocol)) this.confirmations?.offer(envelope);
      return [...this.byIndex.keys()].filter((j) => j !== from.index);
    }
    if (!this.byIndex.has(d.to)) return `${from.nodeId} addressed a message to ${d.to}, not another participant`;
    return [d.to];
  }

  private onUpdate(from: NodeLink, u: SessionUpdate): void {
    // Route first: a node's last answer (done) may still carry messages the others need.
    for (const { to, envelope } of u.outbox) {
      const targets = this.route(from, to, envelope);
      if (typeof targets === 'string') return this.fail('invalid-response', [from.nodeId], targets);
      for (const j of targets) this.enqueue(j, envelope);
    }
    if (u.status === 'aborted') {
      const abort: { culprits: readonly number[]; code?: BlameCode; reason: string } = u.abort ?? {
        culprits: [],
        reason: 'no reason given',
      };
      // only other participants, each once: anything else is discarded whole and held against the reporter (quarantine.ts)
      const screened = screenCulprits(abort.culprits, from.index, [...this.byIndex.keys()]);
      const culprits = screened.culprits.map((index) => ({ index, nodeId: this.spec.parties[index] }));
      const discarded = screened.invalid === undefined ? {} : { discarded: screened.invalid };
      return this.settle(
        {
          ...this.base(),
          status: 'aborted',
          reportedBy: from.nodeId,
          culprits,
          ...(abort.code === undefined ? {} : { code: abort.code }),
          reason: abort.reason,
          ...discarded,
        },
        from.index,
      );
    }
    if (u.status === 'done') {
      const result = u.result;
      if (!result || result.protocol !== this.spec.protocol)
        return this.fail(
          'invalid-response',
          [from.nodeId],
          `${from.nodeId} reported done without a ${this.spec.protocol} result`,
        );
      if ('walletId' in result && result.walletId !== this.spec.walletId)
        return this.fail('invalid-response', [from.nodeId], `${from.nodeId} reported a result for another wallet`);
      if (COMMITTING.has(this.spec.protocol)) {
        if (!u.evidence || u.evidence.length !== this.spec.parties.length)
          return this.fail(
            'invalid-response',
            [from.nodeId],
            `${from.nodeId} reported done without the confirmations it committed on`,
          );
        // a lying node may report first with bogus evidence: keep every node's, each is tried
        if (!this.evidence.some((e) => e.join() === u.evidence?.join())) this.evidence.push([...u.evidence]);
      }
      this.results.set(from.index, result as ResultOf<P>);
      this.queues.set(from.index, []); // a finished node needs nothing more
      if (this.results.size === this.byIndex.size) return this.complete();
    }
    this.pump();
  }

  private enqueue(index: number, envelope: string): void {
    if (this.results.has(index)) return;
    (this.queues.get(index) as string[]).push(envelope);
  }

  /** Send each idle node what is waiting for it; detect a session that can no longer move. */
  private pump(): void {
    for (const [index, queue] of this.queues) {
      if (queue.length === 0 || this.inFlight.has(index) || this.results.has(index)) continue;
      const envelopes = queue.splice(0, MAX_ENVELOPES_PER_DELIVER);
      const link = this.byIndex.get(index) as NodeLink;
      void this.send(
        link,
        { v: RPC_VERSION, method: 'deliver', sessionId: this.sessionId, envelopes },
        sessionAnswer,
        (u) => this.onUpdate(link, u),
      );
    }
    if (this.inFlight.size === 0 && !this.settled) {
      const waiting = this.spec.participants.filter((l) => !this.results.has(l.index)).map((l) => l.nodeId);
      this.fail('stalled', waiting, `no messages left to deliver but ${waiting.join(', ')} not done`);
    }
  }

  private complete(): void {
    const results = [...this.results.values()];
    const first = JSON.stringify(results[0]);
    const differing = this.spec.participants.filter((l) => JSON.stringify(this.results.get(l.index)) !== first);
    if (differing.length > 0) {
      return this.fail(
        'inconsistent',
        this.spec.participants.map((l) => l.nodeId),
        'participants reported different results',
      );
    }
    const state = this.states.get((this.spec.participants[0] as NodeLink).index);
    this.settle({
      ...this.base(),
      status: 'done',
      result: results[0] as ResultOf<P>,
      participants: this.spec.participants.map((l) => l.nodeId),
      ...(state === undefined ? {} : { state }),
    });
  }

  private onDeadline(): void {
    if (this.settled) return;
    const slow = [...this.inFlight].map((i) => (this.byIndex.get(i) as NodeLink).nodeId);
    const nodes =
      slow.length > 0 ? slow : this.spec.participants.filter((l) => !this.results.has(l.index)).map((l) => l.nodeId);
    this.fail('timeout', nodes, `session timed out waiting for ${nodes.join(', ')}`);
  }

  private failNode(link: NodeLink, e: unknown): void {
    const err = e instanceof NodeCallError ? e : linkFailure(link, e);
    this.fail(err.kind, [link.nodeId], err.message, err.code);
  }

  private fail(failure: SessionFailureKind, nodes: readonly string[], reason: string, code?: RpcErrorCode): void {
    this.settle({ ...this.base(), status: 'failed', failure, nodes, reason, ...(code === undefined ? {} : { code }) });
  }

  /** Ends the session; every participant but `skip` (which already dropped it) is told to abort. */
  private settle(outcome: SessionOutcome<P>, skip?: number): void {
    if (this.settled) return;
    this.settled = true;
    clearTimeout(this.timer);
    if (outcome.status === 'done') return this.finish(outcome);
    // Only once every prepare has settled (or the abort timeout passed: the node also refuses a
    // prepare that arrives after its abort): an abort that overtakes a node's prepare would find
    // nothing to drop there, and the prepare would then hold its session and scope until the TTL.
    const abort = (link: NodeLink): Promise<unknown> =>
      callNode(link, { v: RPC_VERSION, method: 'abort', sessionId: this.sessionId }, abortAnswer, this.abortTimeoutMs);
    const prepared = this.openPrepares === 0 ? undefined : settledWithin(this.prepares, this.abortTimeoutMs);
    const aborts = this.spec.participants
      .filter((link) => link.index !== skip)
      .map((link) =>
        (prepared ? prepared.then(() => abort(link)) : abort(link)).catch((e: unknown) =>
          this.log.debug({ node: link.nodeId, err: (e as Error).message }, 'abort not delivered'),
        ),
      );
    if (this.evidence.length === 0) return this.finish(outcome);
    // Someone committed: the others must too (their pending state matches the evidence, or the
    // evidence would not exist), whatever ended the session for them.
    void Promise.all(aborts).then(() => this.finalizeLaggards(outcome));
  }

  private async finalizeLaggards(outcome: SessionOutcome<P>): Promise<void> {
    const scope = this.spec.walletId ?? 'aux';
    const laggards = this.spec.participants.filter((l) => !this.results.has(l.index));
    this.log.warn(
      {
        laggards: laggards.map((l) => l.nodeId),
        ended: outcome.status === 'aborted' ? abortReason(outcome) : outcome.status === 'failed' ? outcome.reason : '',
      },
      'session ended after a commit: finalizing the others',
    );
    await Promise.all(
      laggards.map(async (link) => {
        for (const envelopes of this.evidence) {
          try {
            const { result } = await callNode(
              link,
              { v: RPC_VERSION, method: 'finalize', scope, envelopes },
              finalizeResponseSchema,
              Math.max(this.abortTimeoutMs, 10_000),
            );
            this.results.set(link.index, result as ResultOf<P>);
            return;
          } catch (e) {
            this.log.error(
              { node: link.nodeId, err: (e as Error).message },
              'finalize failed: the node keeps its pending state until evidence reaches it',
            );
          }
        }
      }),
    );
    if (this.results.size === this.byIndex.size) {
      const results = [...this.results.values()];
      const first = JSON.stringify(results[0]);
      if (results.every((r) => JSON.stringify(r) === first)) {
        return this.finish({
          ...this.base(),
          status: 'done',
          result: results[0] as ResultOf<P>,
          participants: this.spec.participants.map((l) => l.nodeId),
        });
      }
    }
    this.finish(outcome);
  }
}
