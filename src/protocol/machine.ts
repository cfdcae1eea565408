/**
 * Round machinery shared by every protocol. A protocol is a chain of pure rounds:
 *   round.handle(inbox) → { next round, outbox } | { output } | { abort: culprits + code + reason }
 * with no I/O, clock or global state. A round can be handled once: handling it again is a bug
 * (a stale round must never be replayed), so it throws.
 *
 * Messages carry the sender, the recipient (a party index, or "all" for a broadcast), the round
 * name and an encoded body. `collect` enforces what every receiver checks before reading a body:
 * known sender ≠ self, one message per sender, the expected round and kind (broadcast vs p2p).
 * Each protocol states its rounds and their kinds once, in a `Schedule` (its messages.ts), which
 * its rounds and the envelope layer both read; every round extends `BaseRound`.
 * @module
 */
import type { ProofReason } from '../zk/errors.js';
import type { BlameCode } from './blame.js';

export type { BlameCode } from './blame.js';

/** A protocol message as the protocol layer sees it (transport adds signatures and encryption). */
export interface Msg {
  /** sender's party index */
  readonly from: number;
  /** recipient's party index, or "all" for a broadcast */
  readonly to: number | 'all';
  /** round name, e.g. "keygen/r1" */
  readonly round: string;
  /** encoded body (see each protocol's messages.ts) */
  readonly body: Uint8Array;
}

/** Identifiable abort: who misbehaved (possibly nobody identifiable) and which check failed. */
export interface Abort {
  readonly culprits: readonly number[];
  /** the failed check, from a closed list (src/util/blame-codes.ts) */
  readonly code: BlameCode;
  /** for people: the round and the detail */
  readonly reason: string;
  /** code `proof-invalid`: the check the proof failed */
  readonly proof?: ProofReason;
}

export type Step<O> =
  | { readonly kind: 'next'; readonly round: Round<O>; readonly outbox: readonly Msg[] }
  | { readonly kind: 'done'; readonly output: O; readonly outbox: readonly Msg[] }
  | { readonly kind: 'abort'; readonly abort: Abort };

/**
 * What a round waits for: a message of this round, broadcast or p2p, from each other party — or,
 * in a protocol whose parties play different roles (resharing), from each other party in `from`.
 */
export interface Expectation<R extends string = string> {
  readonly round: R;
  readonly broadcast: boolean;
  /** the parties that send this round (own index ignored); every party of the run when absent */
  readonly from?: readonly number[];
}

/** The other parties a round waits for on expectation `e`. */
export function sendersOf(e: Expectation, parties: readonly number[], me: number): number[] {
  return (e.from ?? parties).filter((j) => j !== me);
}

/** How a round's messages travel; a confirmation is a broadcast (src/protocol/confirm.ts). */
export type RoundKind = 'broadcast' | 'p2p' | 'confirmation';

/**
 * A protocol's round schedule, the one statement of its message rounds: each round in the order
 * the protocol sends it, broadcast or point to point, and which one carries the final
 * confirmation. The rounds take what they expect from it (`expects`), and the envelope layer
 * accepts exactly these rounds for the protocol's sessions (early ones are buffered).
 */
export class Schedule<R extends string = string> {
  /** every round, in protocol order */
  readonly rounds: readonly Expectation<R>[];
  /** the confirmation round (the last, a broadcast), or undefined for a protocol without one */
  readonly confirmation: R | undefined;

  constructor(steps: readonly (readonly [R, RoundKind])[]) {
    const names = new Set<string>();
    for (const [k, [round, kind]] of steps.entries()) {
      if (names.has(round)) throw new Error(`bug: round ${round} is scheduled twice`);
      if (kind === 'confirmation' && k !== steps.length - 1)
        throw new Error(`bug: confirmation round ${round} is not the last`);
      names.add(round);
    }
    this.rounds = steps.map(([round, kind]) => ({ round, broadcast: kind !== 'p2p' }));
    this.confirmation = steps.find(([, kind]) => kind === 'confirmation')?.[0];
  }

  /** What a round waiting for these rounds expects (their kinds as scheduled). */
  expects(...rounds: readonly R[]): readonly Expectation<R>[] {
    return rounds.map((round) => {
      const e = this.rounds.find((x) => x.round === round);
      if (!e) throw new Error(`bug: round ${round} is not in the schedule`);
      return e;
    });
  }
}

export interface Round<O> {
  /** this party's index */
  readonly me: number;
  /** messages the round needs from every other party */
  readonly expects: readonly Expectation[];
  handle(inbox: readonly Msg[]): Step<O>;
}

/**
 * What a round received once `collect` accepted it: exactly one body from every other party for
 * each round it expects. Asking for anything else is a bug in the round, not a peer's fault.
 */
