/**
 * A loopback AWS KMS for tests: an HTTP server on 127.0.0.1 that speaks the service's wire protocol
 * (AWS JSON 1.1: `POST /`, `X-Amz-Target: TrentService.<Operation>`, JSON bodies with base64 blobs,
 * errors as `{"__type": "...Exception", "message": ...}` plus the `x-amzn-ErrorType` header), so
 * the real SDK client can be pointed at it.
 *
 * What makes it worth trusting:
 * - every request's SigV4 signature is verified (canonical request, string to sign, signing key
 *   derived from the secret); an unknown access key or a bad signature is refused the way the real
 *   service refuses it (UnrecognizedClientException, InvalidSignatureException);
 * - Encrypt really encrypts: AES-256-GCM under the key's own random secret, with the canonical
 *   encryption context as associated data, so Decrypt under another context, another key, or of a
 *   tampered blob fails (InvalidCiphertextException, IncorrectKeyException).
 *
 * Operations: DescribeKey, Encrypt, Decrypt, for symmetric ENCRYPT_DECRYPT keys (other kinds of key
 * exist only so DescribeKey can report them; Encrypt/Decrypt refuse them with
 * InvalidKeyUsageException). Fault injection: throttle, fail with 500 or drop the connection for
 * the next N requests, or hang every request until the switch is turned off.
 *
 * Ciphertext blob of this fake (opaque to clients, like the real one):
 *   version 0x01 | key id (36 ASCII bytes, a UUID) | IV (12) | ciphertext | GCM tag (16)
 * @module
 */
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  randomBytes,
  randomUUID,
  timingSafeEqual,
} from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type KeyUsage = 'ENCRYPT_DECRYPT' | 'SIGN_VERIFY' | 'GENERATE_VERIFY_MAC';
export type KeySpec = 'SYMMETRIC_DEFAULT' | 'RSA_2048' | 'ECC_NIST_P256' | 'HMAC_256';

export interface FakeKey {
  readonly keyId: string;
  readonly arn: string;
  enabled: boolean;
  readonly usage: KeyUsage;
  readonly spec: KeySpec;
  /** AES-256 key of a symmetric key; never leaves the fake. */
  readonly secret: Buffer;
}

export interface FakeCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
  /** ARNs this principal may use; every key when absent (an IAM policy in miniature). */
  readonly keys?: readonly string[];
}

/** One request the fake answered, after its signature checked out. */
export interface SeenRequest {
  readonly operation: string;
  readonly accessKeyId: string;
  readonly keyId?: string;
  readonly encryptionContext?: Record<string, string>;
}

export type Fault = 'throttle' | 'internal' | 'reset';

export interface FakeKmsOptions {
  region?: string;
  account?: string;
}

const SERVICE = 'kms';
const BLOB_VERSION = 1;
const UUID_LEN = 36;
const IV = 12;
const TAG = 16;
const MAX_BODY = 64 * 1024;
const MAX_SKEW_MS = 5 * 60 * 1000;

/** A service error: HTTP status, AWS error type and message. */
class KmsFault extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    message: string,
  ) {
    super(message);
  }
}

const bad = (type: string, message: string): KmsFault => new KmsFault(400, type, message);

export class FakeAwsKms {
  readonly region: string;
  readonly account: string;
  /** Requests received, whatever became of them (faults, bad signatures and hangs included). */
  requests = 0;
  /** Requests refused because the signature, access key or session token did not check out. */
  badSignatures = 0;
  /** Requests answered after authentication, in order. */
  readonly seen: SeenRequest[] = [];
  /** While true, requests are read and never answered. */
  hang = false;
  /** The default principal, allowed every key. */
  readonly credentials: FakeCredentials;

  readonly #server: Server;
  readonly #keys = new Map<string, FakeKey>(); // by key id
  readonly #aliases = new Map<string, string>(); // "alias/name" → key id
  readonly #principals = new Map<string, FakeCredentials>();
  readonly #faults: Fault[] = [];
  #endpoint = '';

  private constructor(options: FakeKmsOptions) {
    this.region = options.region ?? 'eu-west-1';
    this.account = options.account ?? '111122223333';
    this.credentials = this.addCredentials({});
    this.#server = createServer((req, res) => void this.#handle(req, res));
  }

  /** Start a fake on a random loopback port. */
  static async start(options: FakeKmsOptions = {}): Promise<FakeAwsKms> {
    const kms = new FakeAwsKms(options);
    await new Promise<void>((resolve, reject) => {
      kms.#server.once('error', reject);
      kms.#server.listen(0, '127.0.0.1', () => resolve());
    });
    kms.#endpoint = `http://127.0.0.1:${(kms.#server.address() as AddressInfo).port}`;
    return kms;
  }

