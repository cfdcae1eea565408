/**
 * Keygen round 3: every echo must equal ours (else someone saw different commitments: abort);
 * then open the commitment to all and send σ_{i,j} to each P_j privately.
 */
import { AllPartiesRound, checkEchoes } from '../common.js';
import type { Inbox, Msg, Step } from '../machine.js';
import type { KeyShare } from '../keyshare.js';
import { ROUND, SCHEDULE, encodeDecommit, encodeScalar } from './messages.js';
import { parties } from './params.js';
import type { Round2State } from './round2.js';
import { Round4 } from './round4.js';

export class Round3 extends AllPartiesRound<KeyShare, Round2State> {
  readonly expects = SCHEDULE.expects(ROUND.echo);

  protected receive(inbox: Inbox): Step<KeyShare> {
    const { n, i } = this.s.params;
    checkEchoes(this.s.echo, ROUND.echo, inbox.all(ROUND.echo));
    const outbox: Msg[] = [{ from: i, to: 'all', round: ROUND.decommit, body: encodeDecommit(this.s.decommit) }];
    for (const j of parties(n)) {
      if (j !== i) outbox.push({ from: i, to: j, round: ROUND.share, body: encodeScalar(this.s.sigma[j] as bigint) });
    }
    return { kind: 'next', round: new Round4(this.s), outbox };
  }
}
