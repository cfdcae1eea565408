/**
 * In-memory network for protocol tests: runs the same round state machines the servers run,
 * delivering every message as encoded bytes, with a tamper hook on deliveries so a test can
 * rewrite, drop, duplicate or equivocate one party's messages after they were produced honestly.
 */
import { sendersOf, type Abort, type Msg, type Round, type Step } from '../../src/protocol/machine.js';

/** Rewrite one delivery (msg to recipient `to`): return replacements ([] drops it; a p2p replacement goes to its own `to`). */
export type Tamper = (msg: Msg, to: number) => Msg[] | undefined;

export interface PartyResult<O> {
  output?: O;
  abort?: Abort;
  /** the round it was stuck in, if it never finished */
  stalled?: boolean;
}

/**
 * Runs the parties to completion. `ids` are the parties' protocol indices (default 0 … n−1), e.g.
 * the signer set [0, 2] of a presigning; results are in the order of `starts`.
 */
export function runNetwork<O>(
  starts: Step<O>[],
  tamper?: Tamper,
  ids: readonly number[] = [...starts.keys()],
): PartyResult<O>[] {
  const n = starts.length;
  const pos = new Map(ids.map((id, k) => [id, k]));
  const rounds: (Round<O> | undefined)[] = [];
  const results: PartyResult<O>[] = starts.map(() => ({}));
  const buffers: Msg[][] = starts.map(() => []);
  let pending: Msg[] = [];
  const apply = (i: number, step: Step<O>): void => {
    if (step.kind === 'abort') {
      results[i] = { abort: step.abort };
      rounds[i] = undefined;
      return;
    }
    pending.push(...step.outbox);
    if (step.kind === 'done') {
      results[i] = { output: step.output };
      rounds[i] = undefined;
    } else {
      rounds[i] = step.round;
    }
  };
  starts.forEach((s, i) => apply(i, s));
  for (let guard = 0; guard < 1000; guard++) {
    for (const m of pending) {
      const targets = m.to === 'all' ? ids.filter((j) => j !== m.from) : [m.to];
      for (const to of targets) {
        const out = tamper?.(m, to) ?? [m];
        // a replacement addressed to a party is delivered there (misrouting); broadcasts stay with `to`
        for (const o of out) {
          const k = pos.get(o.to === 'all' ? to : o.to);
          if (k !== undefined) buffers[k]?.push(o);
        }
      }
    }
    pending = [];
    let progressed = false;
    for (let i = 0; i < n; i++) {
      const round = rounds[i];
      if (!round) continue;
      const names = new Set(round.expects.map((e) => e.round));
      const ready = round.expects.every((e) =>
        sendersOf(e, ids, ids[i] as number).every((j) =>
          (buffers[i] as Msg[]).some((m) => m.round === e.round && m.from === j),
        ),
      );
      if (!ready) continue;
      const inbox = (buffers[i] as Msg[]).filter((m) => names.has(m.round));
      buffers[i] = (buffers[i] as Msg[]).filter((m) => !names.has(m.round));
      apply(i, round.handle(inbox));
      progressed = true;
    }
    if (!progressed && pending.length === 0) break;
  }
  rounds.forEach((r, i) => {
    if (r) results[i] = { stalled: true };
  });
  return results;
}
