/**
 * Argument checks for the public big-integer API: TypeError for a wrong type, RangeError for a
 * value out of range, both naming the argument. Messages never include the value (it may be secret).
 * @module
 */

export function assertBigint(name: string, v: unknown): asserts v is bigint {
  if (typeof v !== 'bigint') throw new TypeError(`${name} must be a bigint, got ${typeof v}`);
}

export function assertInt(name: string, v: unknown, min: number, max: number): asserts v is number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw new TypeError(`${name} must be an integer`);
  if (v < min || v > max) throw new RangeError(`${name} must be in [${min}, ${max}]`);
}

/** 0 ≤ v < bound (bound described as `boundName` in the message). */
export function assertBelow(name: string, v: unknown, bound: bigint, boundName: string): asserts v is bigint {
  assertBigint(name, v);
  if (v < 0n) throw new RangeError(`${name} must not be negative`);
  if (v >= bound) throw new RangeError(`${name} must be less than ${boundName}`);
}
