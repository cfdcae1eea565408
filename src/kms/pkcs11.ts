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
 * Modules: this one is the provider; ./pkcs11-token.ts loads the library and keeps sessions and
 * logins, ./pkcs11-keys.ts finds, checks and creates master keys.
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
import { randomBytes } from 'node:crypto';
import type * as Pkcs11Js from 'pkcs11js';
import { GCM_IV, GCM_TAG, MAX_DATA_KEY, MIN_DATA_KEY, PKCS11_BLOB } from './blob.js';
import { encodeContext, type EncryptionContext, type Kms, KmsError } from './kms.js';
import { checkKey, findObjects, gcm, HSM_KEY_COMMAND, keyById, type Pkcs11KmsOptions } from './pkcs11-keys.js';
import {
  ckr,
  describe,
  errorCodes,
  type Handle,
  pkcs11Binding,
  SessionLost,
  TokenSession,
  toKmsError,
} from './pkcs11-token.js';

export { createPkcs11Key, type Pkcs11KmsOptions } from './pkcs11-keys.js';
export { pkcs11Binding, withPkcs11Session, type Pkcs11TokenOptions } from './pkcs11-token.js';

const IV = GCM_IV;
const TAG = GCM_TAG;

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
    if (typeof options?.keyLabel !== 'string' || options.keyLabel.length === 0)
      throw new KmsError('config', 'NODE_KMS_PKCS11_KEY_LABEL (the master key label) is not set');
    const token = TokenSession.open(options);
    try {
      const p = pkcs11Binding();
      const session = token.session();
      const found = findObjects(
        token.lib,
        session,
        [
          { type: p.CKA_CLASS, value: p.CKO_SECRET_KEY },
          { type: p.CKA_LABEL, value: options.keyLabel },
        ],
        2,
      );
      if (found.length === 0) {
        throw new KmsError(
          'unknown-key',
          `no key labelled ${JSON.stringify(options.keyLabel)} in PKCS#11 token ${token.tokenLabel}: create it with ${HSM_KEY_COMMAND}`,
        );
      }
      if (found.length > 1)
        throw new KmsError(
          'config',
          `several keys are labelled ${JSON.stringify(options.keyLabel)} in PKCS#11 token ${token.tokenLabel}: labels of master keys must be unique`,
        );
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
      if (out.length !== plain.length + TAG)
        throw new KmsError(
          'config',
          `PKCS#11 token ${this.tokenLabel} returned ${out.length} bytes for AES-GCM, expected ${plain.length + TAG}`,
        );
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
    if (this.#closing !== undefined || this.#token === undefined)
      throw new KmsError('closed', `PKCS#11 KMS (key ${this.keyLabel}) is closed`);
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
    if (token === undefined || this.#closing !== undefined)
      throw new KmsError('closed', `PKCS#11 KMS (key ${this.keyLabel}) is closed`);
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
        throw new KmsError(
          'unavailable',
          `PKCS#11 token ${this.tokenLabel}: ${what} failed (${describe(first)}) and the session could not be reopened: ${describe(e)}`,
          { cause: e },
        );
      }
    }
    try {
      return op(token.lib, token.session());
    } catch (e) {
      if (recoverable(e))
        throw new KmsError(
          'unavailable',
          `PKCS#11 token ${this.tokenLabel}: ${what} failed again after reopening the session: ${describe(e)}`,
          { cause: e },
        );
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

const unwrapFailed = (): KmsError =>
  new KmsError(
    'unwrap-failed',
    'wrapped key did not authenticate: another encryption context, another master key, or tampered',
  );
