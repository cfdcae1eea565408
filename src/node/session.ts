/**
 * One protocol session at a node: a chain of pure protocol rounds (src/protocol) fed by sealed
 * envelopes the coordinator relays. Incoming envelopes are opened (signature, session, sender,
 * recipient, decryption: src/envelope/envelope.ts) and buffered until the current round has a
 * message from every other participant; outgoing messages are sealed once. Any envelope that
 * fails to open aborts the session: a relay that alters, swaps, replays or injects a message
 * gets an abort, never a different result.
 *
 * Protocols that end in a confirmation round (aux-info, keygen, refresh) make state every node must
 * switch to together: their output is handed to `stage` (stored as pending) before our
 * confirmation is sealed, and to `finish` only with every party's signed confirmation envelope —
 * the evidence src/node/lifecycle.ts commits on, and which the coordinator may replay to a node
 * that missed the last message.
 * @module
 */
import type { KeyObject } from 'node:crypto';
import { EnvelopeError, EnvelopeSession, type PartyIdentity } from '../envelope/envelope.js';
import { sendersOf, type Abort, type Msg, type Round, type Step } from '../protocol/machine.js';
import { ConfirmRound } from '../protocol/confirm.js';
import type { ProtocolName, SessionResult, SessionUpdate } from '../rpc/messages.js';
import { PROTOCOL_SCHEDULES } from './rounds.js';
import { takeSessionKey, type SessionKeyPair } from './session-key.js';

export interface SessionOptions<O> {
  readonly protocol: ProtocolName;
  readonly sid: Uint8Array;
  /** the participants, by protocol index, with their pinned identity keys */
  readonly parties: readonly PartyIdentity[];
  readonly me: number;
  readonly privateKey: KeyObject;
  /** every participant's session public key, in `parties` order */
  readonly sessionKeys: readonly KeyObject[];
  /** my session key pair: its private half is taken (the holder emptied) and dropped when the session ends */
  readonly sessionKey: SessionKeyPair;
  /** round 1 (run by start()) */
  readonly begin: () => Step<O>;
  /** store the output as pending before our confirmation leaves (protocols ending in a confirmation round) */
  /**
   * `envelope`: our own signed confirmation, sealed but not yet sent: kept with the pending state so
   * the node can hand it over later (a coordinator that lost the run gathers every party's from the
   * parties themselves, src/coordinator/resolver.ts)
   */
  readonly stage?: (
    output: O,
    confirmation: {
      readonly round: string;
      readonly c: Uint8Array;
      readonly envelope: Uint8Array | undefined;
      /**
       * whether the session still runs: checked by the stage under the scope's lock, so a session
       * cancelled while its stage waited for the lock (an abandonment of its run) stores nothing
       */
      readonly live: () => boolean;
    },
  ) => Promise<void>;
  /**
   * persist the output durably, then describe it publicly; runs before the session reports done.
   * `evidence`: every party's signed confirmation envelope, in party order (confirmation protocols).
   */
  readonly finish: (output: O, evidence: readonly Uint8Array[] | undefined) => Promise<SessionResult>;
}

type Outbox = SessionUpdate['outbox'];

export class NodeSession<O> {
  private readonly envelopes: EnvelopeSession;
  private round: Round<O> | undefined;
  private buffer: Msg[] = [];
  private state: 'new' | 'running' | 'done' | 'aborted' = 'new';
  private abortInfo: Abort | undefined;
  private result: SessionResult | undefined;
  private evidence: readonly Uint8Array[] | undefined;
  /** the confirmation round, once entered, and every party's sealed confirmation (ours included) */
  private confirm: { round: string; envelopes: Map<number, Uint8Array> } | undefined;
  /** sealed broadcast envelopes received before we entered the confirmation round, by round and sender */
  private readonly early = new Map<string, Uint8Array>();

  constructor(private readonly o: SessionOptions<O>) {
    this.envelopes = new EnvelopeSession({
      sid: o.sid,
      protocol: `mpc-engine/${o.protocol}`,
      parties: o.parties,
      me: o.me,
      myPrivateKey: o.privateKey,
      sessionKeys: o.sessionKeys,
      mySessionKey: takeSessionKey(o.sessionKey),
    });
  }

  get status(): 'running' | 'done' | 'aborted' {
    return this.state === 'new' ? 'running' : this.state;
  }

  /** Run round 1 and return its sealed messages. */
  async start(): Promise<SessionUpdate> {
    if (this.state !== 'new') throw new Error('session already started');
    this.state = 'running';
    const outbox: Outbox = [];
    await this.apply(
      this.guard(() => this.o.begin()),
      outbox,
    );
    return this.update(outbox);
  }

