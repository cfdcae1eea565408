/**
 * The PKCS#11 KMS: a node's data keys are wrapped inside a hardware security module (any PKCS#11
 * token: a network HSM, a cloud HSM through its PKCS#11 library, SoftHSM2 in tests) under an
 * AES-256 master key that never leaves the token. The node logs in to the token as the user
 * (CKU_USER) and finds its master key by CKA_LABEL (NODE_KMS_PKCS11_KEY_LABEL); `createPkcs11Key`
 * (run by `node dist/scripts/hsm-key.js`) generates that key inside the token.
 *
 * Wrapped blob: PKCS11_BLOB in ./blob.ts (the key's CKA_ID, the data-key length, IV, ciphertext
 * and GCM tag; the header before the IV is authenticated with the context).
 * `keyId` is the hex of the master key's CKA_ID: public and stable. Unwrap finds the key the blob
 * names by CKA_ID, so after a rotation (a new key under a new label, NODE_KMS_PKCS11_KEY_LABEL
 * pointed at it) blobs under the old key still unwrap as long as the old key stays in the token,
 * until the re-wrap has moved every record to the new key. Consequently the isolation boundary is
 * the token and its PIN, not the label: every key in a token unwraps for whoever holds the PIN, so
 * give each node its own token (or HSM partition) and PIN. The encryption context still binds each
 * blob to its node, kind and record.
 *
 * Why AES-GCM inside the token: C_Encrypt/C_Decrypt with CKM_AES_GCM, AAD = header ‖
 * encodeContext(context), tag 128 bits, make the token both encrypt and authenticate, so the
 * context is bound by the HSM itself and the host never holds a key-encryption key, only the data
 * key it asked to wrap and the blob. (CKM_AES_KEY_WRAP_PAD has no associated data: binding the
 * context would need a second, MAC key.) The 96-bit IV is random, drawn on the host (node:crypto)
 * and stored in the blob; random IVs keep a key well within the GCM limits for the few thousand
 * wraps a node makes. A token that insists on generating GCM IVs itself (some in FIPS mode) is not
 * supported.
 *
 * Why the key must be sensitive and non-extractable: the whole point of the HSM is that nobody, not
 * even a compromised node with the PIN, can copy the master key out; a key that could be read
 * (CKA_SENSITIVE false) or exported (CKA_EXTRACTABLE true) gives no more than a key file would, so
 * such a key is refused at open ('config').
 *
 * Sessions: the library is loaded and C_Initialize'd once per process and module path (shared by
 * every Pkcs11Kms; C_Finalize when the last closes). Login state is per token and application in
 * PKCS#11 (C_Logout in one session logs out all of them), so logins are counted per slot and the
 * last one logs out. pkcs11js calls are synchronous; each Pkcs11Kms has one session and runs its
 * operations one at a time through a promise chain, so C_EncryptInit/C_Encrypt pairs never
 * interleave. A lost session (handle invalid, device removed, token gone) is reopened once, with a
 * fresh login; if that fails the caller gets 'unavailable'. The PIN is kept in memory for that
 * re-login and is never logged.
 * @module
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { realpathSync } from 'node:fs';
import { createRequire } from 'node:module';
import { endianness } from 'node:os';
import type * as Pkcs11Js from 'pkcs11js';
import { GCM_IV, GCM_TAG, MAX_DATA_KEY, MIN_DATA_KEY, PKCS11_BLOB, PKCS11_MAX_KEY_ID } from './blob.js';
import { encodeContext, type EncryptionContext, type Kms, KmsError } from './kms.js';

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

export interface Pkcs11KmsOptions extends Pkcs11TokenOptions {
  /** NODE_KMS_PKCS11_KEY_LABEL: CKA_LABEL of the master key new wraps use. */
  keyLabel: string;
}

type Binding = typeof Pkcs11Js;
type Handle = Buffer;

const MAX_KEY_ID = PKCS11_MAX_KEY_ID;
const NEW_KEY_ID_BYTES = 16;
const MASTER_KEY_BYTES = 32;
const IV = GCM_IV;
const TAG = GCM_TAG;
const HSM_KEY_COMMAND = 'node dist/scripts/hsm-key.js --module <library> --token <token label> --label <key label>';

