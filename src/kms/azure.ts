/**
 * Azure Key Vault KMS: data keys are wrapped with RSA-OAEP-256 under an RSA key in a vault
 * (NODE_KMS_AZURE_KEY_ID: https://<vault>.vault.azure.net/keys/<name>[/<version>]; Managed HSM and
 * sovereign-cloud hosts work the same). At open the key id is resolved to its current version and
 * the key is refused unless it is RSA or RSA-HSM, enabled, unexpired and allows wrapKey and
 * unwrapKey; new wraps use that version until the next open. Both wrap and unwrap are calls to the vault: the SDK wraps locally only for RSA-OAEP
 * (SHA-1) and RSA1_5, never for RSA-OAEP-256, so the private key never leaves the vault and every
 * use is authorised and logged there.
 *
 * Context binding: RSA-OAEP has no associated data, so the context goes inside the wrapped
 * plaintext: the vault wraps `dataKey ‖ SHA-256(BIND_TAG ‖ header ‖ encodeContext(context))`,
 * where header is the blob's bytes before the wrapped-key length (magic, version, algorithm, kid).
 * Unwrap recomputes the hash from the caller's context and compares it in constant time, so a blob
 * opens only for its own context and header even though the vault itself unwraps anything under
 * its key. There is no unbound wrap.
 *
 * Wrapped blob: AZURE_BLOB in ./blob.ts (algorithm, the full versioned kid, the wrapped bytes).
 * The blob names its own key version, so blobs made before a rotation (a new version of the same
 * key) still unwrap with the version they were made under, and `keyIdOf` needs no call. A blob may
 * name only a version of the configured key in the configured vault: a kid pointing elsewhere is
 * never followed (it would send our token and the ciphertext to another host).
 *
 * Credentials: any TokenCredential; by default DefaultAzureCredential (environment
 * AZURE_TENANT_ID / AZURE_CLIENT_ID / AZURE_CLIENT_SECRET or a certificate, workload identity,
 * managed identity). The SDK's own retries are off: each call is bounded by `timeoutMs` and
 * retried by `withRetries`, so an unreachable or throttling vault ends in KmsError 'unavailable'.
 * @module
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Agent } from 'node:https';
import { CryptographyClient, KeyClient, type KeyClientOptions, type KeyVaultKey } from '@azure/keyvault-keys';
import type { TokenCredential } from '@azure/identity';
import {
  AZURE_ALG_RSA_OAEP_256,
  AZURE_BLOB,
  AZURE_MAX_WRAPPED,
  AZURE_MIN_WRAPPED,
  MAX_DATA_KEY,
  MIN_DATA_KEY,
} from './blob.js';
import { encodeContext, type EncryptionContext, type Kms, KmsError } from './kms.js';
import {
  checkRetryPolicy,
  DEFAULT_RETRY,
  describeError,
  isTransientStatus,
  type RetryPolicy,
  TRANSIENT_NET_CODES,
  withRetries,
} from './retry.js';

export interface AzureKmsOptions {
  /** NODE_KMS_AZURE_KEY_ID: https://<vault>.vault.azure.net/keys/<name>[/<version>]; without a version, the current one. */
  keyId: string;
  /** Default: DefaultAzureCredential from @azure/identity. */
  credential?: TokenCredential;
  /** Default DEFAULT_RETRY. */
  retry?: RetryPolicy;
  /** Bound on one attempt of one call, token acquisition included (default 10 s). */
  timeoutMs?: number;
  /**
   * HTTPS agent for the vault's requests (and the default credential's), e.g. to trust a private
   * CA or reach a proxy. Default: the SDK's own, with the system trust store. Certificate and host
   * checks, and the SDK's check that the challenge's resource matches the vault host, stay on.
   */
  agent?: Agent;
}

const PROVIDER = 'azure';
const SDK_ALGORITHM = 'RSA-OAEP-256';
const BIND_TAG = 'mpc-engine/v1/kms/azure/context-binding';
const HASH = 32;
const DEFAULT_TIMEOUT_MS = 10_000;
const KEY_NAME = /^[0-9A-Za-z-]{1,127}$/;
const KEY_VERSION = /^[0-9A-Za-z]{1,64}$/;

interface KeyRef {
  /** https://host[:port], lower-case host */
  vaultUrl: string;
  name: string;
  version: string | undefined;
}

