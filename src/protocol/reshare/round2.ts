/**
 * Resharing round 2: receive every V_p, broadcast the echo h_p = H(setup, V_0 … V_{m−1}). The echo
 * covers the setup digest (sid, roles, old key, n', t'), not the sid alone: parties holding
 * different setups under one sid must stop at the echo, naming nobody, before any share leaves —
 * dealers holding a smaller t' than the receivers would otherwise deal polynomials that few enough
 * colluding receivers interpolate, and the later checks would blame honest parties.
 */
import { encodeHash, receiveCommitments } from '../common.js';
import type { Inbox, Msg, Step } from '../machine.js';
import { ReshareRound } from './base.js';
import { ROUND, SCHEDULE } from './messages.js';
import type { ReshareOutput } from './output.js';
import type { Round1State } from './round1.js';
import { Round3 } from './round3.js';

export interface Round2State extends Round1State {
  /** V_p of every position (own included, in order) */
  readonly commitments: readonly Uint8Array[];
  /** h_me */
  readonly echo: Uint8Array;
}

export class Round2 extends ReshareRound<Round1State> {
  readonly expects = SCHEDULE.expects(ROUND.commit);

  protected receive(inbox: Inbox): Step<ReshareOutput> {
    const { roles, me } = this.s.params;
    const { commitments, echo } = receiveCommitments(
      this.s.setup,
      roles.length,
      me,
      this.s.V,
      ROUND.commit,
      inbox.all(ROUND.commit),
    );
    const outbox: Msg[] = [{ from: me, to: 'all', round: ROUND.echo, body: encodeHash(echo) }];
    return { kind: 'next', round: new Round3({ ...this.s, commitments, echo }), outbox };
  }
}
