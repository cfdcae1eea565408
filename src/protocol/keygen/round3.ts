/**
 * Keygen round 3: every echo must equal ours (else someone saw different commitments: abort);
 * then open the commitment to all and send σ_{i,j} to each P_j privately.
 */
import { checkEchoes } from '../common.js';
import { BaseRound, collect, guarded, type Msg, type Step } from '../machine.js';
import type { KeyShare } from '../keyshare.js';
import { ROUND, encodeDecommit, encodeScalar } from './messages.js';
import { parties } from './params.js';
import type { Round2State } from './round2.js';
import { Round4 } from './round4.js';

export class Round3 extends BaseRound<KeyShare> {
  readonly expects = [{ round: ROUND.echo, broadcast: true }];

  constructor(private readonly s: Round2State) {
    super();
  }

  get me(): number {
    return this.s.params.i;
  }

  protected run(inbox: readonly Msg[]): Step<KeyShare> {
    return guarded(() => {
      const { n, i } = this.s.params;
      const got = collect(i, parties(n), this.expects, inbox).get(ROUND.echo) as Map<number, Uint8Array>;
      checkEchoes(this.s.echo, ROUND.echo, got);
      const outbox: Msg[] = [{ from: i, to: 'all', round: ROUND.decommit, body: encodeDecommit(this.s.decommit) }];
      for (const j of parties(n)) {
        if (j !== i) outbox.push({ from: i, to: j, round: ROUND.share, body: encodeScalar(this.s.sigma[j] as bigint) });
      }
      return { kind: 'next', round: new Round4(this.s), outbox };
    });
  }
}