  get endpoint(): string {
    return this.#endpoint;
  }

  /** Stop listening and drop every connection, hung ones included. */
  async close(): Promise<void> {
    this.hang = false;
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#server.closeAllConnections();
    await closed;
  }

  /** A new key; symmetric, enabled, ENCRYPT_DECRYPT unless told otherwise. */
  createKey(opts: { enabled?: boolean; usage?: KeyUsage; spec?: KeySpec; alias?: string } = {}): FakeKey {
    const keyId = randomUUID();
    const key: FakeKey = {
      keyId,
      arn: `arn:aws:kms:${this.region}:${this.account}:key/${keyId}`,
      enabled: opts.enabled ?? true,
      usage: opts.usage ?? 'ENCRYPT_DECRYPT',
      spec: opts.spec ?? 'SYMMETRIC_DEFAULT',
      secret: randomBytes(32),
    };
    this.#keys.set(keyId, key);
    if (opts.alias !== undefined) this.setAlias(opts.alias, keyId);
    return key;
  }

  /** Point `alias/<name>` at a key. */
  setAlias(name: string, keyId: string): void {
    this.#aliases.set(name.startsWith('alias/') ? name : `alias/${name}`, keyId);
  }

  /** A new principal (random ids and secret unless given). */
  addCredentials(c: Partial<FakeCredentials>): FakeCredentials {
    const creds: FakeCredentials = {
      accessKeyId: c.accessKeyId ?? `AKIA${randomBytes(8).toString('hex').toUpperCase()}`,
      secretAccessKey: c.secretAccessKey ?? randomBytes(30).toString('base64'),
      ...(c.sessionToken === undefined ? {} : { sessionToken: c.sessionToken }),
      ...(c.keys === undefined ? {} : { keys: c.keys }),
    };
    this.#principals.set(creds.accessKeyId, creds);
    return creds;
  }

  /** The next `n` requests fail with `fault` instead of being answered. */
  failNext(n: number, fault: Fault): void {
    for (let i = 0; i < n; i++) this.#faults.push(fault);
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.requests++;
    let body: Buffer;
    try {
      body = await readBody(req);
    } catch {
      req.socket.destroy();
      return;
    }
    if (this.hang) return; // never answered; close() drops the connection
    const fault = this.#faults.shift();
    if (fault === 'reset') {
      req.socket.destroy();
      return;
    }
    try {
      if (fault === 'throttle') throw bad('ThrottlingException', 'Rate exceeded');
      if (fault === 'internal') throw new KmsFault(500, 'KMSInternalException', 'An internal error occurred');
      const principal = this.#authenticate(req, body);
      const operation = this.#operation(req);
      let input: Record<string, unknown>;
      try {
        const parsed: unknown = JSON.parse(body.toString('utf8'));
        if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
        input = parsed as Record<string, unknown>;
      } catch {
        throw bad('SerializationException', 'Malformed request body');
      }
      const output = this.#dispatch(operation, input, principal);
      send(res, 200, output);
    } catch (e) {
      if (!(e instanceof KmsFault)) {
        send(res, 500, { __type: 'KMSInternalException', message: 'fake KMS bug' }, 'KMSInternalException');
        throw e;
      }
      send(res, e.status, { __type: e.type, message: e.message }, e.type);
    }
  }

