/**
 * Benchmark of the WASM crypto core against plain BigInt, gmp-wasm and paillier-bigint.
 *
 *   npm run bench:wasm [-- --quick] [-- --only REGEX] [-- --json FILE]
 *
 * Prints a markdown table of median times (stdout) and progress (stderr). Before an op is timed,
 * every implementation's result on the op's input is checked against the others (and against an
 * independent reference where there is one); a mismatch aborts the run.
 * @module
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { measure, type Plan } from './stats.js';
import { Gmp } from './gmp.js';
import { Env, OPS, type Contender, type Op } from './ops.js';
import { header, table, formatMs, GENERAL_NOTES, type Cell } from './report.js';

/** The correctness check is the first warm-up run; `warmup` runs follow it. */
const PLANS = {
  full: { warmup: 1, minRuns: 5, minMs: 1000, maxRuns: 2000 },
  quick: { warmup: 0, minRuns: 2, minMs: 20, maxRuns: 20 },
  fullSlow: { warmup: 0, minRuns: 3, minMs: 0, maxRuns: 3 },
  quickSlow: { warmup: 0, minRuns: 1, minMs: 0, maxRuns: 1 },
} satisfies Record<string, Plan>;

interface Options {
  quick: boolean;
  only: RegExp | undefined;
  json: string | undefined;
}

function options(): Options {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      only: { type: 'string' },
      json: { type: 'string' },
    },
  });
  return {
    quick: values.quick,
    only: values.only === undefined ? undefined : new RegExp(values.only),
    json: values.json,
  };
}

function planFor(op: Op, quick: boolean): Plan {
  if (op.slow) return quick ? PLANS.quickSlow : PLANS.fullSlow;
  return quick ? PLANS.quick : PLANS.full;
}

const short = (x: bigint) => {
  const h = x.toString(16);
  return h.length > 24 ? `0x${h.slice(0, 10)}…${h.slice(-10)} (${h.length} hex digits)` : `0x${h}`;
};

/** Throws unless every contender gives the same result (and the expected one, if known). */
function check(op: Op): void {
  const outputs = op.contenders.map((c) => ({ impl: c.impl, value: c.output() }));
  const reference = op.expected === undefined ? outputs[0] : { impl: 'reference', value: op.expected };
  if (!reference) throw new Error(`${op.name}: no contenders`);
  for (const { impl, value } of outputs) {
    if (value !== reference.value) {
      throw new Error(
        `${op.name}: ${impl} gives ${short(value)} but ${reference.impl} gives ${short(reference.value)}`,
      );
    }
  }
}

class Progress {
  private done = 0;
  constructor(private readonly total: number) {}

  async time(op: Op, c: Contender, plan: Plan): Promise<Cell> {
    process.stderr.write(`[${++this.done}/${this.total}] ${op.name} ${c.impl} … `);
    const { medianMs, runs } = await measure(c.run, plan);
    process.stderr.write(`${formatMs(medianMs)} ms (${runs} run${runs === 1 ? '' : 's'})\n`);
    return { op: op.name, impl: c.impl, median_ms: medianMs };
  }
}

/** Time every contender of op: checked first, or (slow ops) after timing. */
async function runOp(op: Op, plan: Plan, progress: Progress): Promise<Cell[]> {
  if (!op.slow) check(op);
  const cells: Cell[] = [];
  for (const c of op.contenders) cells.push(await progress.time(op, c, plan));
  if (op.slow) check(op);
  return cells;
}

async function main(): Promise<void> {
  const opts = options();
  const specs = OPS.filter((s) => !opts.only || opts.only.test(s.name));
  if (specs.length === 0)
    throw new Error(`no op matches ${String(opts.only)}; ops: ${OPS.map((s) => s.name).join(', ')}`);
  const gmp = await Gmp.load();
  const env = new Env(gmp);
  const ops: Op[] = [];
  for (const spec of specs) ops.push(await spec.setup(env));
  const progress = new Progress(ops.reduce((n, op) => n + op.contenders.length, 0));
  const cells: Cell[] = [];
  for (const op of ops) cells.push(...(await runOp(op, planFor(op, opts.quick), progress)));
  gmp.dispose();

  const notes = [...GENERAL_NOTES, ...ops.flatMap((op) => (op.note ? [op.note] : []))].map((n) => `- ${n}`);
  const quick = opts.quick ? ' · QUICK RUN (few repetitions; not for publication)' : '';
  process.stdout.write(`${header()}${quick}\n\n${table(cells)}\n\n${notes.join('\n')}\n`);
  if (opts.json) {
    writeFileSync(opts.json, JSON.stringify(cells, null, 2) + '\n');
    process.stderr.write(`wrote ${opts.json}\n`);
  }
}

await main();
