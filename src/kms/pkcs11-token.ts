/**
 * PKCS#11 sessions for the PKCS#11 KMS: loading the native binding and a token's library once per
 * process (C_Initialize / C_Finalize counted across users), logins counted per slot (C_Logout in
 * one session logs out all of them, so only the last user logs out), one logged-in R/W session per
 * user that can be reopened after it is lost, and the mapping of CKR_ codes to KmsError codes. The
 * PIN is kept in memory for re-login and is never logged.
 * @module
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { realpathSync } from 'node:fs';
import { createRequire } from 'node:module';
import type * as Pkcs11Js from 'pkcs11js';
import { KmsError } from './kms.js';

/** Where the token is and how to log in to it. */
export interface Pkcs11TokenOptions {
  /** NODE_KMS_PKCS11_MODULE: path of the PKCS#11 library. */
  module: string;
  /** NODE_KMS_PKCS11_TOKEN_LABEL (exactly one of tokenLabel and slot). */
  tokenLabel?: string | undefined;
  /** NODE_KMS_PKCS11_SLOT: index in the list of slots that hold a token. */
  slot?: number | undefined;
  /** The user PIN (NODE_KMS_PKCS11_PIN, or read from NODE_KMS_PKCS11_PIN_FILE by the caller). Never logged. */
  pin: string;
}

type Binding = typeof Pkcs11Js;
/** A PKCS#11 handle (slot, session or object) as pkcs11js gives it. */
export type Handle = Buffer;

// ---------------------------------------------------------------------------------------------
// The native binding and the per-process module state

let binding: Binding | undefined;

/** @internal The pkcs11js binding (constants and the PKCS11 class), loaded on first use. */
export function pkcs11Binding(): Binding {
  if (binding === undefined) {
    try {
      binding = createRequire(import.meta.url)('pkcs11js') as Binding;
    } catch (e) {
      throw new KmsError('config', 'the pkcs11js native module cannot be loaded (is it installed and built?)', {
        cause: e,
      });
    }
  }
  return binding;
}

interface SlotLogin {
  /** TokenSessions of this process holding a session on the slot. */
  sessions: number;
  /** SHA-256 of the PIN that logged in, to refuse another PIN while already logged in. */
  pinDigest: Buffer | undefined;
}

interface LoadedModule {
  readonly path: string;
  readonly lib: Pkcs11Js.PKCS11;
  users: number;
  /** We called C_Initialize (so we call C_Finalize); false if someone else in this process had. */
  ownsInit: boolean;
  readonly logins: Map<string, SlotLogin>;
}

/** Loaded libraries by real path: dlopen gives one instance per process, so its state is shared. */
const modules = new Map<string, LoadedModule>();

function acquireModule(path: string): LoadedModule {
  const p = pkcs11Binding();
  let real: string;
  try {
    real = realpathSync(path);
  } catch {
    throw new KmsError('config', `PKCS#11 module ${path} does not exist`);
  }
  let m = modules.get(real);
  if (m === undefined) {
    const lib = new p.PKCS11();
    try {
      lib.load(real);
    } catch (e) {
      throw new KmsError('config', `PKCS#11 module ${path} cannot be loaded: ${describe(e)}`, { cause: e });
    }
    m = { path: real, lib, users: 0, ownsInit: false, logins: new Map() };
    modules.set(real, m);
  }
  if (m.users === 0) {
    try {
      m.lib.C_Initialize({ flags: p.CKF_OS_LOCKING_OK });
      m.ownsInit = true;
    } catch (e) {
      if (ckr(e) !== p.CKR_CRYPTOKI_ALREADY_INITIALIZED)
        throw new KmsError('unavailable', `PKCS#11 module ${path} did not initialise: ${describe(e)}`, { cause: e });
      m.ownsInit = false;
    }
  }
  m.users++;
  return m;
}

