/**
 * The IBM Cloud provider: a node's data keys are wrapped by a Key Protect root key (one per node,
 * NODE_KMS_IBM_KEY_ID, in the instance NODE_KMS_IBM_INSTANCE_ID) that never leaves Key Protect's
 * HSMs. Calls go to Key Protect's REST API v2 (`POST /api/v2/keys/{id}/actions/wrap` and `…/unwrap`,
 * `GET /api/v2/keys/{id}/metadata`, with the `bluemix-instance` header) through `ibm-cloud-sdk-core`:
 * its IamAuthenticator exchanges the API key for an IAM access token and renews it before it
 * expires, and BaseService sends the authenticated requests. The npm registry's IBM Secrets Manager
 * SDK speaks the deprecated v1 API, and Secrets Manager stores secrets rather than wrapping keys
 * under a non-extractable root key, so it is not used; the registry's Key Protect SDK is a 0.1
 * pre-release. The core library is what IBM's generated SDKs are built on, and the three calls we
 * need are small enough to make directly against the documented REST API.
 *
 * At open, the key's metadata is read: a key that is not a root key (`extractable` is true) or is
 * not active (`state` 1; 2 suspended, 3 deactivated, 5 destroyed) is refused with 'config', so a
 * bad setting fails at start rather than at the first wrap. This also proves the API key works.
 *
 * The encryption context is bound natively, as Key Protect's AAD: the canonical encoding of the
 * context (encodeContext, injective), in base64, cut into strings of at most 255 characters (one
 * string for any usual context). The strings concatenate back to that one base64 text whatever way
 * Key Protect combines the list, so the binding stays injective without relying on how the service
 * joins AAD entries, and every entry stays within the service's per-string limit.
 *
 * Wrapped blob: IBM_BLOB in ./blob.ts (instance id, key id, key version id, then Key Protect's
 * ciphertext, decoded from base64). Instance and key are ours, so `keyIdOf` needs no call and an unwrap goes to the key the blob names;
 * only the configured key (`<instance>/<key>`) is trusted for unwrapping, since a blob naming a key
 * someone else controls would let them choose the data key. The key version is the one Key Protect
 * reported on wrap; unwrap checks that Key Protect reports the same version for the ciphertext. A
 * root key rotated in Key Protect keeps its id, and its old versions still unwrap (Key Protect's
 * re-wrapped ciphertext in the answer is not used: the blob stays valid as is).
 *
 * Retries: the SDK's own retries are off and each call goes through `withRetries`, so throttling
 * (429), 5xx answers and network failures are retried with our bounded backoff, and every request
 * (to IAM or Key Protect) is cut off after `timeoutMs`. A 401 from Key Protect (a token revoked or
 * expired early) gets one fresh token and one more try; then it is 'denied'. Errors name keys,
 * statuses, Key Protect reason codes and correlation ids only: never the API key, the token, or
 * any text a server sent back. The data key crosses the SDK as a base64 string inside the request
 * body, which cannot be zeroised; the buffer we return is our own.
 * @module
 */
import { randomUUID } from 'node:crypto';
import { BaseService, IamAuthenticator, type AuthenticatorInterface } from 'ibm-cloud-sdk-core';
import { IBM_BLOB, IBM_ID, IBM_MAX_CIPHERTEXT, MAX_DATA_KEY, MIN_DATA_KEY } from './blob.js';
import { encodeContext, type EncryptionContext, type Kms, KmsError, type KmsErrorCode } from './kms.js';
import {
  checkRetryPolicy,
  DEFAULT_RETRY,
  describeError,
  isTransientStatus,
  type RetryPolicy,
  TRANSIENT_NET_CODES,
  withRetries,
} from './retry.js';