/** Parse a Key Vault key id strictly: https, /keys/<name>[/<version>], nothing else. */
function parseKeyId(id: string): KeyRef | undefined {
  let u: URL;
  try {
    u = new URL(id);
  } catch {
    return undefined;
  }
  if (u.protocol !== 'https:' || u.username !== '' || u.password !== '' || u.search !== '' || u.hash !== '')
    return undefined;
  const m = /^\/keys\/([^/]+)(?:\/([^/]+))?$/.exec(u.pathname);
  if (m === null || !KEY_NAME.test(m[1]!) || (m[2] !== undefined && !KEY_VERSION.test(m[2]))) return undefined;
  return { vaultUrl: `https://${u.host}`, name: m[1]!, version: m[2] };
}

const kidOf = (ref: KeyRef, version: string): string => `${ref.vaultUrl}/keys/${ref.name}/${version}`;

/** One attempt ran out of time (the SDK may still be waiting on the network or on a token). */
class AttemptTimeout extends Error {
  override readonly name = 'TimeoutError';
  readonly code = 'ETIMEDOUT';
}

function statusOf(e: unknown): number | undefined {
  const s =
    (e as { statusCode?: unknown; status?: unknown } | null)?.statusCode ?? (e as { status?: unknown } | null)?.status;
  return typeof s === 'number' ? s : undefined;
}

/**
 * Token failures reach us through MSAL and @azure/identity, which keep no HTTP status or error
 * code, only a message starting with the OAuth or MSAL error code: an unreachable or overloaded
 * token endpoint is recognised by those codes.
 */
const TOKEN_TRANSIENT =
  /network_error|endpoints_resolution_error|temporarily_unavailable|server_error|ETIMEDOUT|ECONNREFUSED|ECONNRESET|EAI_AGAIN/;

type IdentityClass = 'transient' | 'denied' | 'config';

/** How to treat an error from the credential; undefined for errors that are not the credential's. */
function identityClass(e: Error): IdentityClass | undefined {
  switch (e.name) {
    case 'CredentialUnavailableError':
      // Also what a chain of credentials says when none is configured here.
      return TOKEN_TRANSIENT.test(e.message) ? 'transient' : 'config';
    case 'AuthenticationError': {
      const status = statusOf(e);
      return (status !== undefined && isTransientStatus(status)) || TOKEN_TRANSIENT.test(e.message)
        ? 'transient'
        : 'denied';
    }
    case 'AuthenticationRequiredError':
      return TOKEN_TRANSIENT.test(e.message) ? 'transient' : 'denied';
    case 'AggregateAuthenticationError': {
      const inner = ((e as { errors?: unknown }).errors as unknown[] | undefined) ?? [];
      const classes = inner.map((x) => (x instanceof Error ? (identityClass(x) ?? 'denied') : 'denied'));
      if (classes.includes('transient')) return 'transient';
      if (classes.length > 0 && classes.every((c) => c === 'config')) return 'config';
      return 'denied';
    }
    default:
      return undefined;
  }
}

function isTransient(e: unknown): boolean {
  if (e instanceof KmsError || !(e instanceof Error)) return false;
  const id = identityClass(e);
  if (id !== undefined) return id === 'transient';
  const status = statusOf(e);
  if (status !== undefined) return isTransientStatus(status);
  if (e instanceof AttemptTimeout || e.name === 'AbortError') return true;
  const code = (e as { code?: unknown }).code;
  return typeof code === 'string' && (TRANSIENT_NET_CODES.has(code) || code === 'REQUEST_SEND_ERROR');
}

type Phase = 'open' | 'wrap' | 'unwrap';

