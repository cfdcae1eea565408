/** Aux-info round 3: every echo must equal ours; then open the commitment to all. */
import { checkEchoes } from '../common.js';
import { BaseRound, collect, guarded, type Msg, type Step } from '../machine.js';
import type { AuxInfo } from '../aux-info.js';
import { ROUND, encodeDecommit } from './messages.js';
import { parties } from './params.js';
import type { Round2State } from './round2.js';
import { Round4 } from './round4.js';

export class Round3 extends BaseRound<AuxInfo> {
  readonly expects = [{ round: ROUND.echo, broadcast: true }];

  constructor(private readonly s: Round2State) {
    super();
  }

  get me(): number {
    return this.s.params.i;
  }

  protected run(inbox: readonly Msg[]): Step<AuxInfo> {
    return guarded(() => {
      const { n, i } = this.s.params;
      const got = collect(i, parties(n), this.expects, inbox).get(ROUND.echo) as Map<number, Uint8Array>;
      checkEchoes(this.s.echo, ROUND.echo, got);
      const outbox: Msg[] = [{ from: i, to: 'all', round: ROUND.decommit, body: encodeDecommit(this.s.decommit) }];
      return { kind: 'next', round: new Round4(this.s), outbox };
    });
  }
}
