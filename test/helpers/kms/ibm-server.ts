/**
 * Loopback IBM IAM and Key Protect for tests: two HTTP servers on 127.0.0.1 (random ports) speaking
 * the services' REST protocols, so the real `ibm-cloud-sdk-core` IamAuthenticator and BaseService
 * can be pointed at them. Plain http is enough: the SDK does not insist on https, and the provider
 * allows http only on loopback.
 *
 * IAM: `POST /identity/token`, form `grant_type=urn:ibm:params:oauth:grant-type:apikey&apikey=…`
 * → `{ access_token, refresh_token, token_type, expires_in, expiration }`. The access token is a JWT
 * (HS256 under the fake's own secret; the SDK reads `iat` and `exp` from it) with a lifetime of
 * `tokenTtlSeconds`. A wrong API key gets IAM's 400 BXNIM0415E.
 *
 * Key Protect: `GET /api/v2/keys/{id}/metadata`, `POST /api/v2/keys/{id}/actions/wrap|unwrap`.
 * Every request needs `Authorization: Bearer <token>` with a token this IAM issued, unexpired and
 * not revoked (expireTokens()), and `bluemix-instance: <instance GUID>`; actions need
 * `Content-Type: application/vnd.ibm.kms.key_action+json`. Errors use Key Protect's JSON shape
 * (`{ metadata: { collectionType: application/vnd.ibm.kms.error+json }, resources: [{ errorMsg,
 * reasons: [{ code, message, status, moreInfo }] }] }`) and its statuses and reason codes: 401
 * UNAUTHORIZED_ERR, 404 KEY_NOT_FOUND_ERR, 400 KEY_ROOT_REQ_ERR (standard key), 409
 * KEY_ACTION_INVALID_STATE_ERR (suspended; deactivated keys unwrap but do not wrap), 410
 * KEY_DELETED_ERR (destroyed), 422 UNPROCESSABLE_CIPHERTEXT_ERR (wrong AAD, key or tampering).
 *
 * Wrap really encrypts: AES-256-GCM under the newest version of the root key, with the AAD list
 * bound in a canonical, length-prefixed join (plus the key and version ids). rotate() adds a
 * version; older ciphertexts still unwrap, reporting their own version, with the re-wrapped
 * ciphertext and `rewrappedKeyVersion` in the answer as Key Protect does.
 *
 * Fault injection per service: the next N requests answer 429 or 503, have their socket destroyed,
 * or hang; counters per method and path; every action's AAD and bearer token recorded.
 *
 * Ciphertext of this fake (opaque to clients): "FK" | version id length u8 | version id | IV (12)
 * | GCM tag (16) | ciphertext; base64 on the wire.
 * @module
 */