  #operation(req: IncomingMessage): string {
    if (req.method !== 'POST' || req.url !== '/') throw bad('UnknownOperationException', 'only POST / is served');
    if (req.headers['content-type'] !== 'application/x-amz-json-1.1')
      throw bad('SerializationException', 'Content-Type must be application/x-amz-json-1.1');
    const target = req.headers['x-amz-target'];
    const m = typeof target === 'string' ? /^TrentService\.([A-Za-z]+)$/.exec(target) : null;
    if (m === null) throw bad('UnknownOperationException', 'missing or malformed X-Amz-Target');
    return m[1]!;
  }

  /**
   * SigV4, verified from scratch: rebuild the canonical request from what arrived, derive the
   * signing key from the principal's secret, and compare signatures in constant time.
   */
  #authenticate(req: IncomingMessage, body: Buffer): FakeCredentials {
    const refuse = (type: string, message: string): KmsFault => {
      this.badSignatures++;
      return bad(type, message);
    };
    const auth = req.headers.authorization;
    if (auth === undefined) throw refuse('MissingAuthenticationTokenException', 'Missing Authentication Token');
    const m =
      /^AWS4-HMAC-SHA256 Credential=([^/,\s]+)\/(\d{8})\/([^/,\s]+)\/([^/,\s]+)\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/.exec(
        auth,
      );
    if (m === null)
      throw refuse(
        'IncompleteSignatureException',
        'Authorization header is not a well-formed AWS4-HMAC-SHA256 signature',
      );
    const [, accessKeyId, scopeDate, scopeRegion, scopeService, signedHeaderList, signature] = m as unknown as [
      string,
      string,
      string,
      string,
      string,
      string,
      string,
    ];

    const principal = this.#principals.get(accessKeyId);
    if (principal === undefined)
      throw refuse('UnrecognizedClientException', 'The security token included in the request is invalid.');
    if (scopeRegion !== this.region)
      throw refuse('InvalidSignatureException', `Credential should be scoped to a valid region, not '${scopeRegion}'.`);
    if (scopeService !== SERVICE)
      throw refuse('InvalidSignatureException', `Credential should be scoped to correct service: '${SERVICE}'.`);

    const amzDate = header(req, 'x-amz-date');
    const dm = amzDate === undefined ? null : /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(amzDate);
    if (amzDate === undefined || dm === null)
      throw refuse('IncompleteSignatureException', 'X-Amz-Date is missing or malformed');
    if (amzDate.slice(0, 8) !== scopeDate)
      throw refuse('InvalidSignatureException', 'Credential scope date does not match X-Amz-Date');
    const signedAt = Date.UTC(+dm[1]!, +dm[2]! - 1, +dm[3]!, +dm[4]!, +dm[5]!, +dm[6]!);
    if (Math.abs(Date.now() - signedAt) > MAX_SKEW_MS) throw refuse('InvalidSignatureException', 'Signature expired');

    const signedHeaders = signedHeaderList.split(';');
    const sorted = [...signedHeaders].sort();
    if (signedHeaders.some((h, i) => h !== sorted[i] || h === signedHeaders[i - 1]))
      throw refuse('IncompleteSignatureException', 'SignedHeaders must be sorted and distinct');
    // The host, the date and the operation must be covered, or a signature could be replayed elsewhere.
    for (const h of ['host', 'x-amz-date', 'x-amz-target']) {
      if (!signedHeaders.includes(h)) throw refuse('IncompleteSignatureException', `SignedHeaders must include ${h}`);
    }
    const token = header(req, 'x-amz-security-token');
    if (principal.sessionToken !== undefined || token !== undefined) {
      if (token !== principal.sessionToken)
        throw refuse('UnrecognizedClientException', 'The security token included in the request is invalid.');
      if (!signedHeaders.includes('x-amz-security-token'))
        throw refuse('IncompleteSignatureException', 'SignedHeaders must include x-amz-security-token');
    }

    const payloadHash = sha256hex(body);
    const claimedHash = header(req, 'x-amz-content-sha256');
    if (claimedHash !== undefined && claimedHash !== payloadHash)
      throw refuse('InvalidSignatureException', 'x-amz-content-sha256 does not match the body');

    const canonicalHeaders = signedHeaders.map((h) => {
      const v = header(req, h);
      if (v === undefined) throw refuse('IncompleteSignatureException', `signed header ${h} is missing`);
      return `${h}:${v.trim().replace(/\s+/g, ' ')}\n`;
    });
    const [path = '/', query = ''] = (req.url ?? '/').split('?', 2);
    let target: string;
    try {
      target = `${canonicalUri(path)}\n${canonicalQuery(query)}`;
    } catch {
      throw refuse('InvalidSignatureException', 'malformed request URI');
    }
    const canonicalRequest = [req.method ?? '', target, canonicalHeaders.join(''), signedHeaderList, payloadHash].join(
      '\n',
    );
    const scope = `${scopeDate}/${scopeRegion}/${scopeService}/aws4_request`;
    const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256hex(Buffer.from(canonicalRequest, 'utf8'))].join(
      '\n',
    );

    const kDate = hmac(`AWS4${principal.secretAccessKey}`, scopeDate);
    const kSigning = hmac(hmac(hmac(kDate, scopeRegion), scopeService), 'aws4_request');
    const expected = hmac(kSigning, stringToSign);
    if (!timingSafeEqual(expected, Buffer.from(signature, 'hex'))) {
      throw refuse(
        'InvalidSignatureException',
        'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.',
      );
    }
    return principal;
  }

  #dispatch(operation: string, input: Record<string, unknown>, principal: FakeCredentials): Record<string, unknown> {
    switch (operation) {
      case 'DescribeKey':
        return this.#describeKey(input, principal);
      case 'Encrypt':
        return this.#encrypt(input, principal);
      case 'Decrypt':
        return this.#decrypt(input, principal);
      default:
        throw bad('UnknownOperationException', `operation ${operation} is not served by this fake`);
    }
  }

  #describeKey(input: Record<string, unknown>, principal: FakeCredentials): Record<string, unknown> {
    const key = this.#resolve(requiredString(input, 'KeyId'));
    this.#authorize(principal, key, 'DescribeKey');
    this.seen.push({ operation: 'DescribeKey', accessKeyId: principal.accessKeyId, keyId: key.arn });
    return {
      KeyMetadata: {
        AWSAccountId: this.account,
        KeyId: key.keyId,
        Arn: key.arn,
        CreationDate: 1_700_000_000,
        Enabled: key.enabled,
        KeyState: key.enabled ? 'Enabled' : 'Disabled',
        KeyUsage: key.usage,
        KeySpec: key.spec,
        CustomerMasterKeySpec: key.spec,
        Origin: 'AWS_KMS',
        KeyManager: 'CUSTOMER',
        MultiRegion: false,
        ...(key.spec === 'SYMMETRIC_DEFAULT' ? { EncryptionAlgorithms: ['SYMMETRIC_DEFAULT'] } : {}),
      },
    };
  }

  #encrypt(input: Record<string, unknown>, principal: FakeCredentials): Record<string, unknown> {
    const key = this.#resolve(requiredString(input, 'KeyId'));
    this.#authorize(principal, key, 'Encrypt');
    const plaintext = base64Field(input, 'Plaintext');
    if (plaintext.length < 1 || plaintext.length > 4096)
      throw bad('ValidationException', 'Plaintext must be 1 to 4096 bytes');
    const context = contextField(input);
    algorithmField(input);
    this.#usable(key);
    this.seen.push({
      operation: 'Encrypt',
      accessKeyId: principal.accessKeyId,
      keyId: key.arn,
      encryptionContext: context,
    });

    const iv = randomBytes(IV);
    const head = Buffer.concat([Uint8Array.of(BLOB_VERSION), Buffer.from(key.keyId, 'latin1'), iv]);
    const cipher = createCipheriv('aes-256-gcm', key.secret, iv);
    cipher.setAAD(aad(key.keyId, context));
    const blob = Buffer.concat([head, cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
    plaintext.fill(0);
    return { CiphertextBlob: blob.toString('base64'), KeyId: key.arn, EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' };
  }

  #decrypt(input: Record<string, unknown>, principal: FakeCredentials): Record<string, unknown> {
    const blob = base64Field(input, 'CiphertextBlob');
    const context = contextField(input);
    algorithmField(input);
    if (blob.length < 1 + UUID_LEN + IV + TAG + 1 || blob[0] !== BLOB_VERSION)
      throw bad('InvalidCiphertextException', '');
    const blobKey = this.#keys.get(blob.toString('latin1', 1, 1 + UUID_LEN));
    const requested = input.KeyId === undefined ? undefined : this.#resolve(requiredString(input, 'KeyId'));
    if (requested !== undefined && requested !== blobKey) {
      this.#authorize(principal, requested, 'Decrypt');
      throw bad(
        'IncorrectKeyException',
        'The key ID in the request does not identify a KMS key that can perform this operation.',
      );
    }
    if (blobKey === undefined) throw bad('InvalidCiphertextException', '');
    this.#authorize(principal, blobKey, 'Decrypt');
    this.#usable(blobKey);
    this.seen.push({
      operation: 'Decrypt',
      accessKeyId: principal.accessKeyId,
      keyId: blobKey.arn,
      encryptionContext: context,
    });

    const ivAt = 1 + UUID_LEN;
    const decipher = createDecipheriv('aes-256-gcm', blobKey.secret, blob.subarray(ivAt, ivAt + IV));
    decipher.setAAD(aad(blobKey.keyId, context));
    decipher.setAuthTag(blob.subarray(blob.length - TAG));
    const plaintext = decipher.update(blob.subarray(ivAt + IV, blob.length - TAG));
    try {
      decipher.final();
    } catch {
      plaintext.fill(0);
      throw bad('InvalidCiphertextException', '');
    }
    const out = plaintext.toString('base64');
    plaintext.fill(0);
    return { KeyId: blobKey.arn, Plaintext: out, EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' };
  }

  /** A key id, key ARN, alias name or alias ARN of this account and region, to its key. */
  #resolve(id: string): FakeKey {
    const arnPrefix = `arn:aws:kms:${this.region}:${this.account}:`;
    let key: FakeKey | undefined;
    if (id.startsWith('arn:')) {
      const rest = id.startsWith(arnPrefix) ? id.slice(arnPrefix.length) : '';
      if (rest.startsWith('key/')) key = this.#keys.get(rest.slice('key/'.length));
      else if (rest.startsWith('alias/')) key = this.#byAlias(rest);
    } else {
      key = id.startsWith('alias/') ? this.#byAlias(id) : this.#keys.get(id);
    }
    if (key === undefined) throw bad('NotFoundException', `Key '${id}' does not exist`);
    return key;
  }

  #byAlias(alias: string): FakeKey | undefined {
    const target = this.#aliases.get(alias);
    return target === undefined ? undefined : this.#keys.get(target);
  }

  #authorize(principal: FakeCredentials, key: FakeKey, action: string): void {
    if (principal.keys !== undefined && !principal.keys.includes(key.arn)) {
      throw bad(
        'AccessDeniedException',
        `User: ${principal.accessKeyId} is not authorized to perform: kms:${action} on resource: ${key.arn}`,
      );
    }
  }

  #usable(key: FakeKey): void {
    if (!key.enabled) throw bad('DisabledException', `${key.arn} is disabled.`);
    if (key.spec !== 'SYMMETRIC_DEFAULT' || key.usage !== 'ENCRYPT_DECRYPT')
      throw bad('InvalidKeyUsageException', `${key.arn} cannot be used for this operation`);
  }
}

