/**
 * The second round of keygen and of aux-info, which differ only in what they output: receive every
 * party's hash commitment V_j and broadcast the echo h_i = H(sid, round, V_0 … V_{n−1})
 * (src/protocol/echo.ts), so that the next round can check that every party saw the same
 * commitments before anyone opens its own.
 * @module
 */
import { AllPartiesRound, encodeHash, receiveCommitments, type AllPartiesState } from './common.js';
import type { Expectation, Inbox, Msg, Round, Schedule, Step } from './machine.js';

/** What the commit round kept: the parameters and our own commitment V_i. */
export interface CommittedState extends AllPartiesState {
  /** V_i */
  readonly V: Uint8Array;
}

/** The state after the echo: every V_j (own included, index order) and our echo h_i. */
export type EchoedState<S extends CommittedState> = S & {
  /** V_j of every party (own included) */
  readonly commitments: readonly Uint8Array[];
  /** h_i */
  readonly echo: Uint8Array;
};

/** Names of the commitment round (received here) and the echo round (sent here). */
export interface CommitEchoRounds {
  readonly commit: string;
  readonly echo: string;
}

/**
 * A protocol binds it with its schedule, its round names and the round that follows; the state
 * `S` is what its first round kept.
 */
export abstract class CommitEchoRound<O, S extends CommittedState> extends AllPartiesRound<O, S> {
  protected abstract readonly schedule: Schedule;
  protected abstract readonly names: CommitEchoRounds;
  /** The round after the echo (it checks every echo). */
  protected abstract next(s: EchoedState<S>): Round<O>;

  get expects(): readonly Expectation[] {
    return this.schedule.expects(this.names.commit);
  }

  protected receive(inbox: Inbox): Step<O> {
    const { sid, n, i } = this.s.params;
    const { commit, echo: echoRound } = this.names;
    const { commitments, echo } = receiveCommitments(sid, n, i, this.s.V, commit, inbox.all(commit));
    const outbox: Msg[] = [{ from: i, to: 'all', round: echoRound, body: encodeHash(echo) }];
    return { kind: 'next', round: this.next({ ...this.s, commitments, echo }), outbox };
  }
}