export interface IbmKmsOptions {
  /** NODE_KMS_IBM_KEY_ID: the root key's id (UUID) or alias; the id is resolved at open. */
  keyId: string;
  /** NODE_KMS_IBM_INSTANCE_ID: the Key Protect instance GUID. */
  instanceId: string;
  /** NODE_KMS_IBM_ENDPOINT, e.g. https://eu-de.kms.cloud.ibm.com; plain http only on loopback (tests). */
  endpoint: string;
  /** NODE_KMS_IBM_API_KEY: exchanged at IAM for tokens. A secret: never logged or put in errors. */
  apiKey: string;
  /** IAM base URL (default https://iam.cloud.ibm.com); the token path is appended. */
  iamUrl?: string;
  /**
   * Root key ids (UUIDs, same instance) replaced by a switch to a new root key
   * (NODE_KMS_IBM_RETIRED_KEY_IDS): their blobs still unwrap, new wraps never use them. A rotation
   * of the same root key needs nothing here: Key Protect unwraps old versions itself.
   */
  retiredKeyIds?: readonly string[];
  /** Default DEFAULT_RETRY. */
  retry?: RetryPolicy;
  /** Limit on each request to IAM or Key Protect, connecting included (default 10000 ms). */
  timeoutMs?: number;
}

export const DEFAULT_IAM_URL = 'https://iam.cloud.ibm.com';
const PROVIDER = 'ibm';
const DEFAULT_TIMEOUT_MS = 10_000;
const AAD_CHUNK = 255;
const KEY_ACTION_TYPE = 'application/vnd.ibm.kms.key_action+json';
/** Instance GUIDs, key ids and key version ids (UUIDs); aliases are resolved at open and never stored. */
const ID = IBM_ID;
/** A key id or an alias, as configured. */
const KEY_REF = /^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const REASON = /^[A-Z][A-Z0-9_]{0,63}$/;
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);
const ACTIVE = 1;
const STATE_NAMES: Record<number, string> = {
  0: 'pre-activation',
  1: 'active',
  2: 'suspended',
  3: 'deactivated',
  5: 'destroyed',
};

type Phase = 'open' | 'wrap' | 'unwrap';

/** The AAD strings that bind `context`: base64 of its canonical encoding, in pieces of ≤ 255 characters. */
export function ibmContextAad(context: EncryptionContext): string[] {
  const text = Buffer.from(encodeContext(context)).toString('base64');
  const out: string[] = [];
  for (let i = 0; i < text.length; i += AAD_CHUNK) out.push(text.slice(i, i + AAD_CHUNK));
  return out;
}

/** Check the settings, read and check the root key's metadata, and return a provider using it. */
export async function openIbmKms(options: IbmKmsOptions): Promise<IbmKms> {
  return IbmKms.open(options);
}

export class IbmKms implements Kms {
  readonly name = 'ibm';
  /** `<instance GUID>/<root key id>`: the key new wraps use. */
  readonly keyId: string;
  readonly instanceId: string;
  readonly rootKeyId: string;
  /** Root key ids (in `instanceId`) whose blobs this instance unwraps: the configured one. */
  readonly #trusted: Set<string>;
  readonly #retry: RetryPolicy;
  #client: KeyProtectClient | undefined;

  private constructor(
    client: KeyProtectClient,
    instanceId: string,
    rootKeyId: string,
    retry: RetryPolicy,
    retired: readonly string[],
  ) {
    this.#client = client;
    this.instanceId = instanceId;
    this.rootKeyId = rootKeyId;
    this.keyId = `${instanceId}/${rootKeyId}`;
    this.#trusted = new Set([rootKeyId, ...retired]);
    this.#retry = retry;
  }

