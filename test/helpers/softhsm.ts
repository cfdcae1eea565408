/**
 * Throw-away SoftHSM2 tokens for tests: a softhsm2.conf and a token directory under a temporary
 * directory, a token initialised with `softhsm2-util --init-token --free`, and master keys made in
 * it. SoftHSM2 reads SOFTHSM2_CONF when the library is initialised and sees only the tokens that
 * exist then, so create every token a process needs before it opens the first Pkcs11Kms (several
 * tokens may share one directory: they then share one softhsm2.conf). Child processes get the
 * token through `token.env`. If SoftHSM2 is missing the helper throws, so tests fail rather than
 * skip: CI installs softhsm2.
 * @module
 */
import { execFile } from 'node:child_process';
import { access, mkdir, writeFile } from 'node:fs/promises';
import { constants, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { createPkcs11Key, pkcs11Binding, withPkcs11Session, type Pkcs11KmsOptions } from '../../src/kms/pkcs11.js';

const run = promisify(execFile);

export interface SoftHsmToken {
  /** Path of libsofthsm2.so (NODE_KMS_PKCS11_MODULE). */
  module: string;
  /** The softhsm2.conf naming the token directory (SOFTHSM2_CONF). */
  conf: string;
  tokenLabel: string;
  pin: string;
  soPin: string;
  /** Environment a child process needs to see the token. */
  env: { SOFTHSM2_CONF: string };
}

export interface SoftHsmKeyOptions {
  label: string;
  /** Make a key the provider must refuse: extractable, readable, or not AES-256. Default: a proper master key, made by createPkcs11Key. */
  extractable?: boolean;
  sensitive?: boolean;
  bytes?: 16 | 24 | 32;
}

const MODULE_PATHS = [
  '/usr/lib/softhsm/libsofthsm2.so',
  '/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so',
  '/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so',
  '/usr/lib64/pkcs11/libsofthsm2.so',
  '/usr/local/lib/softhsm/libsofthsm2.so',
  '/opt/homebrew/lib/softhsm/libsofthsm2.so',
];

const NOT_INSTALLED =
  'SoftHSM2 is not installed: install softhsm2 (Debian/Ubuntu: apt-get install softhsm2; macOS: brew install softhsm), or set SOFTHSM2_MODULE to libsofthsm2.so';

/** The SoftHSM2 library (SOFTHSM2_MODULE or a usual place). Throws, saying how to install it, if missing. */
export function softHsmModule(): string {
  const configured = process.env['SOFTHSM2_MODULE'];
  const path = configured !== undefined && configured !== '' ? configured : MODULE_PATHS.find((p) => existsSync(p));
  if (path === undefined || !existsSync(path)) throw new Error(NOT_INSTALLED);
  return path;
}

/**
 * Initialise a token labelled `label` in `<dir>/tokens` (creating `<dir>/softhsm2.conf` on first
 * use) and point this process's SOFTHSM2_CONF at it.
 */
export async function createSoftHsmToken(
  dir: string,
  options: { label: string; pin: string; soPin?: string },
): Promise<SoftHsmToken> {
  const module = softHsmModule();
  const root = resolve(dir);
  const conf = join(root, 'softhsm2.conf');
  const tokens = join(root, 'tokens');
  await mkdir(tokens, { recursive: true, mode: 0o700 });
  const present = await access(conf, constants.F_OK).then(
    () => true,
    () => false,
  );
  if (!present) {
    await writeFile(
      conf,
      `directories.tokendir = ${tokens}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n`,
      { mode: 0o600 },
    );
  }
  const soPin = options.soPin ?? `so-${options.pin}`;
  const env = { SOFTHSM2_CONF: conf };
  try {
    await run(
      'softhsm2-util',
      ['--init-token', '--free', '--label', options.label, '--pin', options.pin, '--so-pin', soPin],
      { env: { ...process.env, ...env } },
    );
  } catch (e) {
    const err = e as { code?: unknown; stderr?: string; message?: string };
    if (err.code === 'ENOENT') throw new Error(`${NOT_INSTALLED} (softhsm2-util is not on PATH)`, { cause: e });
    throw new Error(`softhsm2-util --init-token failed: ${(err.stderr ?? err.message ?? '').trim()}`, { cause: e });
  }
  process.env['SOFTHSM2_CONF'] = conf;
  return { module, conf, tokenLabel: options.label, pin: options.pin, soPin, env };
}

/** Pkcs11Kms options for a key of the token. */
export function softHsmKmsOptions(token: SoftHsmToken, keyLabel: string): Pkcs11KmsOptions {
  return { module: token.module, tokenLabel: token.tokenLabel, pin: token.pin, keyLabel };
}

/**
 * Make a key in the token. By default a proper master key, through createPkcs11Key (what the
 * hsm-key command does); with `extractable`, `sensitive` or `bytes` a key the provider must refuse.
 * Returns its key id (hex CKA_ID).
 */
export async function provisionSoftHsmKey(token: SoftHsmToken, options: SoftHsmKeyOptions): Promise<{ keyId: string }> {
  if (options.extractable === undefined && options.sensitive === undefined && options.bytes === undefined) {
    return createPkcs11Key(softHsmKmsOptions(token, options.label));
  }
  const p = pkcs11Binding();
  const id = Buffer.from(`bad-${options.label}`.slice(0, 32));
  await withPkcs11Session({ module: token.module, tokenLabel: token.tokenLabel, pin: token.pin }, (lib, session) => {
    lib.C_GenerateKey(session, { mechanism: p.CKM_AES_KEY_GEN }, [
      { type: p.CKA_CLASS, value: p.CKO_SECRET_KEY },
      { type: p.CKA_KEY_TYPE, value: p.CKK_AES },
      { type: p.CKA_VALUE_LEN, value: options.bytes ?? 32 },
      { type: p.CKA_TOKEN, value: true },
      { type: p.CKA_PRIVATE, value: true },
      { type: p.CKA_SENSITIVE, value: options.sensitive ?? true },
      { type: p.CKA_EXTRACTABLE, value: options.extractable ?? false },
      { type: p.CKA_ENCRYPT, value: true },
      { type: p.CKA_DECRYPT, value: true },
      { type: p.CKA_LABEL, value: options.label },
      { type: p.CKA_ID, value: id },
    ]);
  });
  return { keyId: id.toString('hex') };
}