// ---------------------------------------------------------------------------------------------
// The native binding and the per-process module state

let binding: Binding | undefined;

/** @internal The pkcs11js binding (constants and the PKCS11 class), loaded on first use. */
export function pkcs11Binding(): Binding {
  if (binding === undefined) {
    try {
      binding = createRequire(import.meta.url)('pkcs11js') as Binding;
    } catch (e) {
      throw new KmsError('config', 'the pkcs11js native module cannot be loaded (is it installed and built?)', { cause: e });
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
      if (ckr(e) !== p.CKR_CRYPTOKI_ALREADY_INITIALIZED) throw new KmsError('unavailable', `PKCS#11 module ${path} did not initialise: ${describe(e)}`, { cause: e });
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
function ckr(e: unknown): number | undefined {
  if (!(e instanceof Error) || e.name !== 'Pkcs11Error') return undefined;
  const code = (e as { code?: unknown }).code;
  return typeof code === 'number' ? code : undefined;
}

/** A short, secret-free description: the CKR_ name for PKCS#11 errors. */
function describe(e: unknown): string {
  if (e instanceof KmsError) return e.message;
  if (e instanceof Error) return (e.name === 'Pkcs11Error' || e.name === 'NativeError' ? e.message : `${e.name}: ${e.message}`).slice(0, 200);
  return 'unknown error';
}

/** Thrown inside an operation when the session is gone; the operation is retried after a reopen. */
class SessionLost extends Error {
  override readonly name = 'SessionLost';
}

function codes(...names: (keyof Binding)[]): Set<number> {
  const p = pkcs11Binding();
  return new Set(names.map((n) => p[n] as number));
}

let codeSets: { sessionLost: Set<number>; handleInvalid: Set<number>; pin: Set<number>; config: Set<number>; decryptFailed: Set<number> } | undefined;

function errorCodes(): NonNullable<typeof codeSets> {
  codeSets ??= {
    sessionLost: codes('CKR_SESSION_HANDLE_INVALID', 'CKR_SESSION_CLOSED', 'CKR_DEVICE_REMOVED', 'CKR_TOKEN_NOT_PRESENT', 'CKR_DEVICE_ERROR', 'CKR_USER_NOT_LOGGED_IN', 'CKR_OPERATION_ACTIVE'),
    handleInvalid: codes('CKR_OBJECT_HANDLE_INVALID', 'CKR_KEY_HANDLE_INVALID'),
    pin: codes('CKR_PIN_INCORRECT', 'CKR_PIN_INVALID', 'CKR_PIN_LEN_RANGE', 'CKR_PIN_LOCKED', 'CKR_PIN_EXPIRED'),
    config: codes('CKR_MECHANISM_INVALID', 'CKR_MECHANISM_PARAM_INVALID', 'CKR_KEY_FUNCTION_NOT_PERMITTED', 'CKR_KEY_TYPE_INCONSISTENT', 'CKR_KEY_SIZE_RANGE', 'CKR_TEMPLATE_INCONSISTENT', 'CKR_TEMPLATE_INCOMPLETE', 'CKR_ATTRIBUTE_VALUE_INVALID', 'CKR_USER_PIN_NOT_INITIALIZED'),
    // GCM authentication failure: the standard codes, and CKR_GENERAL_ERROR / CKR_FUNCTION_FAILED
    // from tokens (SoftHSM2 2.6 among them) that report a tag mismatch that way.
    decryptFailed: codes('CKR_ENCRYPTED_DATA_INVALID', 'CKR_ENCRYPTED_DATA_LEN_RANGE', 'CKR_GENERAL_ERROR', 'CKR_FUNCTION_FAILED'),
  };
  return codeSets;
}

/** A KmsError for whatever an operation threw. */
function toKmsError(e: unknown, what: string, token: string): unknown {
  if (e instanceof KmsError) return e;
  const code = ckr(e);
  if (code === undefined) return e instanceof Error && e.name !== 'NativeError' ? e : new KmsError('unavailable', `PKCS#11 token ${token}: ${what} failed: ${describe(e)}`, { cause: e });
  const c = errorCodes();
  if (c.pin.has(code)) return new KmsError('denied', `PKCS#11 token ${token} refused the user PIN (${describe(e)})`, { cause: e });
  if (c.config.has(code)) return new KmsError('config', `PKCS#11 token ${token}: ${what} failed: ${describe(e)} (does the token support AES-GCM with this key?)`, { cause: e });
  return new KmsError('unavailable', `PKCS#11 token ${token}: ${what} failed: ${describe(e)}`, { cause: e });
}

// ---------------------------------------------------------------------------------------------
// Token sessions

function checkTokenOptions(o: Pkcs11TokenOptions): void {
  if (typeof o !== 'object' || o === null) throw new KmsError('config', 'PKCS#11 options are missing');
  if (typeof o.module !== 'string' || o.module.length === 0) throw new KmsError('config', 'NODE_KMS_PKCS11_MODULE (the PKCS#11 library) is not set');
  if ((o.tokenLabel === undefined) === (o.slot === undefined)) throw new KmsError('config', 'set exactly one of NODE_KMS_PKCS11_TOKEN_LABEL and NODE_KMS_PKCS11_SLOT');
  if (o.tokenLabel !== undefined && (typeof o.tokenLabel !== 'string' || o.tokenLabel.length === 0 || o.tokenLabel.length > 32)) {
    throw new KmsError('config', 'NODE_KMS_PKCS11_TOKEN_LABEL must be 1 to 32 characters');
  }
  if (o.slot !== undefined && (!Number.isInteger(o.slot) || o.slot < 0)) throw new KmsError('config', 'NODE_KMS_PKCS11_SLOT must be a slot index (0, 1, …)');
  if (typeof o.pin !== 'string' || o.pin.length === 0) throw new KmsError('config', 'the PKCS#11 user PIN is empty');
}

const pinDigest = (pin: string): Buffer => createHash('sha256').update('mpc-engine/v1/kms/pkcs11/pin\0').update(pin, 'utf8').digest();

/** One logged-in R/W session on a token, reopened on demand. Not concurrency-safe by itself. */
class TokenSession {
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
      throw new KmsError('unavailable', `cannot open a session with PKCS#11 token ${this.tokenLabel}: ${describe(e)}`, { cause: e });
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
          throw new KmsError('denied', `PKCS#11 token ${this.tokenLabel} refused the user PIN (it differs from the PIN this process logged in with)`);
        }
        return;
      }
      if (code !== undefined && errorCodes().pin.has(code)) throw new KmsError('denied', `PKCS#11 token ${this.tokenLabel} refused the user PIN (${describe(e)})`, { cause: e });
      if (code === p.CKR_USER_PIN_NOT_INITIALIZED) throw new KmsError('config', `PKCS#11 token ${this.tokenLabel} has no user PIN: initialise it first`, { cause: e });
      throw new KmsError('unavailable', `login to PKCS#11 token ${this.tokenLabel} failed: ${describe(e)}`, { cause: e });
    }
  }
}