/** The KmsError for a permanent failure (or a KmsError from withRetries, passed through). */
function toKmsError(e: unknown, phase: Phase, what: string): KmsError {
  if (e instanceof KmsError) return e;
  const detail = `${describeError(e)}: ${e instanceof Error ? e.message.split('\n')[0]!.slice(0, 300) : ''}`;
  const msg = `${PROVIDER} KMS: ${what} failed: ${detail}`;
  const id = e instanceof Error ? identityClass(e) : undefined;
  if (id !== undefined) return new KmsError(id === 'transient' ? 'unavailable' : id, msg, { cause: e });
  const status = statusOf(e);
  if (status === 401 || status === 403) {
    // A disabled or expired key answers 403 too; that is the key's state, not a permission.
    if (
      /KeyDisabled|KeyExpired|disabled key|expired key/i.test(
        `${(e as Error).message} ${JSON.stringify((e as { details?: unknown }).details ?? null)}`,
      )
    ) {
      return new KmsError(phase === 'unwrap' ? 'unknown-key' : 'config', msg, { cause: e });
    }
    return new KmsError('denied', msg, { cause: e });
  }
  if (status === 404) return new KmsError('unknown-key', msg, { cause: e });
  if (status === 400 && phase === 'unwrap') return new KmsError('unwrap-failed', msg, { cause: e });
  if (status !== undefined && isTransientStatus(status)) return new KmsError('unavailable', msg, { cause: e });
  // Other 4xx, and the SDK's own refusals (expired key, operation not allowed, challenge for another resource).
  return new KmsError('config', msg, { cause: e });
}

/** Run one attempt of `op` with its own deadline; the abort reaches the SDK's request. */
async function attempt<T>(timeoutMs: number, op: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const ac = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  // Racing as well as aborting: token acquisition does not always honour the signal.
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const err = new AttemptTimeout(`no answer within ${timeoutMs} ms`);
      ac.abort(err);
      reject(err);
    }, timeoutMs);
  });
  try {
    return await Promise.race([op(ac.signal), deadline]);
  } finally {
    clearTimeout(timer);
  }
}

interface Caller {
  <T>(phase: Phase, what: string, op: (signal: AbortSignal) => Promise<T>): Promise<T>;
}

function makeCaller(policy: RetryPolicy, timeoutMs: number): Caller {
  return async (phase, what, op) => {
    try {
      return await withRetries(PROVIDER, what, policy, isTransient, () => attempt(timeoutMs, op));
    } catch (e) {
      throw toKmsError(e, phase, what);
    }
  };
}

interface VersionClient {
  client: CryptographyClient;
  /** RSA modulus length: the exact length of a wrapped key. */
  modulusBytes: number;
}

/** Check a key the vault returned for `ref`; returns its version and modulus length. */
function checkKey(
  key: KeyVaultKey,
  ref: KeyRef,
  needs: readonly ('wrapKey' | 'unwrapKey')[],
  phase: Phase,
): { version: string; modulusBytes: number } {
  const fail = (why: string): never => {
    throw new KmsError(
      phase === 'unwrap' ? 'unknown-key' : 'config',
      `${PROVIDER} KMS: key ${key.id ?? ref.name} ${why}`,
    );
  };
  const got = key.id === undefined ? undefined : parseKeyId(key.id);
  if (got === undefined || got.version === undefined) return fail('came back without a valid versioned id');
  if (
    got.vaultUrl !== ref.vaultUrl ||
    got.name !== ref.name ||
    (ref.version !== undefined && got.version !== ref.version)
  )
    return fail(`is not the key asked for (${kidOf(ref, ref.version ?? '')})`);
  const kty = key.keyType ?? key.key?.kty;
  if (kty !== 'RSA' && kty !== 'RSA-HSM') return fail(`is of type ${String(kty)}, not RSA or RSA-HSM`);
  if (key.properties.enabled !== true) return fail('is disabled');
  if (needs.includes('wrapKey')) {
    // Expiry and not-before stop new wraps only: an expired version still unwraps what it wrapped.
    const now = Date.now();
    if (key.properties.expiresOn !== undefined && key.properties.expiresOn.getTime() <= now) return fail('has expired');
    if (key.properties.notBefore !== undefined && key.properties.notBefore.getTime() > now)
      return fail('is not valid yet');
  }
  const ops = key.keyOperations ?? key.key?.keyOps ?? [];
  for (const op of needs)
    if (!ops.includes(op)) return fail(`does not allow ${op} (key_ops: ${ops.join(', ') || 'none'})`);
  const modulusBytes = key.key?.n?.length ?? 0;
  if (modulusBytes < AZURE_MIN_WRAPPED || modulusBytes > AZURE_MAX_WRAPPED)
    return fail(`has an unsupported RSA modulus of ${modulusBytes * 8} bits`);
  return { version: got.version, modulusBytes };
}