  /** Use openIbmKms. */
  static async open(options: IbmKmsOptions): Promise<IbmKms> {
    const { keyId, instanceId } = options;
    if (typeof keyId !== 'string' || !KEY_REF.test(keyId))
      throw new RangeError('keyId must be a Key Protect key id or alias: 1 to 100 characters of [A-Za-z0-9_-]');
    if (typeof instanceId !== 'string' || !ID.test(instanceId))
      throw new RangeError('instanceId must be a Key Protect instance GUID');
    const endpoint = checkUrl('endpoint', options.endpoint);
    const iamUrl = checkUrl('iamUrl', options.iamUrl ?? DEFAULT_IAM_URL);
    // Only the name is checked: the value goes nowhere but the authenticator.
    if (
      typeof options.apiKey !== 'string' ||
      options.apiKey.length === 0 ||
      options.apiKey.length > 1024 ||
      /[\s"'{}]/.test(options.apiKey)
    ) {
      throw new RangeError('apiKey must be an IBM Cloud API key (no spaces, quotes or braces)');
    }
    const retry = checkRetryPolicy(options.retry ?? DEFAULT_RETRY);
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    if (!Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > 120_000)
      throw new RangeError('timeoutMs must be an integer from 1 to 120000');
    const retired = (options.retiredKeyIds ?? []).map((k) => {
      if (typeof k !== 'string' || !UUID.test(k))
        throw new RangeError('retiredKeyIds must be Key Protect root key ids (UUIDs)');
      return k.toLowerCase();
    });

    const client = new KeyProtectClient(endpoint, iamUrl, options.apiKey, instanceId, timeoutMs);
    try {
      const what = `reading metadata of key ${keyId} in instance ${instanceId}`;
      const body = await callKeyProtect('open', what, retry, () =>
        client.request('GET', '/api/v2/keys/{id}/metadata', keyId),
      );
      const key = firstResource(body);
      if (key === undefined) throw new KmsError('unavailable', `ibm KMS: ${what}: unexpected answer`);
      const id = key['id'];
      if (typeof id !== 'string' || !ID.test(id))
        throw new KmsError('unavailable', `ibm KMS: ${what}: the answer names no usable key id`);
      if (UUID.test(keyId) && id.toLowerCase() !== keyId.toLowerCase())
        throw new KmsError('config', `ibm KMS: ${what}: the answer is for another key (${id})`);
      if (key['extractable'] !== false)
        throw new KmsError('config', `ibm KMS key ${id} in instance ${instanceId} is a standard key, not a root key`);
      const state = key['state'];
      if (state !== ACTIVE || key['deleted'] === true) {
        const name = typeof state === 'number' ? (STATE_NAMES[state] ?? `state ${state}`) : 'unknown state';
        throw new KmsError('config', `ibm KMS root key ${id} in instance ${instanceId} is not active (${name})`);
      }
      return new IbmKms(client, instanceId, id, retry, retired);
    } catch (e) {
      client.drop();
      throw e;
    }
  }

  async wrapKey(dataKey: Uint8Array, context: EncryptionContext): Promise<Uint8Array> {
    if (!(dataKey instanceof Uint8Array) || dataKey.length < MIN_DATA_KEY || dataKey.length > MAX_DATA_KEY) {
      throw new RangeError(`dataKey must be ${MIN_DATA_KEY} to ${MAX_DATA_KEY} bytes`);
    }
    this.#assertOpen();
    const aad = ibmContextAad(context);
    const keyId = this.rootKeyId;
    const body = {
      plaintext: Buffer.from(dataKey.buffer, dataKey.byteOffset, dataKey.byteLength).toString('base64'),
      aad,
    };
    const what = `wrap with key ${keyId} in instance ${this.instanceId}`;
    const out = await this.#call('wrap', what, (client) =>
      client.request('POST', '/api/v2/keys/{id}/actions/wrap', keyId, body),
    );
    const ciphertext =
      out !== null && typeof out === 'object'
        ? decodeBase64((out as Record<string, unknown>)['ciphertext'])
        : undefined;
    if (ciphertext === undefined || ciphertext.length === 0 || ciphertext.length > IBM_MAX_CIPHERTEXT)
      throw new KmsError('unavailable', `ibm KMS: ${what}: the answer has no usable ciphertext`);
    const version = keyVersionOf(out, 'keyVersion');
    if (version === undefined) throw new KmsError('unavailable', `ibm KMS: ${what}: the answer names no key version`);
    return IBM_BLOB.encode({ instanceId: this.instanceId, keyId, version, ciphertext });
  }

