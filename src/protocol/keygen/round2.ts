/** Keygen round 2: receive every V_j, broadcast the echo h_i = H(sid, V_0 … V_{n−1}). */
import { CommitEchoRound, type EchoedState } from '../commit-echo.js';
import type { KeyShare } from '../keyshare.js';
import { ROUND, SCHEDULE } from './messages.js';
import type { Round1State } from './round1.js';
import { Round3 } from './round3.js';

export type Round2State = EchoedState<Round1State>;

export class Round2 extends CommitEchoRound<KeyShare, Round1State> {
  protected readonly schedule = SCHEDULE;
  protected readonly names = ROUND;

  protected next(s: Round2State): Round3 {
    return new Round3(s);
  }
}
