/**
 * Round machinery shared by every protocol. A protocol is a chain of pure rounds:
 *   round.handle(inbox) → { next round, outbox } | { output } | { abort: culprits + reason }
 * with no I/O, clock or global state. A round can be handled once: handling it again is a bug
 * (a stale round must never be replayed), so it throws.
 *
 * Messages carry the sender, the recipient (a party index, or "all" for a broadcast), the round
 * name and an encoded body. `collect` enforces what every receiver checks before reading a body:
 * known sender ≠ self, one message per sender, the expected round and kind (broadcast vs p2p).
 * @module
 */

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
  readonly reason: string;
}

export type Step<O> =
  | { readonly kind: 'next'; readonly round: Round<O>; readonly outbox: readonly Msg[] }
  | { readonly kind: 'done'; readonly output: O; readonly outbox: readonly Msg[] }
  | { readonly kind: 'abort'; readonly abort: Abort };

/** What a round waits for: from each other party, these rounds, broadcast or p2p. */
export interface Expectation {
  readonly round: string;
  readonly broadcast: boolean;
}

export interface Round<O> {
  /** this party's index */
  readonly me: number;
  /** messages the round needs from every other party */
  readonly expects: readonly Expectation[];
  handle(inbox: readonly Msg[]): Step<O>;
}

/** Base class: enforces single use. */
export abstract class BaseRound<O> implements Round<O> {
  private used = false;
  abstract readonly me: number;
  abstract readonly expects: readonly Expectation[];

  handle(inbox: readonly Msg[]): Step<O> {
    if (this.used) throw new Error('bug: a protocol round was handled twice');
    this.used = true;
    return this.run(inbox);
  }

  protected abstract run(inbox: readonly Msg[]): Step<O>;
}

export function abort<O>(culprits: readonly number[], reason: string): Step<O> {
  return { kind: 'abort', abort: { culprits: [...culprits].sort((a, b) => a - b), reason } };
}

/** Thrown inside a round's body to abort; the round turns it into an abort step. */
export class Blame extends Error {
  override readonly name = 'Blame';
  constructor(
    readonly culprits: readonly number[],
    readonly reason: string,
  ) {
    super(`abort: party ${culprits.join(', ')}: ${reason}`);
  }
}

/**
 * Sort an inbox into body[round][sender], checking that every other party in `parties` sent
 * exactly one message for each expectation, of the right kind and addressed to me. Messages for
 * other rounds are ignored by the caller's driver, never passed here. Throws Blame on violation.
 */
export function collect(me: number, parties: readonly number[], expects: readonly Expectation[], inbox: readonly Msg[]): Map<string, Map<number, Uint8Array>> {
  const out = new Map<string, Map<number, Uint8Array>>();
  for (const e of expects) out.set(e.round, new Map());
  for (const m of inbox) {
    const slot = out.get(m.round);
    const exp = expects.find((e) => e.round === m.round);
    if (!slot || !exp) throw new Blame([m.from], `unexpected message for round ${m.round}`);
    if (!parties.includes(m.from) || m.from === me) throw new Blame([], `message from unknown or own index ${m.from}`);
    if (exp.broadcast ? m.to !== 'all' : m.to !== me) throw new Blame([m.from], `${m.round}: wrong message kind or recipient`);
    if (slot.has(m.from)) throw new Blame([m.from], `${m.round}: more than one message`);
    slot.set(m.from, m.body);
  }
  for (const e of expects) {
    const slot = out.get(e.round) as Map<number, Uint8Array>;
    const missing = parties.filter((j) => j !== me && !slot.has(j));
    if (missing.length) throw new Blame(missing, `${e.round}: missing message`);
  }
  return out;
}

/** Run a round body, turning Blame into an abort step. */
export function guarded<O>(body: () => Step<O>): Step<O> {
  try {
    return body();
  } catch (e) {
    if (e instanceof Blame) return abort(e.culprits, e.reason);
    throw e;
  }
}
