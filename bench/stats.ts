/**
 * Timing for the benchmarks: warm-up runs, then timed runs until enough time and runs have
 * accumulated; the result is the median of the per-run wall-clock times.
 * @module
 */

/** How many times to run one cell. */
export interface Plan {
  /** untimed runs first (JIT, caches, lazily built tables) */
  warmup: number;
  /** at least this many timed runs */
  minRuns: number;
  /** and keep going until this much time (ms) has been spent timing… */
  minMs: number;
  /** …but never more than this many timed runs */
  maxRuns: number;
}

export interface Timing {
  medianMs: number;
  runs: number;
}

/** Results land here so that no engine can drop a call whose value goes unused. */
export let sink: unknown;

/** Median of a non-empty list. */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) throw new RangeError('median of nothing');
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/** One call of run, awaited when it returns a promise. */
async function once(run: () => unknown): Promise<void> {
  const r = run();
  sink = r instanceof Promise ? await r : r;
}

/** Time run according to plan. */
export async function measure(run: () => unknown, plan: Plan): Promise<Timing> {
  for (let i = 0; i < plan.warmup; i++) await once(run);
  const times: number[] = [];
  let total = 0;
  while (times.length < plan.maxRuns && (times.length < plan.minRuns || total < plan.minMs)) {
    const t0 = process.hrtime.bigint();
    await once(run);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    times.push(ms);
    total += ms;
  }
  return { medianMs: median(times), runs: times.length };
}