/** Open the configured key: resolve it to its current version and check it can wrap and unwrap. */
export function openAzureKms(options: AzureKmsOptions): Promise<AzureKms> {
  return AzureKms.open(options);
}

async function defaultCredential(agent: Agent | undefined): Promise<TokenCredential> {
  const { DefaultAzureCredential } = await import('@azure/identity');
  return new DefaultAzureCredential({ retryOptions: { maxRetries: 0 }, ...(agent === undefined ? {} : { agent }) });
}

/** A blob, parsed strictly; its kid must be a key version in canonical form. */
function parseBlob(wrapped: Uint8Array): { kid: string; header: Buffer; wrapped: Uint8Array } {
  const blob = AZURE_BLOB.decode(wrapped);
  const ref = parseKeyId(blob.kid);
  // Only the canonical form: one key version, one byte string.
  if (ref === undefined || ref.version === undefined || kidOf(ref, ref.version) !== blob.kid)
    throw AZURE_BLOB.malformed('names no valid key');
  return blob;
}

/** The binding hash wrapped after the data key: domain tag, blob header, canonical context. */
function binding(header: Buffer, context: EncryptionContext): Buffer {
  const tag = Buffer.from(BIND_TAG, 'latin1');
  const len = Buffer.alloc(2);
  len.writeUInt16BE(header.length);
  return createHash('sha256').update(tag).update(len).update(header).update(encodeContext(context)).digest();
}

export class AzureKms implements Kms {
  readonly name = PROVIDER;
  /** The full versioned kid new wraps use. */
  readonly keyId: string;
  readonly #ref: KeyRef;
  readonly #header: Buffer;
  /** Clients by versioned kid; other versions are looked up when a blob names them. */
  #clients = new Map<string, Promise<VersionClient>>();
  #closed = false;

  /** See openAzureKms. */
  static async open(options: AzureKmsOptions): Promise<AzureKms> {
    const ref = parseKeyId(options.keyId);
    if (ref === undefined)
      throw new KmsError(
        'config',
        'Azure key id must look like https://<vault>.vault.azure.net/keys/<name>[/<version>]',
      );
    const policy = checkRetryPolicy(options.retry ?? DEFAULT_RETRY);
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    if (!Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > 600_000)
      throw new RangeError('timeoutMs must be an integer from 1 to 600000');
    const credential = options.credential ?? (await defaultCredential(options.agent));
    // Retries are ours (bounded, with a deadline per attempt), so the SDK's are off.
    // A fresh object per client: the SDK's constructors write into the options they are given.
    const pipeline = (): KeyClientOptions => ({
      retryOptions: { maxRetries: 0 },
      ...(options.agent === undefined ? {} : { agent: options.agent }),
    });
    const call = makeCaller(policy, timeoutMs);
    const keys = new KeyClient(ref.vaultUrl, credential, pipeline());
    const key = await call('open', `resolve key ${options.keyId}`, (abortSignal) =>
      keys.getKey(ref.name, { ...(ref.version === undefined ? {} : { version: ref.version }), abortSignal }),
    );
    const { version, modulusBytes } = checkKey(key, ref, ['wrapKey', 'unwrapKey'], 'open');
    const clientFor = (k: KeyVaultKey): CryptographyClient => {
      // The SDK refuses every operation of an expired key on its own; the vault, which allows
      // unwrapping with one, decides instead (wrapKey checks expiry itself).
      const { expiresOn: _e, notBefore: _n, ...properties } = k.properties;
      return new CryptographyClient({ ...k, properties }, credential, pipeline());
    };
    return new AzureKms(
      ref,
      version,
      key.properties.expiresOn,
      { client: clientFor(key), modulusBytes },
      keys,
      clientFor,
      call,
    );
  }

  private constructor(
    ref: KeyRef,
    version: string,
    private readonly expiresOn: Date | undefined,
    current: VersionClient,
    private readonly keys: KeyClient,
    private readonly clientFor: (key: KeyVaultKey) => CryptographyClient,
    private readonly call: Caller,
  ) {
    this.#ref = { ...ref, version: undefined };
    this.keyId = kidOf(ref, version);
    this.#header = AZURE_BLOB.header({ algorithm: AZURE_ALG_RSA_OAEP_256, kid: this.keyId });
    this.#clients.set(this.keyId, Promise.resolve(current));
  }