/** The slot holding the configured token: by label (exactly one match) or by index. */
function findSlot(module: LoadedModule, o: Pkcs11TokenOptions): { slot: Handle; label: string } {
  const lib = module.lib;
  const slots = lib.C_GetSlotList(true);
  if (o.slot !== undefined) {
    const slot = slots[o.slot];
    if (slot === undefined) throw new KmsError('config', `PKCS#11 module ${o.module} has ${slots.length} slot(s) with a token: no slot index ${o.slot}`);
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
  if (matches.length > 1) throw new KmsError('config', `${matches.length} tokens are labelled ${JSON.stringify(o.tokenLabel)}: use NODE_KMS_PKCS11_SLOT`);
  const slot = matches[0];
  if (slot === undefined) {
    throw new KmsError('config', `no PKCS#11 token labelled ${JSON.stringify(o.tokenLabel)} in ${o.module} (tokens: ${seen.join(', ') || 'none'})`);
  }
  return { slot, label: o.tokenLabel! };
}

// ---------------------------------------------------------------------------------------------
// Keys

function findObjects(lib: Pkcs11Js.PKCS11, session: Handle, template: Pkcs11Js.Template, max: number): Handle[] {
  lib.C_FindObjectsInit(session, template);
  try {
    return lib.C_FindObjects(session, max);
  } finally {
    lib.C_FindObjectsFinal(session);
  }
}

/** A CK_ULONG attribute value (host byte order, 4 or 8 bytes). */
function ulong(b: Buffer): number {
  let v = 0;
  for (let i = 0; i < b.length; i++) {
    const byte = endianness() === 'LE' ? b[b.length - 1 - i]! : b[i]!;
    v = v * 256 + byte;
  }
  return v;
}

interface KeyInfo {
  id: Buffer;
  label: string;
}

/**
 * Check that `key` is a usable master key: an AES-256 secret key allowed to encrypt and decrypt,
 * sensitive and non-extractable, with a CKA_ID of 1 to 64 bytes. Throws KmsError 'config'.
 */
function checkKey(lib: Pkcs11Js.PKCS11, session: Handle, key: Handle, token: string): KeyInfo {
  const p = pkcs11Binding();
  const attrs = lib.C_GetAttributeValue(session, key, [
    { type: p.CKA_CLASS },
    { type: p.CKA_KEY_TYPE },
    { type: p.CKA_VALUE_LEN },
    { type: p.CKA_SENSITIVE },
    { type: p.CKA_EXTRACTABLE },
    { type: p.CKA_ENCRYPT },
    { type: p.CKA_DECRYPT },
    { type: p.CKA_ID },
    { type: p.CKA_LABEL },
  ]);
  const get = (type: number): Buffer => attrs.find((a) => a.type === type)?.value ?? Buffer.alloc(0);
  const bool = (type: number): boolean => get(type).some((b) => b !== 0);
  const label = get(p.CKA_LABEL).toString('utf8');
  const id = Buffer.from(get(p.CKA_ID));
  const name = `key ${JSON.stringify(label)} (id ${id.toString('hex') || 'none'}) in PKCS#11 token ${token}`;
  if (ulong(get(p.CKA_CLASS)) !== p.CKO_SECRET_KEY || ulong(get(p.CKA_KEY_TYPE)) !== p.CKK_AES || ulong(get(p.CKA_VALUE_LEN)) !== MASTER_KEY_BYTES) {
    throw new KmsError('config', `${name} is not an AES-256 secret key`);
  }
  if (bool(p.CKA_EXTRACTABLE) || !bool(p.CKA_SENSITIVE)) {
    throw new KmsError('config', `${name} is ${bool(p.CKA_EXTRACTABLE) ? 'extractable' : 'not sensitive'}: a master key must never leave the HSM; create a new one with ${HSM_KEY_COMMAND}`);
  }
  if (!bool(p.CKA_ENCRYPT) || !bool(p.CKA_DECRYPT)) throw new KmsError('config', `${name} is not allowed to encrypt and decrypt`);
  if (id.length === 0 || id.length > MAX_KEY_ID) throw new KmsError('config', `${name} needs a CKA_ID of 1 to ${MAX_KEY_ID} bytes: blobs name their key by it`);
  return { id, label };
}

/** The one secret key with this CKA_ID, checked. */
function keyById(lib: Pkcs11Js.PKCS11, session: Handle, id: Buffer, token: string): Handle {
  const p = pkcs11Binding();
  const found = findObjects(lib, session, [{ type: p.CKA_CLASS, value: p.CKO_SECRET_KEY }, { type: p.CKA_ID, value: id }], 2);
  if (found.length === 0) throw new KmsError('unknown-key', `master key ${id.toString('hex')} is not in PKCS#11 token ${token} (deleted, or made in another token)`);
  if (found.length > 1) throw new KmsError('config', `several secret keys in PKCS#11 token ${token} have id ${id.toString('hex')}: key ids must be unique`);
  checkKey(lib, session, found[0]!, token);
  return found[0]!;
}

function gcm(iv: Buffer, aad: Buffer): Pkcs11Js.Mechanism {
  const p = pkcs11Binding();
  const parameter: Pkcs11Js.GcmParams = { type: p.CK_PARAMS_GCM, iv, ivBits: IV * 8, aad, tagBits: TAG * 8 };
  return { mechanism: p.CKM_AES_GCM, parameter };
}

// ---------------------------------------------------------------------------------------------
// The provider

/** Open the node's master key in its token. Throws KmsError ('config', 'denied', 'unknown-key', 'unavailable'). */
export async function openPkcs11Kms(options: Pkcs11KmsOptions): Promise<Pkcs11Kms> {
  return Pkcs11Kms.open(options);
}

export class Pkcs11Kms implements Kms {
  readonly name = 'pkcs11';
  readonly keyId: string;
  readonly keyLabel: string;
  readonly tokenLabel: string;
  #token: TokenSession | undefined;
  readonly #idBytes: Buffer;
  /** Checked key handles by key id; cleared when a handle or the session turns out stale. */
  readonly #keys = new Map<string, Handle>();
  #queue: Promise<unknown> = Promise.resolve();
  #closing: Promise<void> | undefined;

  /** Use openPkcs11Kms. */
  static async open(options: Pkcs11KmsOptions): Promise<Pkcs11Kms> {
    if (typeof options?.keyLabel !== 'string' || options.keyLabel.length === 0) throw new KmsError('config', 'NODE_KMS_PKCS11_KEY_LABEL (the master key label) is not set');
    const token = TokenSession.open(options);
    try {
      const p = pkcs11Binding();
      const session = token.session();
      const found = findObjects(token.lib, session, [{ type: p.CKA_CLASS, value: p.CKO_SECRET_KEY }, { type: p.CKA_LABEL, value: options.keyLabel }], 2);
      if (found.length === 0) {
        throw new KmsError('unknown-key', `no key labelled ${JSON.stringify(options.keyLabel)} in PKCS#11 token ${token.tokenLabel}: create it with ${HSM_KEY_COMMAND}`);
      }
      if (found.length > 1) throw new KmsError('config', `several keys are labelled ${JSON.stringify(options.keyLabel)} in PKCS#11 token ${token.tokenLabel}: labels of master keys must be unique`);
      const info = checkKey(token.lib, session, found[0]!, token.tokenLabel);
      keyById(token.lib, session, info.id, token.tokenLabel); // its id names it alone
      return new Pkcs11Kms(token, options.keyLabel, info.id, found[0]!);
    } catch (e) {
      token.close();
      throw toKmsError(e, 'open', token.tokenLabel);
    }
  }

  private constructor(token: TokenSession, keyLabel: string, id: Buffer, handle: Handle) {
    this.#token = token;
    this.tokenLabel = token.tokenLabel;
    this.keyLabel = keyLabel;
    this.#idBytes = id;
    this.keyId = id.toString('hex');
    this.#keys.set(this.keyId, handle);
  }

  async wrapKey(dataKey: Uint8Array, context: EncryptionContext): Promise<Uint8Array> {
    if (!(dataKey instanceof Uint8Array) || dataKey.length < MIN_DATA_KEY || dataKey.length > MAX_DATA_KEY) {
      throw new RangeError(`dataKey must be ${MIN_DATA_KEY} to ${MAX_DATA_KEY} bytes`);
    }
    this.#checkOpen();
    const fields = { keyId: this.#idBytes, dataKeyLength: dataKey.length };
    const iv = randomBytes(IV);
    const aad = Buffer.concat([PKCS11_BLOB.header(fields), encodeContext(context)]);
    const plain = Buffer.from(dataKey.buffer, dataKey.byteOffset, dataKey.byteLength);
    const sealed = await this.#run('wrap', (lib, session) => {
      const key = this.#key(lib, session, this.#idBytes);
      lib.C_EncryptInit(session, gcm(iv, aad), key);
      const out = lib.C_Encrypt(session, plain, Buffer.alloc(plain.length + 2 * TAG));
      if (out.length !== plain.length + TAG) throw new KmsError('config', `PKCS#11 token ${this.tokenLabel} returned ${out.length} bytes for AES-GCM, expected ${plain.length + TAG}`);
      return Buffer.from(out);
    });
    return PKCS11_BLOB.encode({ ...fields, iv, sealed });
  }

  async unwrapKey(wrapped: Uint8Array, context: EncryptionContext): Promise<Uint8Array> {
    const blob = PKCS11_BLOB.decode(wrapped);
    const n = blob.dataKeyLength;
    const id = Buffer.from(blob.keyId);
    this.#checkOpen();
    const iv = Buffer.from(blob.iv);
    const sealed = Buffer.from(blob.sealed);
    const aad = Buffer.concat([blob.header, encodeContext(context)]);
    return this.#run('unwrap', (lib, session) => {
      const key = this.#key(lib, session, id);
      lib.C_DecryptInit(session, gcm(iv, aad), key);
      const out = Buffer.alloc(sealed.length);
      let plain: Buffer;
      try {
        plain = lib.C_Decrypt(session, sealed, out);
      } catch (e) {
        out.fill(0);
        const code = ckr(e);
        if (code !== undefined && errorCodes().decryptFailed.has(code)) {
          // A general error is a failed tag only if the session is still there.
          if (!sessionAlive(lib, session)) throw new SessionLost('session lost during decrypt');
          throw unwrapFailed();
        }
        throw e;
      }
      if (plain.length !== n) {
        out.fill(0);
        throw unwrapFailed();
      }
      const result = Buffer.alloc(n);
      plain.copy(result);
      out.fill(0);
      return result;
    });
  }

  keyIdOf(wrapped: Uint8Array): string {
    return Buffer.from(PKCS11_BLOB.decode(wrapped).keyId).toString('hex');
  }

  /** Log out (if the last in this process), close the session, finalise the module if the last. */
  async close(): Promise<void> {
    this.#closing ??= this.#queue.then(() => {
      this.#keys.clear();
      this.#token?.close();
      this.#token = undefined;
    });
    return this.#closing;
  }

  #checkOpen(): void {
    if (this.#closing !== undefined || this.#token === undefined) throw new KmsError('closed', `PKCS#11 KMS (key ${this.keyLabel}) is closed`);
  }

  #key(lib: Pkcs11Js.PKCS11, session: Handle, id: Buffer): Handle {
    const hex = id.toString('hex');
    let key = this.#keys.get(hex);
    if (key === undefined) {
      key = keyById(lib, session, id, this.tokenLabel);
      this.#keys.set(hex, key);
    }
    return key;
  }

  /** Run `op` after every earlier operation of this instance has finished. */
  #run<T>(what: string, op: (lib: Pkcs11Js.PKCS11, session: Handle) => T): Promise<T> {
    const result = this.#queue.then(() => this.#attempt(what, op));
    this.#queue = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }

  /** Run `op`; after a stale key handle or a lost session, refresh (reopen the session) and retry once. */
  #attempt<T>(what: string, op: (lib: Pkcs11Js.PKCS11, session: Handle) => T): T {
    const token = this.#token;
    if (token === undefined || this.#closing !== undefined) throw new KmsError('closed', `PKCS#11 KMS (key ${this.keyLabel}) is closed`);
    let first: unknown;
    try {
      return op(token.lib, token.session());
    } catch (e) {
      if (!recoverable(e)) throw toKmsError(e, what, this.tokenLabel);
      first = e;
    }
    this.#keys.clear();
    if (!(first instanceof Error && errorCodes().handleInvalid.has(ckr(first) ?? -1))) {
      try {
        token.reopen();
      } catch (e) {
        if (e instanceof KmsError && (e.code === 'denied' || e.code === 'config')) throw e;
        throw new KmsError('unavailable', `PKCS#11 token ${this.tokenLabel}: ${what} failed (${describe(first)}) and the session could not be reopened: ${describe(e)}`, { cause: e });
      }
    }
    try {
      return op(token.lib, token.session());
    } catch (e) {
      if (recoverable(e)) throw new KmsError('unavailable', `PKCS#11 token ${this.tokenLabel}: ${what} failed again after reopening the session: ${describe(e)}`, { cause: e });
      throw toKmsError(e, what, this.tokenLabel);
    }
  }
}