export class Inbox {
  constructor(private readonly bodies: ReadonlyMap<string, ReadonlyMap<number, Uint8Array>>) {}

  /** Every other party's body for `round`, by sender. */
  all(round: string): ReadonlyMap<number, Uint8Array> {
    const got = this.bodies.get(round);
    if (!got) throw new Error(`bug: round ${round} was not expected`);
    return got;
  }

  /** Party j's body for `round` (j another party). */
  from(round: string, j: number): Uint8Array {
    const body = this.all(round).get(j);
    if (!body) throw new Error(`bug: no ${round} message from party ${j}`);
    return body;
  }
}

/**
 * Base class of every round. It holds the state `s` the earlier rounds kept, is single use, and
 * checks the inbox (`collect`) before the round reads it; a Blame thrown by the round becomes an
 * abort step. A round names its index (`me`) and the run's parties, declares what it expects
 * (from its protocol's Schedule) and implements `receive`.
 */
export abstract class BaseRound<O, S> implements Round<O> {
  private used = false;
  abstract readonly me: number;
  abstract readonly expects: readonly Expectation[];
  /** every party of the run, this one included */
  protected abstract readonly parties: readonly number[];

  constructor(protected readonly s: S) {}

  handle(inbox: readonly Msg[]): Step<O> {
    if (this.used) throw new Error('bug: a protocol round was handled twice');
    this.used = true;
    return guarded(() => this.receive(new Inbox(collect(this.me, this.parties, this.expects, inbox))));
  }

  /** The round's work on a checked inbox: the next round and its messages, the output, or Blame. */
  protected abstract receive(inbox: Inbox): Step<O>;
}

export function abort<O>(culprits: readonly number[], code: BlameCode, reason: string, proof?: ProofReason): Step<O> {
  const sorted = [...culprits].sort((a, b) => a - b);
  return { kind: 'abort', abort: { culprits: sorted, code, reason, ...(proof === undefined ? {} : { proof }) } };
}

/**
 * Thrown inside a round's body to abort; the round turns it into an abort step. `code` names the
 * failed check (a contract: the node reports it, tests match on it), `reason` says it for people
 * (round and detail).
 */
export class Blame extends Error {
  override readonly name = 'Blame';
  constructor(
    readonly culprits: readonly number[],
    readonly code: BlameCode,
    readonly reason: string,
    /** code `proof-invalid`: the check the proof failed */
    readonly proof?: ProofReason,
  ) {
    super(`abort: party ${culprits.join(', ')}: ${reason} (${code})`);
  }
}

/**
 * Sort an inbox into body[round][sender], checking that every other party in `parties` (or in the
 * expectation's `from`) sent exactly one message for each expectation, of the right kind and addressed to me. Messages for
 * other rounds are ignored by the caller's driver, never passed here. Throws Blame on violation.
 */
export function collect(
  me: number,
  parties: readonly number[],
  expects: readonly Expectation[],
  inbox: readonly Msg[],
): Map<string, Map<number, Uint8Array>> {
  const out = new Map<string, Map<number, Uint8Array>>();
  for (const e of expects) out.set(e.round, new Map());
  for (const m of inbox) {
    const slot = out.get(m.round);
    const exp = expects.find((e) => e.round === m.round);
    if (!slot || !exp) throw new Blame([m.from], 'unexpected-message', `unexpected message for round ${m.round}`);
    if (!parties.includes(m.from) || m.from === me)
      throw new Blame([], 'unknown-sender', `message from unknown or own index ${m.from}`);
    if (exp.from && !exp.from.includes(m.from))
      throw new Blame([m.from], 'unexpected-message', `${m.round}: sent by a party that does not send it`);
    if (exp.broadcast ? m.to !== 'all' : m.to !== me)
      throw new Blame([m.from], 'wrong-recipient', `${m.round}: wrong message kind or recipient`);
    if (slot.has(m.from)) throw new Blame([m.from], 'duplicate-message', `${m.round}: more than one message`);
    slot.set(m.from, m.body);
  }
  for (const e of expects) {
    const slot = out.get(e.round) as Map<number, Uint8Array>;
    const missing = sendersOf(e, parties, me).filter((j) => !slot.has(j));
    if (missing.length) throw new Blame(missing, 'missing-message', `${e.round}: missing message`);
  }
  return out;
}

/** Run a round body, turning Blame into an abort step. */
export function guarded<O>(body: () => Step<O>): Step<O> {
  try {
    return body();
  } catch (e) {
    if (e instanceof Blame) return abort(e.culprits, e.code, e.reason, e.proof);
    throw e;
  }
}