import { createCipheriv, createDecipheriv, createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type Service = 'iam' | 'kp';
export type Fault = 'throttle' | 'unavailable' | 'reset' | 'hang';
export type KeyState = 'active' | 'suspended' | 'deactivated' | 'destroyed';

const STATE_NUMBER: Record<KeyState, number> = { active: 1, suspended: 2, deactivated: 3, destroyed: 5 };
const KEY_ACTION_TYPE = 'application/vnd.ibm.kms.key_action+json';
const GRANT_APIKEY = 'urn:ibm:params:oauth:grant-type:apikey';
const MORE_INFO = 'https://cloud.ibm.com/apidocs/key-protect';
const MAX_BODY = 64 * 1024;
const MAX_AAD_ITEMS = 255;
const MAX_AAD_LENGTH = 255;
const IV = 12;
const TAG = 16;

interface KeyVersion {
  readonly id: string;
  readonly created: Date;
  /** AES-256 secret of this version; never leaves the fake. */
  readonly secret: Buffer;
}

export interface FakeRootKey {
  readonly id: string;
  readonly instanceId: string;
  readonly extractable: boolean;
  state: KeyState;
  readonly versions: KeyVersion[];
}

/** One key action the fake processed (after authentication). */
export interface SeenAction {
  readonly action: string;
  readonly instanceId: string;
  readonly keyId: string;
  readonly aad: readonly string[] | undefined;
  readonly token: string;
  readonly contentType: string | undefined;
}

class ServiceError extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

const b64url = (b: Buffer | string): string => Buffer.from(b).toString('base64url');

export class FakeIbmCloud {
  /** The API key IAM accepts. */
  readonly apiKey = `kp-${randomBytes(24).toString('hex')}`;
  /** The instance the API key's account owns. */
  readonly instanceId = randomUUID();
  /** Lifetime of new access tokens. The SDK treats a token as expired 10 s before `exp`. */
  tokenTtlSeconds = 3600;
  /** Every access token issued, so tests can check none leaks into an error. */
  readonly issuedTokens: string[] = [];
  /**
   * A hostile server: error answers repeat the credentials the request presented (API key, bearer
   * token), to show the client never passes a server's text on. Neither real service does this.
   */
  echoCredentials = false;
  /** Key Protect requests refused for an invalid, expired or revoked token. */
  rejectedTokens = 0;
  readonly actions: SeenAction[] = [];

  readonly #jwtSecret = randomBytes(32);
  readonly #revoked = new Set<string>();
  readonly #keys = new Map<string, FakeRootKey>();
  readonly #counts = new Map<string, number>();
  readonly #faults: Record<Service, { fault: Fault; remaining: number }[]> = { iam: [], kp: [] };
  readonly #hung = new Set<ServerResponse>();
  readonly #servers: Record<Service, Server>;
  #iamUrl = '';
  #endpoint = '';

  private constructor() {
    this.#servers = {
      iam: createServer((req, res) => void this.#handle('iam', req, res)),
      kp: createServer((req, res) => void this.#handle('kp', req, res)),
    };
  }

  static async start(): Promise<FakeIbmCloud> {
    const fake = new FakeIbmCloud();
    const listen = (s: Server): Promise<string> =>
      new Promise((resolve, reject) => {
        s.once('error', reject);
        s.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(s.address() as AddressInfo).port}`));
      });
    fake.#iamUrl = await listen(fake.#servers.iam);
    fake.#endpoint = await listen(fake.#servers.kp);
    return fake;
  }

  /** IAM base URL (the SDK appends /identity/token). */
  get iamUrl(): string {
    return this.#iamUrl;
  }

  /** Key Protect endpoint. */
  get endpoint(): string {
    return this.#endpoint;
  }

  /** Create a key (a root key unless `extractable`) with one version; returns its id. */
  addKey(options: { extractable?: boolean; state?: KeyState; instanceId?: string } = {}): string {
    const id = randomUUID();
    this.#keys.set(id, {
      id,
      instanceId: options.instanceId ?? this.instanceId,
      extractable: options.extractable ?? false,
      state: options.state ?? 'active',
      versions: [{ id: randomUUID(), created: new Date(), secret: randomBytes(32) }],
    });
    return id;
  }

  key(id: string): FakeRootKey {
    const k = this.#keys.get(id);
    if (k === undefined) throw new Error(`no key ${id}`);
    return k;
  }

  setState(id: string, state: KeyState): void {
    this.key(id).state = state;
  }

  /** Rotate a root key: a new version wraps from now on. Returns the new version's id. */
  rotate(id: string): string {
    const v = { id: randomUUID(), created: new Date(), secret: randomBytes(32) };
    this.key(id).versions.push(v);
    return v.id;
  }

  /** Invalidate every token issued so far, as if they had expired (Key Protect refuses them). */
  expireTokens(): void {
    for (const t of this.issuedTokens) this.#revoked.add(t);
  }

  /** Make the next `times` requests to `service` fail with `fault` (Infinity: until cleared). */
  inject(service: Service, fault: Fault, times = 1): void {
    this.#faults[service].push({ fault, remaining: times });
  }

  clearFaults(): void {
    this.#faults.iam.length = 0;
    this.#faults.kp.length = 0;
    for (const res of this.#hung) res.destroy();
    this.#hung.clear();
  }

  /** Requests received by `service` (faulted ones included) whose "METHOD path" contains `part`. */
  count(service: Service, part = ''): number {
    let n = 0;
    for (const [k, v] of this.#counts) if (k.startsWith(`${service} `) && k.includes(part)) n += v;
    return n;
  }

  /** Stop one service: later connections are refused. */
  async stop(service: Service): Promise<void> {
    const s = this.#servers[service];
    if (!s.listening) return;
    const closed = new Promise<void>((resolve) => s.close(() => resolve()));
    s.closeAllConnections();
    await closed;
  }

  async close(): Promise<void> {
    this.clearFaults();
    await Promise.all([this.stop('iam'), this.stop('kp')]);
  }

  async #handle(service: Service, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const key = `${service} ${req.method ?? '?'} ${path}`;
    this.#counts.set(key, (this.#counts.get(key) ?? 0) + 1);
    let body: Buffer;
    try {
      body = await readBody(req);
    } catch {
      return this.#error(
        service,
        req,
        Buffer.alloc(0),
        res,
        new ServiceError(413, 'BODY_TOO_LARGE_ERR', 'Payload Too Large'),
      );
    }
    const queue = this.#faults[service];
    const head = queue[0];
    if (head !== undefined) {
      if (--head.remaining <= 0) queue.shift();
      switch (head.fault) {
        case 'reset':
          req.socket.destroy();
          return;
        case 'hang':
          this.#hung.add(res);
          res.on('close', () => this.#hung.delete(res));
          return;
        case 'throttle':
          return this.#error(
            service,
            req,
            body,
            res,
            new ServiceError(429, 'TOO_MANY_REQUESTS_ERR', 'Too Many Requests'),
          );
        case 'unavailable':
          return this.#error(
            service,
            req,
            body,
            res,
            new ServiceError(503, 'SERVICE_UNAVAILABLE_ERR', 'Service Unavailable'),
          );
      }
    }
    try {
      const out = service === 'iam' ? this.#iam(req, path, body) : this.#kp(req, path, body);
      send(res, 200, out);
    } catch (e) {
      this.#error(
        service,
        req,
        body,
        res,
        e instanceof ServiceError ? e : new ServiceError(500, 'INTERNAL_SERVER_ERR', 'Internal Server Error'),
      );
    }
  }

  #error(service: Service, req: IncomingMessage, body: Buffer, res: ServerResponse, e: ServiceError): void {
    let message = e.message;
    if (this.echoCredentials) {
      const presented =
        service === 'iam' ? new URLSearchParams(body.toString('utf8')).get('apikey') : req.headers.authorization;
      message += ` (you sent ${presented ?? 'nothing'})`;
    }
    if (service === 'iam') {
      send(res, e.status, {
        errorCode: e.reason,
        errorMessage: message,
        context: { requestId: randomUUID(), url: 'https://iam.cloud.ibm.com' },
      });
      return;
    }
    send(res, e.status, {
      metadata: { collectionType: 'application/vnd.ibm.kms.error+json', collectionTotal: 1 },
      resources: [
        {
          errorMsg: `${message}: Please see \`reasons\` for more details.`,
          reasons: [{ code: e.reason, message, status: e.status, moreInfo: MORE_INFO }],
        },
      ],
    });
  }

  // ---- IAM -------------------------------------------------------------------------------------

  #iam(req: IncomingMessage, path: string, body: Buffer): unknown {
    if (req.method !== 'POST' || path !== '/identity/token') throw new ServiceError(404, 'BXNIM0404E', 'Not Found');
    if (!(req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded'))
      throw new ServiceError(400, 'BXNIM0109E', 'Property missing or empty.');
    const form = new URLSearchParams(body.toString('utf8'));
    if (form.get('grant_type') !== GRANT_APIKEY)
      throw new ServiceError(400, 'BXNIM0109E', 'Property missing or empty.');
    const apikey = form.get('apikey') ?? '';
    const a = Buffer.from(apikey);
    const b = Buffer.from(this.apiKey);
    if (a.length !== b.length || !timingSafeEqual(a, b))
      throw new ServiceError(400, 'BXNIM0415E', 'Provided API key could not be found.');
    const iat = Math.floor(Date.now() / 1000);
    const exp = iat + this.tokenTtlSeconds;
    const token = this.#jwt({
      iam_id: 'iam-ServiceId-fake',
      sub: 'ServiceId-fake',
      account: { bss: 'fake-account' },
      iat,
      exp,
      jti: randomUUID(),
    });
    this.issuedTokens.push(token);
    return {
      access_token: token,
      refresh_token: 'not_supported',
      token_type: 'Bearer',
      expires_in: this.tokenTtlSeconds,
      expiration: exp,
      scope: 'ibm openid',
    };
  }

  #jwt(claims: object): string {
    const head = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT', kid: 'fake' }));
    const body = b64url(JSON.stringify(claims));
    const sig = createHmac('sha256', this.#jwtSecret).update(`${head}.${body}`).digest();
    return `${head}.${body}.${b64url(sig)}`;
  }

  /** The bearer token if this IAM issued it, its signature holds, and it is neither expired nor revoked. */
  #checkToken(req: IncomingMessage): string {
    const refuse = (): never => {
      this.rejectedTokens++;
      throw new ServiceError(
        401,
        'UNAUTHORIZED_ERR',
        'Unauthorized: The user does not have access to the specified resource',
      );
    };
    const m = /^Bearer ([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)$/.exec(req.headers.authorization ?? '');
    if (m === null) return refuse();
    const [, head, body, sig] = m as unknown as [string, string, string, string];
    const want = createHmac('sha256', this.#jwtSecret).update(`${head}.${body}`).digest();
    const got = Buffer.from(sig, 'base64url');
    if (got.length !== want.length || !timingSafeEqual(got, want)) return refuse();
    const token = `${head}.${body}.${sig}`;
    const { exp } = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as { exp: number };
    if (this.#revoked.has(token) || Date.now() / 1000 >= exp) return refuse();
    return token;
  }

  // ---- Key Protect -----------------------------------------------------------------------------

  #kp(req: IncomingMessage, path: string, body: Buffer): unknown {
    const token = this.#checkToken(req);
    const instance = req.headers['bluemix-instance'];
    if (typeof instance !== 'string' || instance.length === 0)
      throw new ServiceError(400, 'BAD_INSTANCE_HEADER_ERR', 'Bad Request: bluemix-instance header is missing');
    if (instance !== this.instanceId)
      throw new ServiceError(
        401,
        'UNAUTHORIZED_ERR',
        'Unauthorized: The user does not have access to the specified resource',
      );

    const meta = /^\/api\/v2\/keys\/([^/]+)\/metadata$/.exec(path);
    if (meta !== null && req.method === 'GET') {
      const key = this.#find(instance, decodeURIComponent(meta[1]!));
      return {
        metadata: { collectionType: 'application/vnd.ibm.kms.key+json', collectionTotal: 1 },
        resources: [describeKey(key)],
      };
    }
    const action = /^\/api\/v2\/keys\/([^/]+)\/actions\/([A-Za-z]+)$/.exec(path);
    if (action === null || req.method !== 'POST') throw new ServiceError(404, 'NOT_FOUND_ERR', 'Not Found');
    const contentType = req.headers['content-type'];
    if (contentType !== KEY_ACTION_TYPE)
      throw new ServiceError(415, 'UNSUPPORTED_MEDIA_TYPE_ERR', 'Unsupported Media Type');
    let request: Record<string, unknown>;
    try {
      request = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
      if (request === null || typeof request !== 'object') throw new Error();
    } catch {
      throw new ServiceError(400, 'BAD_BODY_ERR', 'Bad Request: Invalid body data was passed');
    }
    const name = action[2]!;
    const key = this.#find(instance, decodeURIComponent(action[1]!));
    const aad = checkAad(request['aad']);
    this.actions.push({ action: name, instanceId: instance, keyId: key.id, aad, token, contentType });
    if (name !== 'wrap' && name !== 'unwrap')
      throw new ServiceError(400, 'BAD_BODY_ERR', 'Bad Request: unsupported action');
    if (key.extractable)
      throw new ServiceError(
        400,
        'KEY_ROOT_REQ_ERR',
        'Bad Request: Requested action can only be completed with a root key',
      );
    if (key.state === 'destroyed') throw new ServiceError(410, 'KEY_DELETED_ERR', 'Gone: Key has already been deleted');
    if (key.state === 'suspended' || (key.state === 'deactivated' && name === 'wrap'))
      throw new ServiceError(409, 'KEY_ACTION_INVALID_STATE_ERR', 'Conflict: Key is not in a valid state');
    return name === 'wrap' ? this.#wrap(key, request, aad) : this.#unwrap(key, request, aad);
  }

  #find(instance: string, id: string): FakeRootKey {
    const key = this.#keys.get(id);
    if (key === undefined || key.instanceId !== instance)
      throw new ServiceError(404, 'KEY_NOT_FOUND_ERR', 'Not Found: Key does not exist');
    return key;
  }

  #wrap(key: FakeRootKey, request: Record<string, unknown>, aad: readonly string[] | undefined): unknown {
    const given = request['plaintext'];
    const plaintext = given === undefined ? randomBytes(32) : strictBase64(given);
    if (plaintext === undefined || plaintext.length === 0 || plaintext.length > 7168)
      throw new ServiceError(400, 'BAD_BODY_ERR', 'Bad Request: Invalid body data was passed');
    const version = key.versions[key.versions.length - 1]!;
    const out: Record<string, unknown> = {
      ciphertext: seal(key, version, plaintext, aad).toString('base64'),
      keyVersion: { id: version.id, creationDate: version.created.toISOString() },
    };
    if (given === undefined) out['plaintext'] = plaintext.toString('base64');
    return out;
  }

  #unwrap(key: FakeRootKey, request: Record<string, unknown>, aad: readonly string[] | undefined): unknown {
    const ct = strictBase64(request['ciphertext']);
    if (ct === undefined) throw new ServiceError(400, 'BAD_BODY_ERR', 'Bad Request: Invalid body data was passed');
    const opened = open(key, ct, aad);
    if (opened === undefined)
      throw new ServiceError(
        422,
        'UNPROCESSABLE_CIPHERTEXT_ERR',
        'Unprocessable Entity: The provided ciphertext is invalid or corrupted',
      );
    const { version, plaintext } = opened;
    const out: Record<string, unknown> = {
      plaintext: plaintext.toString('base64'),
      keyVersion: { id: version.id, creationDate: version.created.toISOString() },
    };
    const latest = key.versions[key.versions.length - 1]!;
    if (latest !== version) {
      out['ciphertext'] = seal(key, latest, plaintext, aad).toString('base64');
      out['rewrappedKeyVersion'] = { id: latest.id, creationDate: latest.created.toISOString() };
    }
    return out;
  }
}

