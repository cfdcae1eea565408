/** Keygen round 2: receive every V_j, broadcast the echo h_i = H(sid, V_0 … V_{n−1}). */
import { encodeHash, receiveCommitments } from '../common.js';
import { BaseRound, collect, guarded, type Msg, type Step } from '../machine.js';
import type { KeyShare } from '../keyshare.js';
import { ROUND } from './messages.js';
import { parties } from './params.js';
import type { Round1State } from './round1.js';
import { Round3 } from './round3.js';

export interface Round2State extends Round1State {
  /** V_j of every party (own included) */
  readonly commitments: readonly Uint8Array[];
  /** h_i */
  readonly echo: Uint8Array;
}

export class Round2 extends BaseRound<KeyShare> {
  readonly expects = [{ round: ROUND.commit, broadcast: true }];

  constructor(private readonly s: Round1State) {
    super();
  }

  get me(): number {
    return this.s.params.i;
  }

  protected run(inbox: readonly Msg[]): Step<KeyShare> {
    return guarded(() => {
      const { sid, n, i } = this.s.params;
      const got = collect(i, parties(n), this.expects, inbox).get(ROUND.commit) as Map<number, Uint8Array>;
      const { commitments, echo } = receiveCommitments(sid, n, i, this.s.V, ROUND.commit, got);
      const outbox: Msg[] = [{ from: i, to: 'all', round: ROUND.echo, body: encodeHash(echo) }];
      return { kind: 'next', round: new Round3({ ...this.s, commitments, echo }), outbox };
    });
  }
}