function recoverable(e: unknown): boolean {
  if (e instanceof SessionLost) return true;
  const code = ckr(e);
  return code !== undefined && (errorCodes().sessionLost.has(code) || errorCodes().handleInvalid.has(code));
}

function sessionAlive(lib: Pkcs11Js.PKCS11, session: Handle): boolean {
  try {
    lib.C_GetSessionInfo(session);
    return true;
  } catch {
    return false;
  }
}

const unwrapFailed = (): KmsError => new KmsError('unwrap-failed', 'wrapped key did not authenticate: another encryption context, another master key, or tampered');

// ---------------------------------------------------------------------------------------------
// Key creation and tooling

/**
 * Generate a node's master key inside the token: AES-256, CKA_TOKEN, CKA_PRIVATE, CKA_SENSITIVE,
 * not CKA_EXTRACTABLE, encrypt/decrypt only, CKA_LABEL = keyLabel and a random 16-byte CKA_ID
 * (the key id blobs name). Refuses ('config') a label already used by an object in the token: a
 * key is never replaced, since blobs under it would become unreadable.
 */
export async function createPkcs11Key(options: Pkcs11KmsOptions): Promise<{ keyId: string }> {
  if (typeof options?.keyLabel !== 'string' || options.keyLabel.length === 0) throw new KmsError('config', 'the key label is empty');
  const token = TokenSession.open(options);
  try {
    const p = pkcs11Binding();
    const lib = token.lib;
    const session = token.session();
    const label = { type: p.CKA_LABEL, value: options.keyLabel };
    const exists = (): number => findObjects(lib, session, [label], 2).length;
    if (exists() > 0) throw new KmsError('config', `PKCS#11 token ${token.tokenLabel} already has an object labelled ${JSON.stringify(options.keyLabel)}: keys are never replaced, choose another label`);
    const id = randomBytes(NEW_KEY_ID_BYTES);
    const key = lib.C_GenerateKey(session, { mechanism: p.CKM_AES_KEY_GEN }, [
      { type: p.CKA_CLASS, value: p.CKO_SECRET_KEY },
      { type: p.CKA_KEY_TYPE, value: p.CKK_AES },
      { type: p.CKA_VALUE_LEN, value: MASTER_KEY_BYTES },
      { type: p.CKA_TOKEN, value: true },
      { type: p.CKA_PRIVATE, value: true },
      { type: p.CKA_SENSITIVE, value: true },
      { type: p.CKA_EXTRACTABLE, value: false },
      { type: p.CKA_ENCRYPT, value: true },
      { type: p.CKA_DECRYPT, value: true },
      { type: p.CKA_WRAP, value: false },
      { type: p.CKA_UNWRAP, value: false },
      { type: p.CKA_SIGN, value: false },
      { type: p.CKA_VERIFY, value: false },
      { type: p.CKA_DERIVE, value: false },
      label,
      { type: p.CKA_ID, value: id },
    ]);
    try {
      // Another creator may have raced us to the label; and the token must have honoured the template.
      if (exists() > 1) throw new KmsError('config', `another key labelled ${JSON.stringify(options.keyLabel)} was created in PKCS#11 token ${token.tokenLabel} at the same time`);
      checkKey(lib, session, key, token.tokenLabel);
    } catch (e) {
      try {
        lib.C_DestroyObject(session, key);
      } catch {
        // report the first failure
      }
      throw e;
    }
    return { keyId: id.toString('hex') };
  } catch (e) {
    throw toKmsError(e, 'key generation', token.tokenLabel);
  } finally {
    token.close();
  }
}

/**
 * @internal For tests and tooling: run `fn` with a logged-in R/W session of the token. It shares
 * the process's module and login state with open Pkcs11Kms instances, which stay usable.
 */
export async function withPkcs11Session<T>(options: Pkcs11TokenOptions, fn: (pkcs11: Pkcs11Js.PKCS11, session: Handle) => T | Promise<T>): Promise<T> {
  const token = TokenSession.open(options);
  try {
    return await fn(token.lib, token.session());
  } finally {
    token.close();
  }
}
