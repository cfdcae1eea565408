/**
 * Final confirmation round: before a protocol's output is released, every party broadcasts
 * c_i = H(sid, protocol, digest of what it saw and computed) and all c_j must equal c_i. This echoes
 * the last broadcast round (so a party that shows different messages to different parties leaves
 * nobody with an output) and is the all-parties agreement that irreversible decisions need
 * (SECURITY.md A11). A party that aborted sends no confirmation, so the others never finish.
 * @module
 */
import { BaseRound, collect, guarded, type Msg, type Step } from './machine.js';
import { checkEchoes, encodeHash } from './common.js';
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
    private readonly round: string,
    private readonly mine: Uint8Array,
    private readonly output: O,
  ) {
    super();
    this.expects = [{ round, broadcast: true }];
  }

  protected run(inbox: readonly Msg[]): Step<O> {
    return guarded(() => {
      const got = collect(this.me, [...Array(this.n).keys()], this.expects, inbox).get(this.round) as Map<number, Uint8Array>;
      checkEchoes(this.mine, this.round, got);
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