function releaseModule(m: LoadedModule): void {
  if (--m.users > 0) return;
  m.logins.clear();
  if (m.ownsInit) {
    m.ownsInit = false;
    try {
      m.lib.C_Finalize();
    } catch {
      // already finalised or the device is gone: nothing left to release
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Errors

/** The CKR_ code of a pkcs11js error, if it is one. */
export function ckr(e: unknown): number | undefined {
  if (!(e instanceof Error) || e.name !== 'Pkcs11Error') return undefined;
  const code = (e as { code?: unknown }).code;
  return typeof code === 'number' ? code : undefined;
}

/** A short, secret-free description: the CKR_ name for PKCS#11 errors. */
export function describe(e: unknown): string {
  if (e instanceof KmsError) return e.message;
  if (e instanceof Error)
    return (e.name === 'Pkcs11Error' || e.name === 'NativeError' ? e.message : `${e.name}: ${e.message}`).slice(0, 200);
  return 'unknown error';
}

/** Thrown inside an operation when the session is gone; the operation is retried after a reopen. */
export class SessionLost extends Error {
  override readonly name = 'SessionLost';
}

function codes(...names: (keyof Binding)[]): Set<number> {
  const p = pkcs11Binding();
  return new Set(names.map((n) => p[n] as number));
}

let codeSets:
  | {
      sessionLost: Set<number>;
      handleInvalid: Set<number>;
      pin: Set<number>;
      config: Set<number>;
      decryptFailed: Set<number>;
    }
  | undefined;

export function errorCodes(): NonNullable<typeof codeSets> {
  codeSets ??= {
    sessionLost: codes(
      'CKR_SESSION_HANDLE_INVALID',
      'CKR_SESSION_CLOSED',
      'CKR_DEVICE_REMOVED',
      'CKR_TOKEN_NOT_PRESENT',
      'CKR_DEVICE_ERROR',
      'CKR_USER_NOT_LOGGED_IN',
      'CKR_OPERATION_ACTIVE',
    ),
    handleInvalid: codes('CKR_OBJECT_HANDLE_INVALID', 'CKR_KEY_HANDLE_INVALID'),
    pin: codes('CKR_PIN_INCORRECT', 'CKR_PIN_INVALID', 'CKR_PIN_LEN_RANGE', 'CKR_PIN_LOCKED', 'CKR_PIN_EXPIRED'),
    config: codes(
      'CKR_MECHANISM_INVALID',
      'CKR_MECHANISM_PARAM_INVALID',
      'CKR_KEY_FUNCTION_NOT_PERMITTED',
      'CKR_KEY_TYPE_INCONSISTENT',
      'CKR_KEY_SIZE_RANGE',
      'CKR_TEMPLATE_INCONSISTENT',
      'CKR_TEMPLATE_INCOMPLETE',
      'CKR_ATTRIBUTE_VALUE_INVALID',
      'CKR_USER_PIN_NOT_INITIALIZED',
    ),
    // GCM authentication failure: the standard codes, and CKR_GENERAL_ERROR / CKR_FUNCTION_FAILED
    // from tokens (SoftHSM2 2.6 among them) that report a tag mismatch that way.
    decryptFailed: codes(
      'CKR_ENCRYPTED_DATA_INVALID',
      'CKR_ENCRYPTED_DATA_LEN_RANGE',
      'CKR_GENERAL_ERROR',
      'CKR_FUNCTION_FAILED',
    ),
  };
  return codeSets;
}

/** A KmsError for whatever an operation threw. */
export function toKmsError(e: unknown, what: string, token: string): unknown {
  if (e instanceof KmsError) return e;
  const code = ckr(e);
  if (code === undefined)
    return e instanceof Error && e.name !== 'NativeError'
      ? e
      : new KmsError('unavailable', `PKCS#11 token ${token}: ${what} failed: ${describe(e)}`, { cause: e });
  const c = errorCodes();
  if (c.pin.has(code))
    return new KmsError('denied', `PKCS#11 token ${token} refused the user PIN (${describe(e)})`, { cause: e });
  if (c.config.has(code))
    return new KmsError(
      'config',
      `PKCS#11 token ${token}: ${what} failed: ${describe(e)} (does the token support AES-GCM with this key?)`,
      { cause: e },
    );
  return new KmsError('unavailable', `PKCS#11 token ${token}: ${what} failed: ${describe(e)}`, { cause: e });
}

// ---------------------------------------------------------------------------------------------
// Token sessions

function checkTokenOptions(o: Pkcs11TokenOptions): void {
  if (typeof o !== 'object' || o === null) throw new KmsError('config', 'PKCS#11 options are missing');
  if (typeof o.module !== 'string' || o.module.length === 0)
    throw new KmsError('config', 'NODE_KMS_PKCS11_MODULE (the PKCS#11 library) is not set');
  if ((o.tokenLabel === undefined) === (o.slot === undefined))
    throw new KmsError('config', 'set exactly one of NODE_KMS_PKCS11_TOKEN_LABEL and NODE_KMS_PKCS11_SLOT');
  if (
    o.tokenLabel !== undefined &&
    (typeof o.tokenLabel !== 'string' || o.tokenLabel.length === 0 || o.tokenLabel.length > 32)
  ) {
    throw new KmsError('config', 'NODE_KMS_PKCS11_TOKEN_LABEL must be 1 to 32 characters');
  }
  if (o.slot !== undefined && (!Number.isInteger(o.slot) || o.slot < 0))
    throw new KmsError('config', 'NODE_KMS_PKCS11_SLOT must be a slot index (0, 1, …)');
  if (typeof o.pin !== 'string' || o.pin.length === 0) throw new KmsError('config', 'the PKCS#11 user PIN is empty');
}

const pinDigest = (pin: string): Buffer =>
  createHash('sha256').update('mpc-engine/v1/kms/pkcs11/pin\0').update(pin, 'utf8').digest();

/** One logged-in R/W session on a token, reopened on demand. Not concurrency-safe by itself. */
export class TokenSession {
  readonly tokenLabel: string;
  readonly #module: LoadedModule;
  readonly #slot: Handle;
  readonly #slotKey: string;
  readonly #pin: string;
  #session: Handle | undefined;
  #closed = false;

  /** Load the module, find the token, open a session and log in. Throws KmsError. */
  static open(options: Pkcs11TokenOptions): TokenSession {
    checkTokenOptions(options);
    const module = acquireModule(options.module);
    try {
      const { slot, label } = findSlot(module, options);
      return new TokenSession(module, slot, label, options.pin);
    } catch (e) {
      releaseModule(module);
      throw toKmsError(e, 'open', options.tokenLabel ?? `in slot ${options.slot}`);
    }
  }

  private constructor(module: LoadedModule, slot: Handle, label: string, pin: string) {
    this.#module = module;
    this.#slot = slot;
    this.#slotKey = slot.toString('hex');
    this.tokenLabel = label;
    this.#pin = pin;
    let login = module.logins.get(this.#slotKey);
    if (login === undefined) module.logins.set(this.#slotKey, (login = { sessions: 0, pinDigest: undefined }));
    try {
      this.#openSession();
    } catch (e) {
      if (login.sessions === 0) module.logins.delete(this.#slotKey);
      throw e;
    }
    login.sessions++;
  }

  get lib(): Pkcs11Js.PKCS11 {
    return this.#module.lib;
  }

  /** The session handle; SessionLost if an earlier reopen failed. */
  session(): Handle {
    if (this.#session === undefined) throw new SessionLost(`no session with token ${this.tokenLabel}`);
    return this.#session;
  }

  /** Open a new session (and log in) before closing the old one, so other sessions stay logged in. */
  reopen(): void {
    const old = this.#session;
    this.#session = undefined;
    this.#openSession();
    if (old !== undefined) {
      try {
        this.lib.C_CloseSession(old);
      } catch {
        // the old session is already gone
      }
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const login = this.#module.logins.get(this.#slotKey);
    const last = login === undefined || --login.sessions <= 0;
    if (last) this.#module.logins.delete(this.#slotKey);
    const session = this.#session;
    this.#session = undefined;
    if (session !== undefined) {
      // Logging out ends the login of every session of this process on the token: only the last.
      if (last) {
        try {
          this.lib.C_Logout(session);
        } catch {
          // not logged in any more
        }
      }
      try {
        this.lib.C_CloseSession(session);
      } catch {
        // already closed
      }
    }
    releaseModule(this.#module);
  }

  #openSession(): void {
    const p = pkcs11Binding();
    let session: Handle;
    try {
      session = this.lib.C_OpenSession(this.#slot, p.CKF_SERIAL_SESSION | p.CKF_RW_SESSION);
    } catch (e) {
      throw new KmsError('unavailable', `cannot open a session with PKCS#11 token ${this.tokenLabel}: ${describe(e)}`, {
        cause: e,
      });
    }
    try {
      this.#login(session);
    } catch (e) {
      try {
        this.lib.C_CloseSession(session);
      } catch {
        // nothing to do
      }
      throw e;
    }
    this.#session = session;
  }

  #login(session: Handle): void {
    const p = pkcs11Binding();
    const digest = pinDigest(this.#pin);
    let login = this.#module.logins.get(this.#slotKey);
    if (login === undefined) this.#module.logins.set(this.#slotKey, (login = { sessions: 0, pinDigest: undefined }));
    try {
      this.lib.C_Login(session, p.CKU_USER, this.#pin);
      login.pinDigest = digest;
    } catch (e) {
      const code = ckr(e);
      if (code === p.CKR_USER_ALREADY_LOGGED_IN) {
        // Another session of this process is logged in, so the token did not check this PIN: we do.
        if (login.pinDigest !== undefined && !timingSafeEqual(login.pinDigest, digest)) {
          throw new KmsError(
            'denied',
            `PKCS#11 token ${this.tokenLabel} refused the user PIN (it differs from the PIN this process logged in with)`,
          );
        }
        return;
      }
      if (code !== undefined && errorCodes().pin.has(code))
        throw new KmsError('denied', `PKCS#11 token ${this.tokenLabel} refused the user PIN (${describe(e)})`, {
          cause: e,
        });
      if (code === p.CKR_USER_PIN_NOT_INITIALIZED)
        throw new KmsError('config', `PKCS#11 token ${this.tokenLabel} has no user PIN: initialise it first`, {
          cause: e,
        });
      throw new KmsError('unavailable', `login to PKCS#11 token ${this.tokenLabel} failed: ${describe(e)}`, {
        cause: e,
      });
    }
  }
}

/** The slot holding the configured token: by label (exactly one match) or by index. */
function findSlot(module: LoadedModule, o: Pkcs11TokenOptions): { slot: Handle; label: string } {
  const lib = module.lib;
  const slots = lib.C_GetSlotList(true);
  if (o.slot !== undefined) {
    const slot = slots[o.slot];
    if (slot === undefined)
      throw new KmsError(
        'config',
        `PKCS#11 module ${o.module} has ${slots.length} slot(s) with a token: no slot index ${o.slot}`,
      );
    return { slot, label: lib.C_GetTokenInfo(slot).label.trimEnd() || `in slot ${o.slot}` };
  }
  const seen: string[] = [];
  const matches: Handle[] = [];
  for (const slot of slots) {
    let label: string;
    try {
      label = lib.C_GetTokenInfo(slot).label.trimEnd();
    } catch {
      continue; // removed while listing
    }
    if (label === o.tokenLabel) matches.push(slot);
    else if (label !== '') seen.push(JSON.stringify(label));
  }
  if (matches.length > 1)
    throw new KmsError(
      'config',
      `${matches.length} tokens are labelled ${JSON.stringify(o.tokenLabel)}: use NODE_KMS_PKCS11_SLOT`,
    );
  const slot = matches[0];
  if (slot === undefined) {
    throw new KmsError(
      'config',
      `no PKCS#11 token labelled ${JSON.stringify(o.tokenLabel)} in ${o.module} (tokens: ${seen.join(', ') || 'none'})`,
    );
  }
  return { slot, label: o.tokenLabel! };
}

/**
 * @internal For tests and tooling: run `fn` with a logged-in R/W session of the token. It shares
 * the process's module and login state with open Pkcs11Kms instances, which stay usable.
 */
export async function withPkcs11Session<T>(
  options: Pkcs11TokenOptions,
  fn: (pkcs11: Pkcs11Js.PKCS11, session: Handle) => T | Promise<T>,
): Promise<T> {
  const token = TokenSession.open(options);
  try {
    return await fn(token.lib, token.session());
  } finally {
    token.close();
  }
}
