/**
 * The AWS KMS provider: a node's data keys are wrapped by a symmetric AWS KMS key (one per node,
 * NODE_KMS_AWS_KEY_ID) that never leaves AWS. `Encrypt` is used rather than `GenerateDataKey`
 * because the interface wraps a data key the node already made; the encryption context goes to AWS
 * as its native EncryptionContext, which AWS binds to the ciphertext as associated data (and logs
 * in CloudTrail, which is why contexts hold public ids only).
 *
 * At open, `DescribeKey` resolves the configured key id or alias to the key's ARN (our `keyId`)
 * and refuses a key that is disabled, not SYMMETRIC_DEFAULT or not for ENCRYPT_DECRYPT, so a bad
 * setting fails at start rather than at the first wrap.
 *
 * Wrapped blob: AWS_BLOB in ./blob.ts (the key ARN, then AWS's CiphertextBlob).
 * The ARN is ours so `keyIdOf` needs no call; AWS's ciphertext names its key too, and Decrypt is
 * given the ARN as KeyId, so an ARN edited into a blob fails (IncorrectKeyException). A blob is
 * only unwrapped under a key this instance trusts (the configured one): blobs come from storage,
 * and one naming a key someone else controls would let them choose the data key.
 *
 * Retries: the SDK's own retries are off (maxAttempts 1) and each call goes through `withRetries`,
 * so throttling, 5xx answers and network failures are retried with our bounded backoff, and every
 * attempt is cut off after `timeoutMs`: an unreachable or hung endpoint ends in KmsError
 * 'unavailable' after at most about attempts × timeoutMs plus the backoff.
 *
 * Disabled keys, keys pending deletion and unknown keys: 'config' at open (the setting is wrong),
 * 'unknown-key' on wrap and unwrap (the key is no longer available, as for the local provider).
 *
 * The data key crosses the SDK as a base64 string inside the signed request body, which cannot be
 * zeroised; buffers we own (the returned plaintext's source) are.
 * @module
 */
import { DecryptCommand, DescribeKeyCommand, EncryptCommand, KMSClient } from '@aws-sdk/client-kms';
import { AWS_BLOB, AWS_KEY_ARN, AWS_MAX_ARN, AWS_MAX_CIPHERTEXT, MAX_DATA_KEY, MIN_DATA_KEY } from './blob.js';
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

export interface AwsKmsOptions {
  /** Key ARN, key id, or alias/… (NODE_KMS_AWS_KEY_ID). */
  keyId: string;
  /** NODE_AWS_REGION. */
  region: string;
  /** NODE_KMS_AWS_ENDPOINT: a VPC endpoint, or a loopback server in tests. */
  endpoint?: string;
  /** Static credentials; by default the SDK's provider chain (environment, profile, instance role…). */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** Default DEFAULT_RETRY. */
  retry?: RetryPolicy;
  /** Limit on connecting, and on each attempt's wait for an answer (default 5000 ms). */
  timeoutMs?: number;
  /**
   * Keys replaced by a rotation (NODE_KMS_AWS_RETIRED_KEY_IDS): their blobs still unwrap, new
   * wraps never use them. Keep them until `npm run kms:rewrap` reports every record current.
   */
  retiredKeyIds?: readonly string[];
}

const PROVIDER = 'aws';
const DEFAULT_TIMEOUT_MS = 5_000;
const REGION = /^[a-z]{2}(-[a-z0-9]+){1,4}$/;

/** Throttling, server-side failure or no answer: worth another attempt. */
const TRANSIENT_ERRORS = new Set([
  'ThrottlingException',
  'LimitExceededException',
  'KMSInternalException',
  'DependencyTimeoutException',
  'KeyUnavailableException',
  'TimeoutError',
  'RequestTimeout',
  'RequestTimeoutException',
]);
const DENIED_ERRORS = new Set([
  'AccessDeniedException',
  'UnrecognizedClientException',
  'InvalidSignatureException',
  'IncompleteSignatureException',
  'MissingAuthenticationTokenException',
  'ExpiredTokenException',
  'ExpiredToken',
  'InvalidClientTokenId',
  'SignatureDoesNotMatch',
]);
const CONFIG_ERRORS = new Set([
  'InvalidKeyUsageException',
  'ValidationException',
  'InvalidArnException',
  'UnsupportedOperationException',
  'SerializationException',
  'UnknownOperationException',
  'CredentialsProviderError', // no credentials found anywhere in the chain
]);
const KEY_STATE_ERRORS = new Set(['NotFoundException', 'DisabledException', 'KMSInvalidStateException']);
const UNWRAP_ERRORS = new Set(['InvalidCiphertextException', 'IncorrectKeyException']);

