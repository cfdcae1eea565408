/**
 * How an operator tool shows a reshare job (reshare.ts, ReshareJobView): one progress line —
 * redrawn in place on a terminal, printed when it changes otherwise — and a summary at the end.
 * Pure: the caller decides where the text goes.
 * @module
 */
import type { ReshareJobView } from './reshare.js';

/**
 * Text the API sent, as it may reach an operator's terminal: control and format characters
 * (escape sequences that move the cursor, retitle the window or write the clipboard; new lines;
 * bidirectional overrides) become `?`, and it is capped at `max` characters. The coordinator writes
 * only its own sentences there, but the tool must not let whoever answers drive the terminal.
 */
export function printable(s: string, max = 500): string {
  const shown = s.replace(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu, '?');
  return shown.length > max ? `${shown.slice(0, max)}…` : shown;
}

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
  // every string of the view is the server's: shown only as printable text
  const group = `group ${printable(job.group.join(', '))}${job.auxId === undefined ? '' : `, aux-info ${printable(job.auxId.slice(0, 16))}…`}`;
  if (job.status === 'succeeded') return `reshare job ${job.jobId} succeeded: ${counts}\n${group}`;
  if (job.status === 'failed')
    return `reshare job ${job.jobId} failed: ${printable(job.error ?? 'no reason given')}\n${counts}\n${group}`;
  return `reshare job ${job.jobId} is still running: ${counts}`;
}
