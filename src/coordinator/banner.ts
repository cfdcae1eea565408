/**
 * The start-up banner (docs/product.md, "The banner") — its text is a contract (operators and scripts look for
 * it), so it is printed exactly, on stdout, outside the JSON log:
 *
 *   ========================================
 *   Coordinator Server Running
 *   Platform: LOCAL
 *   Connected Nodes: 3/3
 *   MPC Threshold: 2/3
 *
 * once when the server is up, and again whenever the number of connected nodes changes (so
 * also when the last node connects).
 * @module
 */

export interface BannerState {
  /** COORDINATOR_PLATFORM, e.g. LOCAL */
  readonly platform: string;
  readonly connected: number;
  readonly total: number;
  /** t of t-of-n */
  readonly threshold: number;
}

export function formatBanner(s: BannerState): string {
  return (
    [
      '========================================',
      'Coordinator Server Running',
      `Platform: ${s.platform}`,
      `Connected Nodes: ${s.connected}/${s.total}`,
      `MPC Threshold: ${s.threshold}/${s.total}`,
    ].join('\n') + '\n'
  );
}

/** Prints the banner when the connected count differs from the last one printed. */
export class BannerPrinter {
  private last: number | undefined;

  constructor(
    private readonly base: Omit<BannerState, 'connected'>,
    private readonly write: (text: string) => void = (text) => void process.stdout.write(text),
  ) {}

  update(connected: number): void {
    if (connected === this.last) return;
    this.last = connected;
    this.write(formatBanner({ ...this.base, connected }));
  }
}
