/**
 * Resharing round 3: every echo must equal ours (else someone saw different commitments: abort
 * before anything is opened); then open the commitment to all, and a dealer sends σ_{d,k} to each
 * receiver privately.
 */
import { checkEchoes } from '../common.js';
import type { Inbox, Msg, Step } from '../machine.js';
import { ROUND, SCHEDULE, encodeDecommit, encodeScalar } from './messages.js';
import { receivers } from './params.js';
import type { ReshareOutput } from './output.js';
import { ReshareRound } from './base.js';
import type { Round2State } from './round2.js';
import { Round4 } from './round4.js';

export class Round3 extends ReshareRound<Round2State> {
  readonly expects = SCHEDULE.expects(ROUND.echo);

  protected receive(inbox: Inbox): Step<ReshareOutput> {
    const { params, sigma, decommit, echo } = this.s;
    const { me, roles } = params;
    checkEchoes(echo, ROUND.echo, inbox.all(ROUND.echo));
    const outbox: Msg[] = [{ from: me, to: 'all', round: ROUND.decommit, body: encodeDecommit(decommit) }];
    if (sigma.length > 0) {
      for (const r of receivers(params)) {
        if (r === me) continue;
        const k = roles[r]?.new as number;
        outbox.push({ from: me, to: r, round: ROUND.share, body: encodeScalar(sigma[k] as bigint) });
      }
    }
    return { kind: 'next', round: new Round4(this.s), outbox };
  }
}