function describeKey(key: FakeRootKey): Record<string, unknown> {
  const latest = key.versions[key.versions.length - 1]!;
  return {
    type: 'application/vnd.ibm.kms.key+json',
    id: key.id,
    name: `key-${key.id.slice(0, 8)}`,
    state: STATE_NUMBER[key.state],
    extractable: key.extractable,
    crn: `crn:v1:bluemix:public:kms:local:a/fake-account:${key.instanceId}:key:${key.id}`,
    keyVersion: { id: latest.id, creationDate: latest.created.toISOString() },
    deleted: key.state === 'destroyed',
    algorithmType: 'AES',
  };
}

function checkAad(v: unknown): readonly string[] | undefined {
  if (v === undefined) return undefined;
  if (
    !Array.isArray(v) ||
    v.length > MAX_AAD_ITEMS ||
    !v.every((s) => typeof s === 'string' && s.length <= MAX_AAD_LENGTH)
  ) {
    throw new ServiceError(400, 'BAD_BODY_ERR', 'Bad Request: Invalid body data was passed');
  }
  return v as string[];
}

/** The AAD list as bytes: count, then each string length-prefixed, plus the key and version it is under. */
function canonicalAad(key: FakeRootKey, version: KeyVersion, aad: readonly string[] | undefined): Buffer {
  const parts: Buffer[] = [Buffer.from('fake-key-protect/v1', 'latin1')];
  const field = (s: string): void => {
    const b = Buffer.from(s, 'utf8');
    const n = Buffer.alloc(4);
    n.writeUInt32BE(b.length);
    parts.push(n, b);
  };
  field(key.id);
  field(version.id);
  const list = aad ?? [];
  const count = Buffer.alloc(4);
  count.writeUInt32BE(list.length);
  parts.push(count);
  for (const s of list) field(s);
  return Buffer.concat(parts);
}

