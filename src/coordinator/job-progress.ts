/**
 * How an operator tool shows a reshare job (reshare.ts, ReshareJobView): one progress line —
 * redrawn in place on a terminal, printed when it changes otherwise — and a summary at the end.
 * Pure: the caller decides where the text goes.
 * @module
 */
import type { ReshareJobView } from './reshare.js';

/** Wallets the job is finished with: moved, or found already held by the group. */
function settled(job: ReshareJobView): number {
  return job.wallets.reshared + job.wallets.current;
}

/** `[#####-----]` for done of total (an empty bar while the total is not known yet). */
export function progressBar(done: number, total: number, width: number): string {
  if (!Number.isInteger(width) || width < 1) throw new RangeError(`width must be a positive integer, got ${width}`);
  const filled = total > 0 ? Math.min(width, Math.floor((Math.max(0, done) * width) / total)) : 0;
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}]`;
}

/**
 * One line of progress: the phase, the bar, wallets settled (reshared + already current) of the
 * total, and the failed ones. In the aux phase the wallets are not counted yet.
 */
export function formatReshareProgress(job: ReshareJobView, width = 24): string {
  const { total, failed } = job.wallets;
  const done = settled(job);
  const phase = job.phase === 'aux' ? 'aux-info' : job.phase === 'reshare' ? 'resharing' : job.status;
  const count = job.phase === 'aux' ? 'making the group’s aux-info' : `${done}/${total} wallets`;
  return `${phase.padEnd(10)}${progressBar(done + failed, total, width)} ${count}${failed > 0 ? `, ${failed} failed` : ''}`;
}

/** The closing lines of a finished job: what was moved, to which group; the job's error if it failed. */
export function formatReshareSummary(job: ReshareJobView): string {
  const { total, reshared, current, failed } = job.wallets;
  const counts = `${reshared} reshared, ${current} already held by the group, ${failed} failed, of ${total} wallet(s)`;
  const group = `group ${job.group.join(', ')}${job.auxId === undefined ? '' : `, aux-info ${job.auxId.slice(0, 16)}…`}`;
  if (job.status === 'succeeded') return `reshare job ${job.jobId} succeeded: ${counts}\n${group}`;
  if (job.status === 'failed')
    return `reshare job ${job.jobId} failed: ${job.error ?? 'no reason given'}\n${counts}\n${group}`;
  return `reshare job ${job.jobId} is still running: ${counts}`;
}
