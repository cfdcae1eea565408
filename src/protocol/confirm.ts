/**
 * Final confirmation round: before a protocol's output is released, every party broadcasts
 * c_i = H(sid, protocol, digest of what it saw and computed) and all c_j must equal c_i. This echoes
 * the last broadcast round (so a party that shows different messages to different parties leaves
 * nobody with an output) and is the all-parties agreement that irreversible decisions need
 * before any party's state changes. A party that aborted sends no confirmation, so the others never
 * finish.
 *
 * The output this round releases is not yet a new state: a node stores it as *pending* when it
 * sends its confirmation and switches to it only on the signed confirmations of every party
 * (src/node/lifecycle.ts), evidence it can hand to a peer that missed the last message.
 *
 * Blame: with echo broadcast before this round, honest parties hold identical broadcasts and so
 * identical c. When n − 1 confirmations agree (ours among them) and one differs, its signed sender
 * computed something else than every other party: it is named. Any other disagreement (we are the
 * odd one out, or no majority) names nobody.
 * @module
 */
import { BaseRound, Blame, type Expectation, type Inbox, type Schedule, type Step } from './machine.js';
import { allParties, decodeFrom, encodeHash, decodeHash } from './common.js';
import { echoMismatches } from './echo.js';
import { Transcript } from '../zk/transcript.js';

export const CONFIRM_TAG = 'mpc-engine/v1/confirm';

/** c = H(sid, protocol, digest parts). */
export function confirmation(sid: Uint8Array, protocol: string, parts: readonly Uint8Array[]): Uint8Array {
  return new Transcript(CONFIRM_TAG).bytes('sid', sid).text('protocol', protocol).byteList('parts', parts).digest('c');
}

interface ConfirmState<O> {
  readonly me: number;
  readonly n: number;
  readonly schedule: Schedule;
  /** the schedule's confirmation round */
  readonly round: string;
  readonly mine: Uint8Array;
  readonly output: O;
}

export class ConfirmRound<O> extends BaseRound<O, ConfirmState<O>> {
  get me(): number {
    return this.s.me;
  }

  protected get parties(): readonly number[] {
    return allParties(this.s.n);
  }

  get expects(): readonly Expectation[] {
    return this.s.schedule.expects(this.s.round);
  }

  /** the confirmation round's name */
  get round(): string {
    return this.s.round;
  }

  /** our confirmation c_i */
  get mine(): Uint8Array {
    return this.s.mine;
  }

  /** what the protocol outputs once every party confirmed (to be stored as pending first) */
  get output(): O {
    return this.s.output;
  }

  protected receive(inbox: Inbox): Step<O> {
    const { round, mine, n } = this.s;
    const theirs = new Map<number, Uint8Array>();
    for (const [j, body] of inbox.all(round))
      theirs.set(
        j,
        decodeFrom(j, round, () => decodeHash(body)),
      );
    const differ = echoMismatches(mine, theirs);
    if (differ.length > 0) {
      const culprits = differ.length === 1 && n >= 3 ? differ : [];
      throw new Blame(
        culprits,
        'confirmation-mismatch',
        `${round}: confirmation of party ${differ.join(', ')} differs from ours`,
      );
    }
    return { kind: 'done', output: this.s.output, outbox: [] };
  }
}

/** The step that sends our confirmation c on the schedule's confirmation round and waits for everyone's. */
export function confirmStep<O>(me: number, n: number, schedule: Schedule, c: Uint8Array, output: O): Step<O> {
  const round = schedule.confirmation;
  if (round === undefined) throw new Error('bug: the protocol has no confirmation round');
  return {
    kind: 'next',
    round: new ConfirmRound({ me, n, schedule, round, mine: c, output }),
    outbox: [{ from: me, to: 'all', round, body: encodeHash(c) }],
  };
}
