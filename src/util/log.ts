/**
 * Logger factory (pino). Every logger redacts fields that may hold secrets — named key, secret,
 * share, token, authorization or password, at any depth, also as a camelCase or snake_case suffix
 * (`privateKey`, `auth_token`, `keyShare`) — so a careless `log.info({ config })` cannot leak one.
 * Names starting with `public` are kept: public keys are what an operator needs to see.
 * @module
 */
import {
  pino,
  type Bindings,
  type ChildLoggerOptions,
  type DestinationStream,
  type Logger,
  type LevelWithSilent,
} from 'pino';

export type { Logger } from 'pino';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = LevelWithSilent;

export const REDACTED = '[redacted]';

const SECRET_WORDS = ['key', 'secret', 'share', 'token', 'authorization', 'password'];
const WORDS = SECRET_WORDS.join('|');
// camelCase suffix ("privateKey", "authTokens") and snake/kebab suffix ("private_key", "x-auth-token").
const CAMEL_SUFFIX = new RegExp(
  `[a-z0-9](?:${SECRET_WORDS.map((w) => w[0]!.toUpperCase() + w.slice(1)).join('|')})s?$`,
);
const SEPARATED_SUFFIX = new RegExp(`[_-](?:${WORDS})s?$`, 'i');

/** Whether a field of this name is redacted from logs. */
export function isSecretField(name: string): boolean {
  if (/^public/i.test(name)) return false;
  return (
    SECRET_WORDS.includes(name.toLowerCase().replace(/s$/, '')) ||
    CAMEL_SUFFIX.test(name) ||
    SEPARATED_SUFFIX.test(name)
  );
}

/**
 * Copy of `value` with secret-named fields replaced. Only plain objects and arrays are walked
 * (errors, buffers and class instances are left to pino's serializers); cycles are cut.
 */
export function redact(value: unknown, ancestors: WeakSet<object> = new WeakSet()): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (ancestors.has(value)) return '[circular]';
  let out: unknown;
  if (Array.isArray(value)) {
    ancestors.add(value);
    out = value.map((v) => redact(v, ancestors));
  } else {
    const proto = Object.getPrototypeOf(value) as unknown;
    if (proto !== Object.prototype && proto !== null) return value;
    ancestors.add(value);
    const copy: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) copy[k] = isSecretField(k) ? REDACTED : redact(v, ancestors);
    out = copy;
  }
  // Only the path from the root counts: an object met twice side by side is not a cycle.
  ancestors.delete(value);
  return out;
}

export interface LoggerOptions {
  /** component name, e.g. `node_1` or `coordinator` */
  name?: string;
  level?: LogLevel;
  /** where lines go (default stdout); tests pass a stream to read them */
  destination?: DestinationStream;
}

/** A pino logger with secret redaction; `level: 'silent'` for libraries' default. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const opts = {
    level: options.level ?? 'info',
    ...(options.name !== undefined ? { name: options.name } : {}),
    formatters: {
      log: (obj: Record<string, unknown>) => redact(obj) as Record<string, unknown>,
      // the base bindings (pid, hostname, name)
      bindings: (b: Record<string, unknown>) => redact(b) as Record<string, unknown>,
    },
  };
  return redactChildBindings(options.destination ? pino(opts, options.destination) : pino(opts));
}

/** pino's formatters do not see child bindings (`log.child({ token })`): redact them on the way in. */
function redactChildBindings(logger: Logger): Logger {
  const child = logger.child.bind(logger) as unknown as (bindings: Bindings, options?: ChildLoggerOptions) => Logger;
  const wrapped = (bindings: Bindings, options?: ChildLoggerOptions): Logger =>
    redactChildBindings(child(redact(bindings) as Bindings, options));
  logger.child = wrapped as unknown as Logger['child'];
  return logger;
}

/** A logger that writes nothing: the default where a caller passes none. */
export function silentLogger(): Logger {
  return createLogger({ level: 'silent' });
}