type Phase = 'open' | 'wrap' | 'unwrap';

/** Resolve and check the configured key, then return a provider using it. */
export async function openAwsKms(options: AwsKmsOptions): Promise<AwsKms> {
  if (typeof options.keyId !== 'string' || options.keyId.length === 0 || options.keyId.length > AWS_MAX_ARN)
    throw new RangeError(`keyId must be 1 to ${AWS_MAX_ARN} characters`);
  if (!REGION.test(options.region)) throw new RangeError('region must be an AWS region name such as eu-west-1');
  const retry = checkRetryPolicy(options.retry ?? DEFAULT_RETRY);
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (!Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > 120_000)
    throw new RangeError('timeoutMs must be an integer from 1 to 120000');

  const c = options.credentials;
  const client = new KMSClient({
    region: options.region,
    maxAttempts: 1, // withRetries does the retrying, with our bounds
    ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
    ...(c === undefined
      ? {}
      : {
          credentials: {
            accessKeyId: c.accessKeyId,
            secretAccessKey: c.secretAccessKey,
            ...(c.sessionToken === undefined ? {} : { sessionToken: c.sessionToken }),
          },
        }),
    // Without throwOnRequestTimeout the handler only logs a late answer and keeps waiting.
    requestHandler: {
      connectionTimeout: timeoutMs,
      requestTimeout: timeoutMs,
      socketTimeout: timeoutMs,
      throwOnRequestTimeout: true,
    },
  });
  try {
    const out = await callKms('open', `DescribeKey of ${options.keyId}`, retry, () =>
      client.send(new DescribeKeyCommand({ KeyId: options.keyId })),
    );
    const md = out.KeyMetadata;
    const arn = md?.Arn;
    if (md === undefined || arn === undefined || !AWS_KEY_ARN.test(arn))
      throw new KmsError('config', `aws KMS: DescribeKey of ${options.keyId} returned no usable key ARN`);
    if (md.Enabled !== true || (md.KeyState !== undefined && md.KeyState !== 'Enabled'))
      throw new KmsError('config', `aws KMS key ${arn} is not enabled (state ${md.KeyState ?? 'unknown'})`);
    const spec = md.KeySpec ?? md.CustomerMasterKeySpec;
    if (spec !== 'SYMMETRIC_DEFAULT')
      throw new KmsError('config', `aws KMS key ${arn} is ${spec ?? 'of unknown spec'}, not a SYMMETRIC_DEFAULT key`);
    if (md.KeyUsage !== 'ENCRYPT_DECRYPT')
      throw new KmsError('config', `aws KMS key ${arn} has usage ${md.KeyUsage ?? 'unknown'}, not ENCRYPT_DECRYPT`);
    const retired: string[] = [];
    for (const id of options.retiredKeyIds ?? []) {
      const r = await callKms('open', `DescribeKey of ${id}`, retry, () =>
        client.send(new DescribeKeyCommand({ KeyId: id })),
      );
      const rArn = r.KeyMetadata?.Arn;
      if (rArn === undefined || !AWS_KEY_ARN.test(rArn))
        throw new KmsError('config', `aws KMS: DescribeKey of retired key ${id} returned no usable key ARN`);
      retired.push(rArn);
    }
    return new AwsKms(client, arn, retry, retired);
  } catch (e) {
    client.destroy();
    throw e;
  }
}

export class AwsKms implements Kms {
  readonly name = 'aws';
  /** ARN of the key new wraps use. */
  readonly keyId: string;
  /** Key ARNs whose blobs this instance unwraps: the current key and the retired ones. */
  readonly #trusted: Set<string>;
  readonly #retry: RetryPolicy;
  #client: KMSClient | undefined;

  /** Use openAwsKms. */
  constructor(client: KMSClient, keyArn: string, retry: RetryPolicy, retiredArns: readonly string[] = []) {
    this.#client = client;
    this.keyId = keyArn;
    this.#trusted = new Set([keyArn, ...retiredArns]);
    this.#retry = retry;
  }