function send(res: ServerResponse, status: number, body: unknown, errorType?: string): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/x-amz-json-1.1',
    'Content-Length': Buffer.byteLength(text),
    'x-amzn-RequestId': randomUUID(),
    ...(errorType === undefined ? {} : { 'x-amzn-ErrorType': errorType }),
  });
  res.end(text);
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new Error('body too large');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** A header as one string (Node joins repeated headers with ", "), or undefined. */
function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(',') : v;
}

/** RFC 3986 encoding of each path segment; non-S3 services encode the already-encoded path again. */
function canonicalUri(path: string): string {
  return path
    .split('/')
    .map((s) => uriEncode(uriEncode(decodeURIComponent(s))))
    .join('/');
}

function canonicalQuery(query: string): string {
  if (query === '') return '';
  return query
    .split('&')
    .map((p) => {
      const [k = '', v = ''] = p.split('=', 2);
      return [uriEncode(decodeURIComponent(k)), uriEncode(decodeURIComponent(v))] as const;
    })
    .sort(([a, x], [b, y]) => (a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
}

function uriEncode(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function sha256hex(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

function hmac(key: string | Buffer, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest();
}

/** Associated data of a blob: the key id and the context, each entry length-prefixed in key order. */
function aad(keyId: string, context: Record<string, string>): Buffer {
  const parts: Buffer[] = [Buffer.from('fake-aws-kms/v1\0'), Buffer.from(keyId, 'latin1')];
  for (const k of Object.keys(context).sort()) {
    for (const s of [k, context[k]!]) {
      const b = Buffer.from(s, 'utf8');
      const len = Buffer.alloc(4);
      len.writeUInt32BE(b.length);
      parts.push(len, b);
    }
  }
  return Buffer.concat(parts);
}

function requiredString(input: Record<string, unknown>, field: string): string {
  const v = input[field];
  if (typeof v !== 'string' || v.length === 0 || v.length > 2048)
    throw bad('ValidationException', `${field} must be a string of 1 to 2048 characters`);
  return v;
}

/** A base64 blob field, decoded strictly (Buffer.from alone would skip junk characters). */
function base64Field(input: Record<string, unknown>, field: string): Buffer {
  const v = input[field];
  if (typeof v !== 'string') throw bad('ValidationException', `${field} is required`);
  const b = Buffer.from(v, 'base64');
  if (b.toString('base64') !== v) throw bad('SerializationException', `${field} is not valid base64`);
  return b;
}

function contextField(input: Record<string, unknown>): Record<string, string> {
  const v = input.EncryptionContext;
  if (v === undefined) return {};
  if (v === null || typeof v !== 'object' || Array.isArray(v))
    throw bad('SerializationException', 'EncryptionContext must be a map');
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    if (typeof x !== 'string') throw bad('SerializationException', 'EncryptionContext values must be strings');
    out[k] = x;
  }
  return out;
}

function algorithmField(input: Record<string, unknown>): void {
  const v = input.EncryptionAlgorithm;
  if (v !== undefined && v !== 'SYMMETRIC_DEFAULT')
    throw bad('InvalidKeyUsageException', `EncryptionAlgorithm ${JSON.stringify(v)} is not valid for this key`);
}