function seal(key: FakeRootKey, version: KeyVersion, plaintext: Buffer, aad: readonly string[] | undefined): Buffer {
  const iv = randomBytes(IV);
  const cipher = createCipheriv('aes-256-gcm', version.secret, iv);
  cipher.setAAD(canonicalAad(key, version, aad));
  const ct = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  const vid = Buffer.from(version.id, 'latin1');
  return Buffer.concat([Buffer.from('FK', 'latin1'), Uint8Array.of(vid.length), vid, iv, cipher.getAuthTag(), ct]);
}

function open(
  key: FakeRootKey,
  blob: Buffer,
  aad: readonly string[] | undefined,
): { version: KeyVersion; plaintext: Buffer } | undefined {
  if (blob.length < 3 || blob.toString('latin1', 0, 2) !== 'FK') return undefined;
  const n = blob[2]!;
  if (blob.length < 3 + n + IV + TAG) return undefined;
  const vid = blob.toString('latin1', 3, 3 + n);
  const version = key.versions.find((v) => v.id === vid);
  if (version === undefined) return undefined;
  const at = 3 + n;
  const decipher = createDecipheriv('aes-256-gcm', version.secret, blob.subarray(at, at + IV));
  decipher.setAAD(canonicalAad(key, version, aad));
  decipher.setAuthTag(blob.subarray(at + IV, at + IV + TAG));
  try {
    const plaintext = Buffer.concat([decipher.update(blob.subarray(at + IV + TAG)), decipher.final()]);
    return { version, plaintext };
  } catch {
    return undefined;
  }
}

function strictBase64(v: unknown): Buffer | undefined {
  if (typeof v !== 'string' || v.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(v)) return undefined;
  const b = Buffer.from(v, 'base64');
  return b.toString('base64') === v ? b : undefined;
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new ServiceError(413, 'BODY_TOO_LARGE_ERR', 'Payload Too Large'));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function send(res: ServerResponse, status: number, body: unknown): void {
  if (res.destroyed || res.headersSent) return;
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}