  async wrapKey(dataKey: Uint8Array, context: EncryptionContext): Promise<Uint8Array> {
    if (!(dataKey instanceof Uint8Array) || dataKey.length < MIN_DATA_KEY || dataKey.length > MAX_DATA_KEY) {
      throw new RangeError(`dataKey must be ${MIN_DATA_KEY} to ${MAX_DATA_KEY} bytes`);
    }
    encodeContext(context); // the same rules as every provider, though AWS gets the map itself
    const keyId = this.keyId;
    const out = await this.#call('wrap', `Encrypt under ${keyId}`, (client) =>
      client.send(
        new EncryptCommand({
          KeyId: keyId,
          Plaintext: dataKey,
          EncryptionContext: { ...context },
          EncryptionAlgorithm: 'SYMMETRIC_DEFAULT',
        }),
      ),
    );
    if (out.KeyId !== keyId) throw new KmsError('config', `aws KMS: Encrypt under ${keyId} answered for another key`);
    const ct = out.CiphertextBlob;
    if (ct === undefined || ct.length === 0 || ct.length > AWS_MAX_CIPHERTEXT)
      throw new KmsError('unavailable', `aws KMS: Encrypt under ${keyId} returned no usable ciphertext`);
    return AWS_BLOB.encode({ arn: keyId, ciphertext: ct });
  }

  async unwrapKey(wrapped: Uint8Array, context: EncryptionContext): Promise<Uint8Array> {
    const { arn, ciphertext } = AWS_BLOB.decode(wrapped);
    encodeContext(context);
    if (!this.#trusted.has(arn))
      throw new KmsError(
        'unknown-key',
        `aws KMS: the wrapped key is under ${arn}, not a key this node uses (${this.keyId})`,
      );
    const out = await this.#call('unwrap', `Decrypt under ${arn}`, (client) =>
      client.send(
        new DecryptCommand({
          KeyId: arn,
          CiphertextBlob: ciphertext,
          EncryptionContext: { ...context },
          EncryptionAlgorithm: 'SYMMETRIC_DEFAULT',
        }),
      ),
    );
    const pt = out.Plaintext;
    try {
      if (out.KeyId !== arn)
        throw new KmsError('unwrap-failed', `aws KMS: Decrypt under ${arn} answered for another key`);
      if (pt === undefined || pt.length < MIN_DATA_KEY || pt.length > MAX_DATA_KEY)
        throw new KmsError('unwrap-failed', 'aws KMS: the unwrapped data key has the wrong length');
      const key = Buffer.alloc(pt.length); // not from the shared pool, so the caller's zeroising reaches all of it
      key.set(pt);
      return key;
    } finally {
      pt?.fill(0);
    }
  }

  keyIdOf(wrapped: Uint8Array): string {
    return AWS_BLOB.decode(wrapped).arn;
  }

  async close(): Promise<void> {
    const client = this.#client;
    this.#client = undefined;
    client?.destroy();
  }

  /** One KMS call with bounded retries; a call cut short by close() reports 'closed'. */
  async #call<T>(phase: Phase, what: string, op: (client: KMSClient) => Promise<T>): Promise<T> {
    const closed = (): KmsError => new KmsError('closed', 'aws KMS is closed');
    if (this.#client === undefined) throw closed();
    try {
      return await callKms(phase, what, this.#retry, () => {
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

/** `op` under `withRetries`, with every failure turned into a KmsError. */
async function callKms<T>(phase: Phase, what: string, retry: RetryPolicy, op: () => Promise<T>): Promise<T> {
  try {
    return await withRetries(PROVIDER, what, retry, isTransient, op);
  } catch (e) {
    throw e instanceof KmsError ? e : toKmsError(e, phase, what);
  }
}

function isTransient(e: unknown): boolean {
  if (!(e instanceof Error)) return false;
  const { code, $metadata } = e as { code?: unknown; $metadata?: { httpStatusCode?: unknown } };
  const status = $metadata?.httpStatusCode;
  return (
    TRANSIENT_ERRORS.has(e.name) ||
    (typeof code === 'string' && TRANSIENT_NET_CODES.has(code)) ||
    (typeof status === 'number' && isTransientStatus(status))
  );
}

/** A permanent failure as a KmsError; the message has names and codes only, never request data. */
function toKmsError(e: unknown, phase: Phase, what: string): KmsError {
  const name = e instanceof Error ? e.name : '';
  let code: KmsErrorCode;
  let why: string;
  if (DENIED_ERRORS.has(name)) {
    code = 'denied';
    why = 'credentials or permissions refused';
  } else if (UNWRAP_ERRORS.has(name) && phase === 'unwrap') {
    code = 'unwrap-failed';
    why = 'another encryption context, another key, or tampered';
  } else if (KEY_STATE_ERRORS.has(name)) {
    code = phase === 'open' ? 'config' : 'unknown-key';
    why = 'the key does not exist, is disabled or is pending deletion';
  } else if (CONFIG_ERRORS.has(name)) {
    code = 'config';
    why = 'the request or key does not suit this provider';
  } else {
    code = 'unavailable';
    why = 'unexpected error';
  }
  return new KmsError(code, `aws KMS: ${what} failed (${why}): ${describeError(e)}`, { cause: e });
}
