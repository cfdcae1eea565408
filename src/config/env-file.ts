/**
 * Reading `env/.env.<name>`: dotenv syntax (KEY=value, # comments, quotes) through node's own
 * `util.parseEnv`, so there is no parser of ours to get wrong.
 * @module
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseEnv } from 'node:util';
import { ConfigError } from './errors.js';

/** Environment names become file names: a plain word, no path. */
export const ENV_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/** `<rootDir>/env/.env.<name>` */
export function envFilePath(rootDir: string, name: string): string {
  if (!ENV_NAME_PATTERN.test(name)) {
    throw new ConfigError([
      {
        variable: '--env',
        message: `${JSON.stringify(name)} is not an environment name (letters, digits, _ . and -; no path)`,
      },
    ]);
  }
  return join(rootDir, 'env', `.env.${name}`);
}

/** The variables of an env file, as written (validation is the schema's). */
export function readEnvFile(path: string): Record<string, string> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'file not found' : `cannot read (${code ?? 'error'})`;
    throw new ConfigError([{ variable: '--env', message: `${path}: ${why}` }]);
  }
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(parseEnv(text))) if (v !== undefined) out[k] = v;
  return out;
}