  /** Open, buffer and process envelopes; returns what to send next. */
  async deliver(sealed: readonly Uint8Array[]): Promise<SessionUpdate> {
    const outbox: Outbox = [];
    if (this.state !== 'running') return this.update(outbox);
    for (const bytes of sealed) {
      try {
        const opened = this.envelopes.open(bytes, PROTOCOL_SCHEDULES[this.o.protocol].rounds);
        if (opened.status === 'accepted') {
          this.buffer.push(opened.msg);
          if (opened.msg.to === 'all') this.keepBroadcast(opened.msg, opened.envelope);
        }
      } catch (e) {
        if (!(e instanceof EnvelopeError)) throw e;
        return this.fail({
          culprits: e.culprit === undefined ? [] : [e.culprit],
          code: 'envelope-rejected',
          reason: `envelope rejected (${e.code})`,
        });
      }
    }
    while (this.state === 'running' && this.round && this.ready(this.round)) {
      const round = this.round;
      const names = new Set(round.expects.map((e) => e.round));
      const inbox = this.buffer.filter((m) => names.has(m.round));
      this.buffer = this.buffer.filter((m) => !names.has(m.round));
      await this.apply(
        this.guard(() => round.handle(inbox)),
        outbox,
      );
    }
    return this.update(outbox);
  }

  /** The coordinator gave up on the session (timeout elsewhere): drop all state. */
  cancel(): void {
    if (this.state === 'running' || this.state === 'new')
      this.fail({ culprits: [], code: 'cancelled', reason: 'cancelled by the coordinator' });
    this.round = undefined;
    this.buffer = [];
  }

  private ready(round: Round<O>): boolean {
    const all = this.o.parties.map((p) => p.index);
    return round.expects.every((e) =>
      sendersOf(e, all, this.o.me).every((j) => this.buffer.some((m) => m.round === e.round && m.from === j)),
    );
  }

  /** A bug inside a round must not leave a half-run session: abort it (no culprit) and rethrow nothing. */
  private guard(run: () => Step<O>): Step<O> {
    try {
      return run();
    } catch (e) {
      return {
        kind: 'abort',
        abort: { culprits: [], code: 'internal-error', reason: `internal error: ${(e as Error).message}` },
      };
    }
  }

  /** A confirmation-round envelope is evidence: keep the sealed bytes (others only until we know the round). */
  private keepBroadcast(msg: Msg, envelope: Uint8Array): void {
    if (this.confirm) {
      if (msg.round === this.confirm.round) this.confirm.envelopes.set(msg.from, envelope);
    } else {
      this.early.set(JSON.stringify([msg.round, msg.from]), envelope);
    }
  }

  private async apply(step: Step<O>, outbox: Outbox): Promise<void> {
    if (step.kind === 'abort') {
      this.fail(step.abort);
      return;
    }
    // sealed once, before the stage: our confirmation is stored with the pending state, and nothing leaves until the stage succeeded
    const sealed = step.outbox.map((m) => ({ m, sealed: this.envelopes.seal(m) }));
    if (step.kind === 'next' && step.round instanceof ConfirmRound) {
      const r = step.round as ConfirmRound<O>;
      const mine = sealed.find(({ m }) => m.to === 'all' && m.round === r.round)?.sealed;
      try {
        await this.o.stage?.(r.output, {
          round: r.round,
          c: r.mine,
          envelope: mine,
          live: () => this.state === 'running',
        });
      } catch (e) {
        this.fail({
          culprits: [],
          code: 'storage-failed',
          reason: `could not store the pending state: ${(e as Error).message}`,
        });
        return;
      }
      this.confirm = { round: r.round, envelopes: new Map() };
      for (const [key, env] of this.early) {
        const [round, from] = JSON.parse(key) as [string, number];
        if (round === r.round) this.confirm.envelopes.set(from, env);
      }
      this.early.clear();
    }
    for (const { m, sealed: env } of sealed) {
      if (this.confirm && m.to === 'all' && m.round === this.confirm.round) this.confirm.envelopes.set(this.o.me, env);
      outbox.push({ to: m.to, envelope: Buffer.from(env).toString('base64') });
    }
    if (step.kind === 'next') {
      this.round = step.round;
      return;
    }
    this.round = undefined;
    const evidence = this.confirm
      ? this.o.parties.map((p) => this.confirm?.envelopes.get(p.index) as Uint8Array)
      : undefined;
    if (evidence?.some((e) => e === undefined)) {
      // ends the session (and drops its session key) at once instead of at the idle timeout
      this.fail({ culprits: [], code: 'missing-message', reason: 'a confirmation envelope is missing' });
      return;
    }
    try {
      this.result = await this.o.finish(step.output, evidence);
      this.evidence = evidence;
    } catch (e) {
      this.fail({
        culprits: [],
        code: 'storage-failed',
        reason: `could not store the output: ${(e as Error).message}`,
      });
      return;
    }
    this.state = 'done';
    this.envelopes.dispose(); // forward secrecy: nothing left here opens this session's p2p bodies
  }

  private fail(a: Abort): SessionUpdate {
    this.state = 'aborted';
    this.envelopes.dispose();
    this.abortInfo = a;
    this.round = undefined;
    this.buffer = [];
    return this.update([]);
  }

  private update(outbox: Outbox): SessionUpdate {
    const u: { -readonly [K in keyof SessionUpdate]: SessionUpdate[K] } = {
      status: this.status,
      outbox: this.state === 'aborted' ? [] : outbox,
    };
    if (this.state === 'done' && this.result) u.result = this.result;
    if (this.state === 'done' && this.evidence)
      u.evidence = this.evidence.map((e) => Buffer.from(e).toString('base64'));
    if (this.state === 'aborted' && this.abortInfo)
      u.abort = {
        culprits: [...this.abortInfo.culprits],
        code: this.abortInfo.code,
        reason: this.abortInfo.reason.slice(0, 500),
      };
    return u;
  }
}
