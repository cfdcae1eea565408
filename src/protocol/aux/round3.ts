/** Aux-info round 3: every echo must equal ours; then open the commitment to all. */
import { AllPartiesRound, checkEchoes } from '../common.js';
import type { Inbox, Msg, Step } from '../machine.js';
import type { AuxInfo } from '../aux-info.js';
import { ROUND, SCHEDULE, encodeDecommit } from './messages.js';
import type { Round2State } from './round2.js';
import { Round4 } from './round4.js';

export class Round3 extends AllPartiesRound<AuxInfo, Round2State> {
  readonly expects = SCHEDULE.expects(ROUND.echo);

  protected receive(inbox: Inbox): Step<AuxInfo> {
    const { i } = this.s.params;
    checkEchoes(this.s.echo, ROUND.echo, inbox.all(ROUND.echo));
    const outbox: Msg[] = [{ from: i, to: 'all', round: ROUND.decommit, body: encodeDecommit(this.s.decommit) }];
    return { kind: 'next', round: new Round4(this.s), outbox };
  }
}