  async unwrapKey(wrapped: Uint8Array, context: EncryptionContext): Promise<Uint8Array> {
    this.#assertOpen();
    const blob = IBM_BLOB.decode(wrapped);
    const aad = ibmContextAad(context);
    if (blob.instanceId !== this.instanceId || !this.#trusted.has(blob.keyId)) {
      throw new KmsError(
        'unknown-key',
        `ibm KMS: the wrapped key is under ${blob.instanceId}/${blob.keyId}, not a key this node uses (${this.keyId})`,
      );
    }
    const what = `unwrap with key ${blob.keyId} in instance ${blob.instanceId}`;
    const body = { ciphertext: Buffer.from(blob.ciphertext).toString('base64'), aad };
    const out = await this.#call('unwrap', what, (client) =>
      client.request('POST', '/api/v2/keys/{id}/actions/unwrap', blob.keyId, body),
    );
    const plaintext =
      out !== null && typeof out === 'object' ? (out as Record<string, unknown>)['plaintext'] : undefined;
    const key = decodeBase64(plaintext);
    if (key === undefined || key.length < MIN_DATA_KEY || key.length > MAX_DATA_KEY) {
      key?.fill(0);
      throw new KmsError('unwrap-failed', `ibm KMS: ${what}: the unwrapped data key has the wrong length`);
    }
    const version = keyVersionOf(out, 'keyVersion');
    if (version !== blob.version) {
      key.fill(0);
      throw new KmsError(
        'unwrap-failed',
        `ibm KMS: ${what}: Key Protect reports key version ${version ?? 'none'}, the wrapped key names ${blob.version}`,
      );
    }
    return key;
  }

  keyIdOf(wrapped: Uint8Array): string {
    const blob = IBM_BLOB.decode(wrapped);
    return `${blob.instanceId}/${blob.keyId}`;
  }

  async close(): Promise<void> {
    const client = this.#client;
    this.#client = undefined;
    client?.drop();
  }

  #assertOpen(): void {
    if (this.#client === undefined) throw new KmsError('closed', 'ibm KMS is closed');
  }

  /** One Key Protect call with bounded retries; a call cut short by close() reports 'closed'. */
  async #call(phase: Phase, what: string, op: (client: KeyProtectClient) => Promise<unknown>): Promise<unknown> {
    const closed = (): KmsError => new KmsError('closed', 'ibm KMS is closed');
    if (this.#client === undefined) throw closed();
    try {
      return await callKeyProtect(phase, what, this.#retry, () => {
        const client = this.#client;
        if (client === undefined) throw closed();
        return op(client);
      });
    } catch (e) {
      if (this.#client === undefined) throw closed();
      throw e;
    }
  }
}

/**
 * A failed request, reduced to what is safe to show: which service, the HTTP status or network
 * error code, Key Protect's reason code and our correlation id. The SDK's own error (which may hold
 * a server's text) is never kept.
 */
export class IbmCallError extends Error {
  override readonly name = 'IbmCallError';
  constructor(
    readonly service: 'iam' | 'key-protect',
    readonly status: number | undefined,
    readonly code: string | undefined,
    readonly reason: string | undefined,
    readonly correlationId: string | undefined,
  ) {
    super(
      `${service === 'iam' ? 'IAM' : 'Key Protect'} ${status !== undefined ? `answered HTTP ${status}${reason !== undefined ? ` ${reason}` : ''}` : `did not answer (${code ?? 'no error code'})`}` +
        (correlationId !== undefined ? ` [correlation id ${correlationId}]` : ''),
    );
  }

  get transient(): boolean {
    if (this.status !== undefined) return isTransientStatus(this.status);
    return this.code !== undefined && (TRANSIENT_NET_CODES.has(this.code) || this.code === 'ERR_NETWORK');
  }
}

/** An IAM failure inside the SDK's authenticate step, told apart from Key Protect's answers. */
class IamStepError extends Error {
  constructor(readonly original: unknown) {
    super('IAM token request failed');
  }
}

/** Delegates to the IamAuthenticator, marking its failures as IAM's. */
class MarkedAuthenticator implements AuthenticatorInterface {
  constructor(private readonly inner: IamAuthenticator) {}
  async authenticate(requestOptions: Parameters<AuthenticatorInterface['authenticate']>[0]): Promise<void> {
    try {
      await this.inner.authenticate(requestOptions);
    } catch (e) {
      throw new IamStepError(e);
    }
  }
  authenticationType(): string {
    return this.inner.authenticationType();
  }
}

class KeyProtectService extends BaseService {
  async send(parameters: unknown): Promise<unknown> {
    const res = (await this.createRequest(parameters)) as { result?: unknown } | undefined;
    return res?.result;
  }
}

/** The SDK objects for one provider; the authenticator (and its token) is replaced after a 401. */
class KeyProtectClient {
  readonly #endpoint: string;
  readonly #iamUrl: string;
  readonly #apiKey: string;
  readonly #instanceId: string;
  readonly #timeoutMs: number;
  #service: KeyProtectService | undefined;

