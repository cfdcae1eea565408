/**
 * Master keys in a PKCS#11 token: finding a key by label or CKA_ID, checking it is a sensitive,
 * non-extractable AES-256 key allowed to encrypt and decrypt, the AES-GCM mechanism the provider
 * wraps with, and generating a new master key inside the token (`createPkcs11Key`, run by
 * `node dist/scripts/hsm-key.js`).
 * @module
 */
import { randomBytes } from 'node:crypto';
import { endianness } from 'node:os';
import type * as Pkcs11Js from 'pkcs11js';
import { GCM_IV, GCM_TAG, PKCS11_MAX_KEY_ID } from './blob.js';
import { KmsError } from './kms.js';
import { type Handle, pkcs11Binding, type Pkcs11TokenOptions, TokenSession, toKmsError } from './pkcs11-token.js';

export interface Pkcs11KmsOptions extends Pkcs11TokenOptions {
  /** NODE_KMS_PKCS11_KEY_LABEL: CKA_LABEL of the master key new wraps use. */
  keyLabel: string;
}

const MAX_KEY_ID = PKCS11_MAX_KEY_ID;
const NEW_KEY_ID_BYTES = 16;
const MASTER_KEY_BYTES = 32;
const IV = GCM_IV;
const TAG = GCM_TAG;
export const HSM_KEY_COMMAND =
  'node dist/scripts/hsm-key.js --module <library> --token <token label> --label <key label>';

// ---------------------------------------------------------------------------------------------
// Keys

export function findObjects(lib: Pkcs11Js.PKCS11, session: Handle, template: Pkcs11Js.Template, max: number): Handle[] {
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
export function checkKey(lib: Pkcs11Js.PKCS11, session: Handle, key: Handle, token: string): KeyInfo {
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
  if (
    ulong(get(p.CKA_CLASS)) !== p.CKO_SECRET_KEY ||
    ulong(get(p.CKA_KEY_TYPE)) !== p.CKK_AES ||
    ulong(get(p.CKA_VALUE_LEN)) !== MASTER_KEY_BYTES
  ) {
    throw new KmsError('config', `${name} is not an AES-256 secret key`);
  }
  if (bool(p.CKA_EXTRACTABLE) || !bool(p.CKA_SENSITIVE)) {
    throw new KmsError(
      'config',
      `${name} is ${bool(p.CKA_EXTRACTABLE) ? 'extractable' : 'not sensitive'}: a master key must never leave the HSM; create a new one with ${HSM_KEY_COMMAND}`,
    );
  }
  if (!bool(p.CKA_ENCRYPT) || !bool(p.CKA_DECRYPT))
    throw new KmsError('config', `${name} is not allowed to encrypt and decrypt`);
  if (id.length === 0 || id.length > MAX_KEY_ID)
    throw new KmsError('config', `${name} needs a CKA_ID of 1 to ${MAX_KEY_ID} bytes: blobs name their key by it`);
  return { id, label };
}

/** The one secret key with this CKA_ID, checked. */
export function keyById(lib: Pkcs11Js.PKCS11, session: Handle, id: Buffer, token: string): Handle {
  const p = pkcs11Binding();
  const found = findObjects(
    lib,
    session,
    [
      { type: p.CKA_CLASS, value: p.CKO_SECRET_KEY },
      { type: p.CKA_ID, value: id },
    ],
    2,
  );
  if (found.length === 0)
    throw new KmsError(
      'unknown-key',
      `master key ${id.toString('hex')} is not in PKCS#11 token ${token} (deleted, or made in another token)`,
    );
  if (found.length > 1)
    throw new KmsError(
      'config',
      `several secret keys in PKCS#11 token ${token} have id ${id.toString('hex')}: key ids must be unique`,
    );
  checkKey(lib, session, found[0]!, token);
  return found[0]!;
}

export function gcm(iv: Buffer, aad: Buffer): Pkcs11Js.Mechanism {
  const p = pkcs11Binding();
  const parameter: Pkcs11Js.GcmParams = { type: p.CK_PARAMS_GCM, iv, ivBits: IV * 8, aad, tagBits: TAG * 8 };
  return { mechanism: p.CKM_AES_GCM, parameter };
}

// ---------------------------------------------------------------------------------------------
// Key creation and tooling

/**
 * Generate a node's master key inside the token: AES-256, CKA_TOKEN, CKA_PRIVATE, CKA_SENSITIVE,
 * not CKA_EXTRACTABLE, encrypt/decrypt only, CKA_LABEL = keyLabel and a random 16-byte CKA_ID
 * (the key id blobs name). Refuses ('config') a label already used by an object in the token: a
 * key is never replaced, since blobs under it would become unreadable.
 */
export async function createPkcs11Key(options: Pkcs11KmsOptions): Promise<{ keyId: string }> {
  if (typeof options?.keyLabel !== 'string' || options.keyLabel.length === 0)
    throw new KmsError('config', 'the key label is empty');
  const token = TokenSession.open(options);
  try {
    const p = pkcs11Binding();
    const lib = token.lib;
    const session = token.session();
    const label = { type: p.CKA_LABEL, value: options.keyLabel };
    const exists = (): number => findObjects(lib, session, [label], 2).length;
    if (exists() > 0)
      throw new KmsError(
        'config',
        `PKCS#11 token ${token.tokenLabel} already has an object labelled ${JSON.stringify(options.keyLabel)}: keys are never replaced, choose another label`,
      );
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
      if (exists() > 1)
        throw new KmsError(
          'config',
          `another key labelled ${JSON.stringify(options.keyLabel)} was created in PKCS#11 token ${token.tokenLabel} at the same time`,
        );
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