  async wrapKey(dataKey: Uint8Array, context: EncryptionContext): Promise<Uint8Array> {
    if (!(dataKey instanceof Uint8Array) || dataKey.length < MIN_DATA_KEY || dataKey.length > MAX_DATA_KEY) {
      throw new RangeError(`dataKey must be ${MIN_DATA_KEY} to ${MAX_DATA_KEY} bytes`);
    }
    this.#open();
    if (this.expiresOn !== undefined && this.expiresOn.getTime() <= Date.now()) {
      throw new KmsError(
        'config',
        `${PROVIDER} KMS: key ${this.keyId} expired at ${this.expiresOn.toISOString()}; add a new version and restart`,
      );
    }
    const plain = Buffer.concat([dataKey, binding(this.#header, context)]);
    try {
      const v = await this.#version(this.keyId, 'wrap');
      const res = await this.call('wrap', `wrap under ${this.keyId}`, (abortSignal) =>
        v.client.wrapKey(SDK_ALGORITHM, plain, { abortSignal }),
      );
      const out = Buffer.from(res.result);
      if (out.length !== v.modulusBytes)
        throw new KmsError(
          'config',
          `${PROVIDER} KMS: the vault returned a ${out.length}-byte wrapped key for a ${v.modulusBytes * 8}-bit key`,
        );
      return AZURE_BLOB.encode({ algorithm: AZURE_ALG_RSA_OAEP_256, kid: this.keyId, wrapped: out });
    } finally {
      plain.fill(0);
    }
  }

  async unwrapKey(wrapped: Uint8Array, context: EncryptionContext): Promise<Uint8Array> {
    const blob = parseBlob(wrapped);
    this.#open();
    const expected = binding(blob.header, context); // a malformed context throws before any call
    const v = await this.#version(blob.kid, 'unwrap');
    if (blob.wrapped.length !== v.modulusBytes)
      throw new KmsError('malformed', 'Azure-KMS wrapped key has the wrong length for its key');
    const res = await this.call('unwrap', `unwrap under ${blob.kid}`, (abortSignal) =>
      v.client.unwrapKey(SDK_ALGORITHM, blob.wrapped, { abortSignal }),
    );
    const plain = Buffer.from(res.result);
    res.result.fill(0);
    try {
      const n = plain.length - HASH;
      if (n < MIN_DATA_KEY || n > MAX_DATA_KEY || !timingSafeEqual(plain.subarray(n), expected)) {
        throw new KmsError(
          'unwrap-failed',
          'wrapped key is bound to another encryption context (or was tampered with)',
        );
      }
      return Uint8Array.prototype.slice.call(plain, 0, n);
    } finally {
      plain.fill(0);
    }
  }

  keyIdOf(wrapped: Uint8Array): string {
    return parseBlob(wrapped).kid;
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#clients.clear();
  }

  #open(): void {
    if (this.#closed) throw new KmsError('closed', 'Azure KMS is closed');
  }

  /** The client for one version of the configured key, looked up (once) if not the current one. */
  #version(kid: string, phase: Phase): Promise<VersionClient> {
    const known = this.#clients.get(kid);
    if (known !== undefined) return known;
    const ref = parseKeyId(kid);
    if (
      ref === undefined ||
      ref.version === undefined ||
      ref.vaultUrl !== this.#ref.vaultUrl ||
      ref.name !== this.#ref.name
    ) {
      // Never follow a blob to another vault or key: it would receive our token and the ciphertext.
      return Promise.reject(
        new KmsError(
          'unknown-key',
          `${PROVIDER} KMS: key ${kid} is not a version of ${this.#ref.vaultUrl}/keys/${this.#ref.name}`,
        ),
      );
    }
    const version = ref.version;
    const p = (async (): Promise<VersionClient> => {
      const key = await this.call(phase, `resolve key ${kid}`, (abortSignal) =>
        this.keys.getKey(ref.name, { version, abortSignal }),
      );
      const { modulusBytes } = checkKey(key, ref, ['unwrapKey'], phase);
      return { client: this.clientFor(key), modulusBytes };
    })();
    this.#clients.set(kid, p);
    p.catch(() => {
      if (this.#clients.get(kid) === p) this.#clients.delete(kid); // look up again next time
    });
    return p;
  }
}