  constructor(endpoint: string, iamUrl: string, apiKey: string, instanceId: string, timeoutMs: number) {
    this.#endpoint = endpoint;
    this.#iamUrl = iamUrl;
    this.#apiKey = apiKey;
    this.#instanceId = instanceId;
    this.#timeoutMs = timeoutMs;
    this.#service = this.#makeService();
  }

  #makeService(): KeyProtectService {
    // maxRedirects 0: neither service redirects, and a token must not follow a redirect elsewhere.
    const http = { timeout: this.#timeoutMs, maxRedirects: 0 };
    const iam = new IamAuthenticator({ apikey: this.#apiKey, url: this.#iamUrl, ...http });
    const service = new KeyProtectService({
      authenticator: new MarkedAuthenticator(iam),
      serviceUrl: this.#endpoint,
      ...http,
    });
    service.disableRetries(); // withRetries does the retrying, with our bounds
    return service;
  }

  /**
   * One request. A 401 from Key Protect means the token was refused although the authenticator
   * thought it valid (revoked, or expired early): get a fresh token once and try again.
   */
  async request(method: 'GET' | 'POST', url: string, keyId: string, body?: object): Promise<unknown> {
    const first = this.#service;
    if (first === undefined) throw new KmsError('closed', 'ibm KMS is closed');
    try {
      return await this.#send(first, method, url, keyId, body);
    } catch (e) {
      if (!(e instanceof IbmCallError) || e.service !== 'key-protect' || e.status !== 401) throw e;
      if (this.#service === first) this.#service = this.#makeService(); // concurrent callers share one renewal
      const second = this.#service;
      if (second === undefined) throw new KmsError('closed', 'ibm KMS is closed');
      return await this.#send(second, method, url, keyId, body);
    }
  }

  async #send(
    service: KeyProtectService,
    method: 'GET' | 'POST',
    url: string,
    keyId: string,
    body: object | undefined,
  ): Promise<unknown> {
    const correlationId = randomUUID();
    const headers: Record<string, string> = {
      Accept: 'application/json',
      'bluemix-instance': this.#instanceId,
      'correlation-id': correlationId,
    };
    if (body !== undefined) headers['Content-Type'] = KEY_ACTION_TYPE;
    try {
      return await service.send({
        options: {
          url,
          method,
          path: { id: keyId },
          headers,
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        },
        defaultOptions: { serviceUrl: this.#endpoint, headers: {} },
      });
    } catch (e) {
      throw e instanceof IamStepError
        ? sanitize('iam', e.original, undefined)
        : sanitize('key-protect', e, correlationId);
    }
  }

  drop(): void {
    this.#service = undefined;
  }
}

/** The SDK's error (status and parsed body, or a network code in `statusText`) as an IbmCallError. */
function sanitize(service: 'iam' | 'key-protect', e: unknown, correlationId: string | undefined): IbmCallError {
  const o = (e !== null && typeof e === 'object' ? e : {}) as Record<string, unknown>;
  const status = typeof o['status'] === 'number' ? o['status'] : undefined;
  let code: string | undefined;
  let reason: string | undefined;
  if (status === undefined) {
    const c = typeof o['statusText'] === 'string' ? o['statusText'] : o['code'];
    if (typeof c === 'string' && /^[A-Z][A-Z0-9_]{1,40}$/.test(c)) code = c;
  } else if (service === 'key-protect') {
    reason = reasonOf(o['result']);
  }
  return new IbmCallError(service, status, code, reason, correlationId);
}

/** The first reason code of Key Protect's error body: `{ resources: [{ errorMsg, reasons: [{ code, … }] }] }`. */
function reasonOf(body: unknown): string | undefined {
  const r = firstResource(body);
  const reasons = r?.['reasons'];
  const first: unknown = Array.isArray(reasons) ? reasons[0] : undefined;
  const code = first !== null && typeof first === 'object' ? (first as Record<string, unknown>)['code'] : undefined;
  return typeof code === 'string' && REASON.test(code) ? code : undefined;
}

function firstResource(body: unknown): Record<string, unknown> | undefined {
  const resources =
    body !== null && typeof body === 'object' ? (body as Record<string, unknown>)['resources'] : undefined;
  const first: unknown = Array.isArray(resources) ? resources[0] : undefined;
  return first !== null && typeof first === 'object' ? (first as Record<string, unknown>) : undefined;
}

function keyVersionOf(body: unknown, field: string): string | undefined {
  const kv = body !== null && typeof body === 'object' ? (body as Record<string, unknown>)[field] : undefined;
  const id = kv !== null && typeof kv === 'object' ? (kv as Record<string, unknown>)['id'] : undefined;
  return typeof id === 'string' && ID.test(id) ? id : undefined;
}

/** Strict base64 (the canonical encoding only) into a buffer of its own, not the shared pool. */
function decodeBase64(s: unknown): Buffer | undefined {
  if (
    typeof s !== 'string' ||
    s.length % 4 !== 0 ||
    s.length > 4 * IBM_MAX_CIPHERTEXT ||
    !/^[A-Za-z0-9+/]*={0,2}$/.test(s)
  )
    return undefined;
  const out = Buffer.alloc(Buffer.byteLength(s, 'base64'));
  out.write(s, 'base64');
  if (out.toString('base64') !== s) {
    out.fill(0);
    return undefined;
  }
  return out;
}

function checkUrl(name: string, value: unknown): string {
  let url: URL;
  try {
    url = new URL(String(value));
  } catch {
    throw new RangeError(`${name} must be a URL`);
  }
  if (!(url.protocol === 'https:' || (url.protocol === 'http:' && LOOPBACK.has(url.hostname))))
    throw new RangeError(`${name} must be an https URL (http only on loopback)`);
  if (url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== '')
    throw new RangeError(`${name} must not hold credentials, a query or a fragment`);
  return url.href.replace(/\/+$/, '');
}

async function callKeyProtect<T>(phase: Phase, what: string, retry: RetryPolicy, op: () => Promise<T>): Promise<T> {
  try {
    return await withRetries(PROVIDER, what, retry, (e) => e instanceof IbmCallError && e.transient, op);
  } catch (e) {
    throw e instanceof KmsError ? e : toKmsError(e, phase, what);
  }
}

/** A permanent failure as a KmsError; the message has ids, statuses and reason codes only. */
function toKmsError(e: unknown, phase: Phase, what: string): KmsError {
  if (!(e instanceof IbmCallError)) {
    // Not a request failure (a bug, or the SDK refusing its input): keep only the error's name.
    return new KmsError('unavailable', `ibm KMS: ${what} failed: ${describeError(e)}`);
  }
  const s = e.status;
  let code: KmsErrorCode;
  let why: string;
  if (e.service === 'iam') {
    // IAM answers 400 for an unknown or malformed API key, 401/403 for a disabled one.
    if (s === 400 || s === 401 || s === 403) [code, why] = ['denied', 'IAM refused the API key'];
    else if (s === undefined && /CERT|SSL|TLS|SELF_SIGNED/.test(e.code ?? ''))
      [code, why] = ['config', "IAM's certificate was refused"];
    else [code, why] = ['unavailable', 'unexpected IAM failure'];
  } else if (s === 401 || s === 403) {
    [code, why] = ['denied', 'Key Protect refused the token or its permissions'];
  } else if (s === 404 || s === 410) {
    [code, why] = [phase === 'open' ? 'config' : 'unknown-key', 'the key does not exist or was deleted'];
  } else if (s === 409 || (s === 422 && /^KEY_/.test(e.reason ?? ''))) {
    [code, why] = [phase === 'open' ? 'config' : 'unknown-key', 'the key is not in a state that allows this action'];
  } else if ((s === 400 || s === 422) && phase === 'unwrap') {
    [code, why] = ['unwrap-failed', 'another encryption context, another key, or tampered'];
  } else if (s === 400 || s === 422) {
    [code, why] = ['config', 'the request or key does not suit this provider'];
  } else if (s === undefined && /CERT|SSL|TLS|SELF_SIGNED/.test(e.code ?? '')) {
    [code, why] = ['config', "Key Protect's certificate was refused"];
  } else {
    [code, why] = ['unavailable', 'unexpected answer'];
  }
  return new KmsError(code, `ibm KMS: ${what} failed (${why}): ${e.message}`, { cause: e });
}
