/**
 * Scheduled refresh (KEY_REFRESH_INTERVAL): every wallet's key shares are refreshed once per
 * interval, the wallets spread evenly over it so the nodes never refresh them all at once.
 *
 * Time is cut into cycles of one interval on the wall clock, and each wallet has a fixed slot in
 * every cycle (a hash of its id modulo the interval). A tick refreshes the wallets whose slot
 * passed since the previous tick, one at a time. The slots are the same after a restart, so a
 * coordinator that restarts often still reaches every wallet; a slot that passed while no
 * coordinator ran is taken in the next cycle (a refresh is late by at most one interval). A
 * refresh that fails (a node away) is tried again after `retryMs` until the wallet's next slot.
 * @module
 */
import { createHash } from 'node:crypto';
import { silentLogger, type Logger } from '../util/log.js';

export interface RefreshScheduleOptions {
  /** the interval (ms): each wallet is refreshed once per interval */
  readonly intervalMs: number;
  /** every registered wallet's id */
  readonly walletIds: () => readonly string[];
  /** refresh one wallet (KeyRotation.refresh with the reason `schedule`) */
  readonly refresh: (walletId: string) => Promise<unknown>;
  readonly log?: Logger;
  /** the wall clock (ms since the epoch; tests) */
  readonly now?: () => number;
  /** how often slots are looked at (default: a 100th of the interval, between 1 s and 60 s) */
  readonly tickMs?: number;
  /** wait before a failed refresh is tried again (default 5 min, at most the interval) */
  readonly retryMs?: number;
  /**
   * whether this coordinator runs the schedule now (several coordinators: the holder of the
   * schedule's lease, store/leases.ts); slots passed while inactive are another's. Default: always
   */
  readonly active?: () => boolean;
}

export class RefreshSchedule {
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly offsets = new Map<string, number>();
  /** wallets whose refresh failed → when to try again (wall clock ms) */
  private readonly retries = new Map<string, number>();
  private lastTick: number;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(private readonly o: RefreshScheduleOptions) {
    if (!(o.intervalMs >= 1000)) throw new RangeError('refresh interval: at least one second');
    this.log = (o.log ?? silentLogger()).child({ component: 'refresh-schedule' });
    this.now = o.now ?? Date.now;
    this.lastTick = this.now();
  }

  /** The wallet's slot: its offset into every cycle (ms). */
  offset(walletId: string): number {
    let off = this.offsets.get(walletId);
    if (off === undefined) {
      const h = createHash('sha256').update('mpc-engine/refresh-slot\0').update(walletId).digest();
      off = h.readUIntBE(0, 6) % this.o.intervalMs;
      this.offsets.set(walletId, off);
    }
    return off;
  }

  /** Whether a slot of `walletId` lies in (from, to]. */
  private due(walletId: string, from: number, to: number): boolean {
    const I = this.o.intervalMs;
    const off = this.offset(walletId);
    // the last slot at or before `to`
    const last = Math.floor((to - off) / I) * I + off;
    return last > from;
  }

  start(): void {
    const tick = this.o.tickMs ?? Math.min(60_000, Math.max(1000, Math.floor(this.o.intervalMs / 100)));
    this.log.info({ intervalMs: this.o.intervalMs }, 'scheduled refresh on: each wallet once per interval');
    const loop = (): void => {
      if (this.stopped) return;
      this.running = this.tick().then(
        () => undefined,
        (e: unknown) => this.log.error({ err: (e as Error).message }, 'scheduled refresh pass failed'),
      );
      void this.running.finally(() => {
        this.running = undefined;
        if (!this.stopped) this.timer = setTimeout(loop, tick);
      });
    };
    this.timer = setTimeout(loop, tick);
  }

  /** No more passes; a refresh under way finishes (the nodes' commit does not depend on us). */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  /** Refresh the wallets due since the last tick, and the failed ones whose retry time came. */
  async tick(): Promise<{ refreshed: number; failed: number }> {
    const from = this.lastTick;
    const to = this.now();
    this.lastTick = to;
    if (this.o.active?.() === false) return { refreshed: 0, failed: 0 };
    const ids = this.o.walletIds();
    const due = ids.filter((id) => this.due(id, from, to) || (this.retries.get(id) ?? Infinity) <= to);
    let refreshed = 0;
    let failed = 0;
    for (const walletId of due) {
      if (this.stopped) break;
      try {
        await this.o.refresh(walletId);
        this.retries.delete(walletId);
        refreshed++;
      } catch (e) {
        failed++;
        const retryMs = Math.min(this.o.retryMs ?? 5 * 60_000, this.o.intervalMs);
        // tried again until its next slot, which starts over
        const nextSlot =
          Math.floor((to - this.offset(walletId)) / this.o.intervalMs + 1) * this.o.intervalMs + this.offset(walletId);
        if (to + retryMs < nextSlot) this.retries.set(walletId, to + retryMs);
        else this.retries.delete(walletId);
        this.log.warn({ walletId, err: (e as Error).message }, 'scheduled refresh failed; tried again later');
      }
    }
    if (due.length > 0) this.log.info({ refreshed, failed }, 'scheduled refresh pass');
    const registered = new Set(ids);
    for (const id of this.retries.keys()) if (!registered.has(id)) this.retries.delete(id);
    return { refreshed, failed };
  }
}
