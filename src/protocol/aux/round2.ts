/** Aux-info round 2: receive every V_j, broadcast the echo h_i. */
import { CommitEchoRound, type EchoedState } from '../commit-echo.js';
import type { AuxInfo } from '../aux-info.js';
import { ROUND, SCHEDULE } from './messages.js';
import type { Round1State } from './round1.js';
import { Round3 } from './round3.js';

export type Round2State = EchoedState<Round1State>;

export class Round2 extends CommitEchoRound<AuxInfo, Round1State> {
  protected readonly schedule = SCHEDULE;
  protected readonly names = ROUND;

  protected next(s: Round2State): Round3 {
    return new Round3(s);
  }
}
