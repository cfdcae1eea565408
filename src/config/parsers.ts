/**
 * The zod parsers (string in, typed value out) that more than one settings module uses. Messages
 * say why a value is wrong and repeat it, except for secrets.
 * @module
 */
import { z } from 'zod';

export const show = (v: unknown): string => JSON.stringify(v);

/** An integer from `min` to `max`, written in decimal. */
export function integer(min: number, max: number) {
  return z
    .string()
    .regex(/^\d{1,10}$/, { error: (iss) => `must be an integer, got ${show(iss.input)}` })
    .transform(Number)
    .pipe(
      z
        .number()
        .min(min, { error: (iss) => `must be ≥ ${min}, got ${String(iss.input)}` })
        .max(max, { error: (iss) => `must be ≤ ${max}, got ${String(iss.input)}` }),
    );
}

/** Comma-separated list; items trimmed; an empty item (a stray comma) is an error of that item. */
export function list<O>(item: z.ZodType<O, string>) {
  return z
    .string()
    .transform((s) => s.split(',').map((x) => x.trim()))
    .pipe(z.array(item));
}

export const httpsUrl = z.string().refine(
  (s) => {
    try {
      return new URL(s).protocol === 'https:';
    } catch {
      return false;
    }
  },
  { error: (iss) => `must be an https:// URL, got ${show(iss.input)}` },
);

/** A URL, https:// or http:// (loopback servers in tests, VPC endpoints). */
export const anyUrl = z.string().refine(
  (s) => {
    try {
      return ['https:', 'http:'].includes(new URL(s).protocol);
    } catch {
      return false;
    }
  },
  { error: (iss) => `must be an https:// URL, got ${show(iss.input)}` },
);

/** A file or directory path (relative ones are resolved against the project root). */
export const path = z.string();

/** A key id, label or GUID: printable, no spaces or quotes; `{node}` allowed. */
export const kmsName = z.string().regex(/^[A-Za-z0-9._:/{}@+=-]{1,512}$/, {
  error: (iss) => `${show(iss.input)} is not a key id or label (letters, digits and . _ : / { } @ + = -)`,
});

/** A secret: messages never repeat it. */
export const secret = z.string().min(1, { error: 'must not be empty' });

const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** A duration such as `90s`, `30m`, `24h` or `7d`, from `min` to `max` ms; in ms. */
export function duration(minMs: number, maxMs: number) {
  const words = (ms: number): string =>
    ms % UNIT_MS.d === 0 ? `${ms / UNIT_MS.d}d` : ms % UNIT_MS.h === 0 ? `${ms / UNIT_MS.h}h` : `${ms / UNIT_MS.m}m`;
  return z
    .string()
    .regex(/^\d{1,6}[smhd]$/, {
      error: (iss) => `must be a duration such as 30m, 24h or 7d, got ${show(iss.input)}`,
    })
    .transform((s) => Number(s.slice(0, -1)) * UNIT_MS[s.slice(-1) as keyof typeof UNIT_MS])
    .pipe(
      z
        .number()
        .min(minMs, { error: () => `must be at least ${words(minMs)}` })
        .max(maxMs, { error: () => `must be at most ${words(maxMs)}` }),
    );
}
