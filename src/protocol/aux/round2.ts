/** Aux-info round 2: receive every V_j, broadcast the echo h_i. */
import { encodeHash, receiveCommitments } from '../common.js';
import { BaseRound, collect, guarded, type Msg, type Step } from '../machine.js';
import type { AuxInfo } from '../aux-info.js';
import { ROUND } from './messages.js';
import { parties } from './params.js';
import type { Round1State } from './round1.js';
import { Round3 } from './round3.js';

export interface Round2State extends Round1State {
  readonly commitments: readonly Uint8Array[];
  readonly echo: Uint8Array;
}

export class Round2 extends BaseRound<AuxInfo> {
  readonly expects = [{ round: ROUND.commit, broadcast: true }];

  constructor(private readonly s: Round1State) {
    super();
  }

  get me(): number {
    return this.s.params.i;
  }

  protected run(inbox: readonly Msg[]): Step<AuxInfo> {
    return guarded(() => {
      const { sid, n, i } = this.s.params;
      const got = collect(i, parties(n), this.expects, inbox).get(ROUND.commit) as Map<number, Uint8Array>;
      const { commitments, echo } = receiveCommitments(sid, n, i, this.s.V, ROUND.commit, got);
      const outbox: Msg[] = [{ from: i, to: 'all', round: ROUND.echo, body: encodeHash(echo) }];
      return { kind: 'next', round: new Round3({ ...this.s, commitments, echo }), outbox };
    });
  }
}
