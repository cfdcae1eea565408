/**
 * Where background presigning goes: a budget of ready presignatures per signer pair
 * (PRESIGN_POOL_TARGET) shared by the wallets in proportion to their recent signing, each capped
 * per wallet and pair (PRESIGN_POOL_SIZE). A wallet nobody signs with costs nothing: its demand
 * decays and it is forgotten, and the presignatures it still holds are used or expire.
 *
 * Demand is a count of signing requests that decays exponentially (time constant DEMAND_TAU_MS),
 * so "recent" needs no window of timestamps: one number and its time per wallet. A wallet whose
 * creation asked for presignatures, or that a restart found stocked, starts as if it had signed once.
 * Each coordinator weighs the requests it serves; behind a load balancer each sees a like share.
 * @module
 */

/** Demand's time constant: a request counts e^(−age/τ). An hour: "recent" is the last few hours. */
export const DEMAND_TAU_MS = 3_600_000;
/** Below this weight (one request about 4.6 τ ago) a wallet is forgotten. */
const FORGET_BELOW = 0.01;

interface Weight {
  w: number;
  at: number;
}

export class Demand {
  private readonly weights = new Map<string, Weight>();

  constructor(private readonly now: () => number = Date.now) {}

  /** One more request (or a wallet to stock as if it had signed once). */
  note(walletId: string): void {
    const t = this.now();
    const cur = this.weights.get(walletId);
    this.weights.set(walletId, { w: (cur ? decay(cur, t) : 0) + 1, at: t });
  }

  /** The wallet's demand now (0 if unknown). */
  weight(walletId: string): number {
    const cur = this.weights.get(walletId);
    return cur ? decay(cur, this.now()) : 0;
  }

  forget(walletId: string): void {
    this.weights.delete(walletId);
  }

  /**
   * Each wallet's share of `budget` presignatures (per signer pair), at most `cap` each; wallets
   * whose demand decayed below the threshold are forgotten and returned in `forgotten`.
   */
  allocate(budget: number, cap: number): { targets: Map<string, number>; forgotten: string[] } {
    const t = this.now();
    const live: [string, number][] = [];
    const forgotten: string[] = [];
    for (const [id, cur] of this.weights) {
      const w = decay(cur, t);
      if (w < FORGET_BELOW) forgotten.push(id);
      else live.push([id, w]);
    }
    for (const id of forgotten) this.weights.delete(id);
    return { targets: allocate(live, budget, cap), forgotten };
  }

  /** Wallets with demand (for tests and metrics). */
  get size(): number {
    return this.weights.size;
  }
}

function decay(cur: Weight, t: number): number {
  return cur.w * Math.exp(-Math.max(0, t - cur.at) / DEMAND_TAU_MS);
}

/**
 * Splits `budget` over weighted wallets: each gets its proportional share rounded down, at most
 * `cap`; then, heaviest first, every wallet without one gets one while the budget lasts (a wallet
 * that signs at all should sign warm); what is left goes one at a time to the largest remainders.
 * The sum never exceeds the budget and no wallet exceeds the cap. Ties break by wallet id, so
 * coordinators with like views agree.
 */
export function allocate(
  weights: readonly (readonly [string, number])[],
  budget: number,
  cap: number,
): Map<string, number> {
  const out = new Map<string, number>();
  const total = weights.reduce((s, [, w]) => s + w, 0);
  if (budget <= 0 || cap <= 0 || total <= 0) return out;
  const order = [...weights].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  let left = budget;
  const ideal = new Map<string, number>();
  for (const [id, w] of order) {
    const share = (budget * w) / total;
    ideal.set(id, share);
    const n = Math.min(cap, Math.floor(share));
    out.set(id, n);
    left -= n;
  }
  for (const [id] of order) {
    if (left <= 0) break;
    if ((out.get(id) ?? 0) === 0) {
      out.set(id, 1);
      left--;
    }
  }
  const byRemainder = order
    .map(([id]) => [id, (ideal.get(id) ?? 0) - (out.get(id) ?? 0)] as const)
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  while (left > 0) {
    let gave = false;
    for (const [id] of byRemainder) {
      if (left <= 0) break;
      const n = out.get(id) ?? 0;
      if (n < cap) {
        out.set(id, n + 1);
        left--;
        gave = true;
      }
    }
    if (!gave) break; // every wallet at its cap
  }
  for (const [id, n] of out) if (n === 0) out.delete(id);
  return out;
}
