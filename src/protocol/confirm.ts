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
import { BaseRound, Blame, collect, guarded, type Msg, type Step } from './machine.js';
import { decodeFrom, encodeHash, decodeHash } from './common.js';
import { echoMismatches } from './echo.js';
import { Transcript } from '../zk/transcript.js';

export const CONFIRM_TAG = 'mpc-engine/v1/confirm';

/** c = H(sid, protocol, digest parts). */
export function confirmation(sid: Uint8Array, protocol: string, parts: readonly Uint8Array[]): Uint8Array {
  return new Transcript(CONFIRM_TAG).bytes('sid', sid).text('protocol', protocol).byteList('parts', parts).digest('c');
}

export class ConfirmRound<O> extends BaseRound<O> {
  readonly expects: readonly { round: string; broadcast: boolean }[];

  constructor(
    readonly me: number,
    private readonly n: number,
    /** the confirmation round's name */
    readonly round: string,
    /** our confirmation c_i */
    readonly mine: Uint8Array,
    /** what the protocol outputs once every party confirmed (to be stored as pending first) */
    readonly output: O,
  ) {
    super();
    this.expects = [{ round, broadcast: true }];
  }

  protected run(inbox: readonly Msg[]): Step<O> {
    return guarded(() => {
      const got = collect(this.me, [...Array(this.n).keys()], this.expects, inbox).get(this.round) as Map<number, Uint8Array>;
      const theirs = new Map<number, Uint8Array>();
      for (const [j, body] of got) theirs.set(j, decodeFrom(j, this.round, () => decodeHash(body)));
      const differ = echoMismatches(this.mine, theirs);
      if (differ.length > 0) {
        const culprits = differ.length === 1 && this.n >= 3 ? differ : [];
        throw new Blame(culprits, `${this.round}: confirmation of party ${differ.join(', ')} differs from ours`);
      }
      return { kind: 'done', output: this.output, outbox: [] };
    });
  }
}

/** The step that sends our confirmation and waits for everyone's. */
export function confirmStep<O>(me: number, n: number, round: string, c: Uint8Array, output: O): Step<O> {
  return {
    kind: 'next',
    round: new ConfirmRound(me, n, round, c, output),
    outbox: [{ from: me, to: 'all', round, body: encodeHash(c) }],
  };
}
