/**
 * One log line per refused peer and reason per interval, not one per socket: a peer that opens
 * sockets in a loop (or a second coordinator retrying) must not flood the log, while an operator
 * still sees each distinct source once, with how many refusals the quiet period hid. Memory is
 * bounded: at most `maxKeys` sources are tracked; beyond that, refusals are counted under one
 * shared key (so a spray from many addresses costs one line per interval too).
 * @module
 */
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';

export interface RefusalLogOptions {
  /** default 60 s */
  intervalMs?: number;
  /** default 1024 */
  maxKeys?: number;
  /** monotonic milliseconds (tests) */
  now?: () => number;
}

interface Window {
  /** when the last line for this key was written */
  loggedAt: number;
  suppressed: number;
}

const OVERFLOW = '*';

export class RefusalLog {
  private readonly windows = new Map<string, Window>();
  private readonly intervalMs: number;
  private readonly maxKeys: number;
  private readonly now: () => number;

  constructor(
    private readonly log: Logger,
    o: RefusalLogOptions = {},
  ) {
    this.intervalMs = o.intervalMs ?? 60_000;
    this.maxKeys = o.maxKeys ?? 1024;
    this.now = o.now ?? (() => performance.now());
  }

  /** Logs `message` with `fields` at warn level unless `key` was logged within the interval. */
  note(key: string, fields: Record<string, unknown>, message: string): void {
    const now = this.now();
    let k = key;
    if (!this.windows.has(k) && this.windows.size >= this.maxKeys) {
      this.prune(now);
      if (this.windows.size >= this.maxKeys) k = OVERFLOW;
    }
    const w = this.windows.get(k);
    if (w && now - w.loggedAt < this.intervalMs) {
      w.suppressed++;
      return;
    }
    const suppressed = w?.suppressed ?? 0;
    this.windows.set(k, { loggedAt: now, suppressed: 0 });
    this.log.warn(
      {
        ...fields,
        ...(k === OVERFLOW ? { manySources: true } : {}),
        ...(suppressed > 0 ? { suppressedSinceLastLine: suppressed } : {}),
      },
      message,
    );
  }

  private prune(now: number): void {
    // a quiet period over: its count of hidden refusals is dropped with it (the next refusal logs anew)
    for (const [k, w] of this.windows) if (now - w.loggedAt >= this.intervalMs) this.windows.delete(k);
  }
}
