/**
 * Cutting a run short at a chosen request, for the tests that interrupt a state switch at every
 * step (test/coordinator/*-interrupted.test.ts): links that let `cut` requests through and fail
 * every later one (the coordinator is gone), the operator's drop of an undecided run, and the
 * check that only cuts in the last round were left to the operator.
 */
import type { ExecutionContext } from 'ava';
import type { NodeLink } from '../../src/coordinator/node-link.js';
import { Lifecycle } from '../../src/node/lifecycle.js';
import type { RecordStore } from '../../src/node/storage/store.js';
import { Tap } from './in-process-nodes.js';

export interface CutLinks {
  /** one link per node, in party order, sharing one request count */
  readonly taps: Tap[];
  /** whether the cut fell inside the run (false: the run finished before it) */
  readonly hit: () => boolean;
}

export function cutAfter(links: readonly NodeLink[], cut: number): CutLinks {
  let sent = 0;
  let hit = false;
  const taps = links.map((l) => new Tap(l));
  for (const tap of taps)
    tap.intercept = (_req, forward) => {
      if (sent >= cut) {
        hit = true;
        return Promise.reject(new Error('the coordinator is gone'));
      }
      sent++;
      return forward();
    };
  return { taps, hit: () => hit };
}

/** What `npm run pending -- drop` does at each node holding the run `sid` of `scope` (any run: undefined). */
export async function dropEverywhere(stores: readonly RecordStore[], scope: string, sid?: string): Promise<void> {
  for (const store of stores) {
    const lifecycle = new Lifecycle({ store, parties: [], beforeSwitch: () => Promise.resolve() });
    const p = await lifecycle.pending(scope);
    if (p && (sid === undefined || Buffer.from(p.sid).toString('hex') === sid)) await lifecycle.discard(scope, p.sid);
  }
}

/** After the uncut run (`cut` requests in all, more than `atLeast`): only cuts in its last round were left to the operator. */
export function onlyLastRoundStuck(
  t: ExecutionContext,
  cut: number,
  stuck: readonly number[],
  atLeast: number,
  what: string,
): void {
  t.true(cut > atLeast, `the uncut run is the whole ${what}`);
  t.log(
    `${cut} requests; cuts left to the operator (a run confirmed by some parties only): ${stuck.join(', ') || 'none'}`,
  );
  // the confirmation round is the only such window: every cut before it resolves by itself
  t.true(
    stuck.every((c) => c >= cut - 7),
    `only cuts in the last round: ${stuck.join(', ')}`,
  );
}
