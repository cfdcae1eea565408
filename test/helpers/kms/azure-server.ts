/**
 * Loopback fakes of Entra ID (the token endpoint) and Azure Key Vault, speaking enough of their
 * REST protocols for the real SDK (@azure/keyvault-keys) and a real ClientSecretCredential
 * (@azure/identity, through MSAL) to run against them unchanged.
 *
 * Addressing and TLS trust: both fakes listen with HTTPS on 127.0.0.1 (random ports) under a
 * certificate from a fresh test CA, naming a vault host under `.vault.azure.net` and a login host.
 * Tests reach them through `FakeAzure.agent`, an https.Agent that trusts only the test CA and
 * resolves every host name to 127.0.0.1. The agent goes in as the standard `agent` pipeline option,
 * which both the Key Vault clients and the credential's identity client honour (MSAL sends its
 * requests through that identity client), so no process-wide setting is touched
 * (NODE_EXTRA_CA_CERTS is read only at process start anyway) and the SDK's challenge-resource
 * check (the vault host must end in ".vault.azure.net") stays on.
 *
 * Key Vault: an unauthenticated request gets 401 with the bearer challenge naming the authority and
 * resource; then every request must carry an unexpired token this token endpoint issued for the
 * vault scope. GET /keys/{name}[/{version}], POST /keys/{name}/{version}/wrapkey and /unwrapkey do
 * real RSA-OAEP-256 with keys held here; errors use Key Vault's JSON error shape.
 *
 * Entra ID: OpenID metadata for the tenant and the client-credentials grant, checking client id
 * and secret; access tokens are HS256 JWTs the vault verifies.
 *
 * Faults, per server: the next N requests answered with a status (429 with Retry-After, 503…) or
 * with a destroyed socket, or every request so; a hang switch; request counters. Switches for a
 * wrong client secret (`rotateSecret`), a vault refusing the identity (`forbidden`), disabled and
 * expired keys.
 * @module
 */
import {
  createHmac,
  generateKeyPair,
  privateDecrypt,
  publicEncrypt,
  randomBytes,
  randomUUID,
  constants as cryptoConstants,
  type KeyObject,
} from 'node:crypto';
import { Agent, createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo, LookupFunction } from 'node:net';
import { promisify } from 'node:util';
import { ClientSecretCredential } from '@azure/identity';
import { createCertificateAuthority } from '../../../src/transport/certs.js';
import { subtle, x509 } from '../../../src/transport/x509.js';

export const VAULT_HOST = 'mpc-test.vault.azure.net';
export const LOGIN_HOST = 'login.entra.test';
export const VAULT_RESOURCE = 'https://vault.azure.net';

/** One fault to apply to a request: answer with a status, or destroy the socket. */
type Fault = { kind: 'status'; status: number; retryAfter?: number } | { kind: 'reset' };

/** Fault injection and counting shared by both fakes. */
export class Faults {
  /** `errorBody(status)`: the injected error in the service's own shape. */
  constructor(private readonly errorBody: (status: number) => unknown) {}
  #queue: Fault[] = [];
  #always: Fault | undefined;
  /** Requests received, faults included. */
  requests = 0;
  /** When set, requests are read and never answered (until the server closes). */
  hang = false;

  /** Answer the next `n` requests with `status` (429 carries Retry-After: `retryAfter` seconds). */
  failNext(n: number, status: number, retryAfter?: number): void {
    for (let i = 0; i < n; i++)
      this.#queue.push(retryAfter === undefined ? { kind: 'status', status } : { kind: 'status', status, retryAfter });
  }
  /** Destroy the socket of the next `n` requests without answering. */
  resetNext(n: number): void {
    for (let i = 0; i < n; i++) this.#queue.push({ kind: 'reset' });
  }
  /** Answer every request with `status` until `clear()`. */
  failAlways(status: number): void {
    this.#always = { kind: 'status', status };
  }
  clear(): void {
    this.#queue = [];
    this.#always = undefined;
    this.hang = false;
  }

  /** Count the request and apply a pending fault; true if the request was dealt with. */
  apply(req: IncomingMessage, res: ServerResponse): boolean {
    this.requests++;
    if (this.hang) {
      req.resume();
      return true;
    }
    const f = this.#queue.shift() ?? this.#always;
    if (f === undefined) return false;
    req.resume();
    if (f.kind === 'reset') {
      req.socket.destroy();
      return true;
    }
    const headers: Record<string, string> = {};
    if (f.retryAfter !== undefined) headers['retry-after'] = String(f.retryAfter);
    sendJson(res, f.status, this.errorBody(f.status), headers);
    return true;
  }
}

interface KeyVersion {
  readonly version: string;
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  kty: string;
  ops: string[];
  enabled: boolean;
  /** attributes.exp: the vault refuses new wraps after it; unwrapping stays allowed. */
  expires: Date | undefined;
}

export interface KeyOptions {
  /** JWK key_ops (default: encrypt, decrypt, wrapKey, unwrapKey). */
  ops?: string[];
  enabled?: boolean;
  /** Reported key type (default RSA); the key material is RSA either way. */
  kty?: string;
}

/** What the vault did, for assertions. */
export interface VaultLog {
  /** 401 challenges sent to unauthenticated requests. */
  challenges: number;
  /** Requests refused for a missing, forged, expired or wrong-audience token (challenges excluded). */
  badTokens: number;
  gets: string[];
  wraps: string[];
  /** Unwraps the vault performed successfully, by versioned kid. */
  unwraps: string[];
  /** Unwraps refused because the ciphertext did not decrypt. */
  failedUnwraps: number;
}

export interface TokenLog {
  /** Client-credentials grants that checked out, with the scope asked for. */
  issued: { clientId: string; scope: string }[];
  /** Grants refused: wrong client id or secret. */
  refused: number;
  metadataRequests: number;
}

function b64u(b: Buffer | Uint8Array): string {
  return Buffer.from(b).toString('base64url');
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

function vaultError(
  res: ServerResponse,
  status: number,
  code: string,
  message: string,
  inner?: string,
  headers: Record<string, string> = {},
): void {
  sendJson(
    res,
    status,
    { error: { code, message, ...(inner === undefined ? {} : { innererror: { code: inner } }) } },
    headers,
  );
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * RSA key pairs shared by every fake in the process: the i-th key a fake creates is the i-th of
 * this list, so keys within one vault differ while a test run generates only a handful (RSA key
 * generation takes up to a second; off the event loop, so timers in concurrent tests stay honest).
 */
const keyPool: Promise<{ privateKey: KeyObject; publicKey: KeyObject }>[] = [];
const generateRsa = promisify(generateKeyPair);
function pooledKey(i: number): Promise<{ privateKey: KeyObject; publicKey: KeyObject }> {
  while (keyPool.length <= i) keyPool.push(generateRsa('rsa', { modulusLength: 2048 }));
  return keyPool[i]!;
}

/** A TLS server certificate for the fake hosts, under a fresh test CA. */
async function serverCertificate(): Promise<{ caPem: string; certPem: string; keyPem: string }> {
  const ca = await createCertificateAuthority({ commonName: 'Azure fakes test CA', validityDays: 2 });
  const alg = { name: 'ECDSA', namedCurve: 'P-256' } as const;
  const keys = await subtle.generateKey(alg, true, ['sign', 'verify']);
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.create({
    subject: `CN=${VAULT_HOST}`,
    issuer: ca.cert.subject,
    publicKey: keys.publicKey as never,
    signingKey: ca.signingKey,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    notBefore: new Date(now - 300_000),
    notAfter: new Date(now + 86_400_000),
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([
        { type: 'dns', value: VAULT_HOST },
        { type: 'dns', value: LOGIN_HOST },
      ]),
    ],
  });
  const pkcs8 = await subtle.exportKey('pkcs8', keys.privateKey);
  return { caPem: ca.certPem, certPem: cert.toString('pem'), keyPem: x509.PemConverter.encode(pkcs8, 'PRIVATE KEY') };
}

/** Every host name resolves to 127.0.0.1: test traffic cannot leave the machine. */
const loopbackLookup = ((_host: string, options: unknown, callback: (...args: unknown[]) => void) => {
  const cb = typeof options === 'function' ? (options as typeof callback) : callback;
  if (typeof options === 'object' && options !== null && (options as { all?: boolean }).all === true)
    cb(null, [{ address: '127.0.0.1', family: 4 }]);
  else cb(null, '127.0.0.1', 4);
}) as unknown as LookupFunction;

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return (server.address() as AddressInfo).port;
}

/** The token endpoint of one tenant with one confidential client. */
export class FakeEntraId {
  readonly faults = new Faults((status) => ({
    error: 'temporarily_unavailable',
    error_description: `AADSTS50196: injected HTTP ${status}; the server is temporarily unavailable.`,
    error_codes: [50196],
  }));
  readonly log: TokenLog = { issued: [], refused: 0, metadataRequests: 0 };
  readonly tenantId = randomUUID();
  readonly clientId = randomUUID();
  /** The secret the endpoint accepts; `rotateSecret()` makes the clients' copy wrong. */
  clientSecret = randomBytes(18).toString('base64url');
  /** Lifetime of issued tokens. */
  tokenLifetimeS = 3600;
  readonly #hmacKey = randomBytes(32);
  #server: Server | undefined;
  #port = 0;

  get authorityHost(): string {
    return `https://${LOGIN_HOST}:${this.#port}`;
  }
  get authority(): string {
    return `${this.authorityHost}/${this.tenantId}`;
  }

  async start(tls: { certPem: string; keyPem: string }): Promise<void> {
    this.#server = createServer({ cert: tls.certPem, key: tls.keyPem }, (req, res) => void this.#handle(req, res));
    this.#port = await listen(this.#server);
  }

  /** The accepted secret changes: clients holding the old one are refused (invalid_client). */
  rotateSecret(): void {
    this.clientSecret = randomBytes(18).toString('base64url');
  }

  /** Whether `token` is a JWT this endpoint issued for `audience`, still valid. */
  verify(token: string, audience: string): boolean {
    const parts = token.split('.');
    if (parts.length !== 3) return false;
    const [h, p, s] = parts as [string, string, string];
    const mac = createHmac('sha256', this.#hmacKey).update(`${h}.${p}`).digest('base64url');
    if (mac !== s) return false;
    try {
      const claims = JSON.parse(Buffer.from(p, 'base64url').toString('utf8')) as {
        aud?: string;
        exp?: number;
        tid?: string;
      };
      return (
        claims.aud === audience &&
        claims.tid === this.tenantId &&
        typeof claims.exp === 'number' &&
        claims.exp * 1000 > Date.now()
      );
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    await closeServer(this.#server);
  }

  #issue(scope: string): string {
    const now = Math.floor(Date.now() / 1000);
    const header = b64u(Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' })));
    const aud = scope.replace(/\/\.default$/, '');
    const payload = b64u(
      Buffer.from(
        JSON.stringify({
          aud,
          iss: `https://sts.windows.net/${this.tenantId}/`,
          iat: now,
          nbf: now,
          exp: now + this.tokenLifetimeS,
          appid: this.clientId,
          tid: this.tenantId,
          oid: randomUUID(),
          jti: randomUUID(),
        }),
      ),
    );
    const sig = createHmac('sha256', this.#hmacKey).update(`${header}.${payload}`).digest('base64url');
    return `${header}.${payload}.${sig}`;
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (this.faults.apply(req, res)) return;
    const url = new URL(req.url ?? '/', this.authorityHost);
    const base = `/${this.tenantId}`;
    if (req.method === 'GET' && url.pathname === `${base}/v2.0/.well-known/openid-configuration`) {
      this.log.metadataRequests++;
      const a = this.authority;
      sendJson(res, 200, {
        issuer: `${a}/v2.0`,
        authorization_endpoint: `${a}/oauth2/v2.0/authorize`,
        token_endpoint: `${a}/oauth2/v2.0/token`,
        end_session_endpoint: `${a}/oauth2/v2.0/logout`,
        jwks_uri: `${a}/discovery/v2.0/keys`,
        response_types_supported: ['code', 'id_token', 'token'],
        token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
      });
      return;
    }
    if (req.method === 'POST' && url.pathname === `${base}/oauth2/v2.0/token`) {
      const form = new URLSearchParams(await readBody(req));
      if (form.get('grant_type') !== 'client_credentials') {
        sendJson(res, 400, {
          error: 'unsupported_grant_type',
          error_description: 'AADSTS70003: the fake supports client_credentials only',
          error_codes: [70003],
        });
        return;
      }
      if (form.get('client_id') !== this.clientId) {
        this.log.refused++;
        sendJson(res, 400, {
          error: 'unauthorized_client',
          error_description: `AADSTS700016: Application with identifier '${form.get('client_id')}' was not found in the directory.`,
          error_codes: [700016],
        });
        return;
      }
      if (form.get('client_secret') !== this.clientSecret) {
        this.log.refused++;
        sendJson(res, 401, {
          error: 'invalid_client',
          error_description: `AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${this.clientId}'.`,
          error_codes: [7000215],
        });
        return;
      }
      const scope = form.get('scope') ?? '';
      const scopes = scope.split(' ').filter((s) => s.endsWith('/.default'));
      if (scopes.length !== 1) {
        sendJson(res, 400, {
          error: 'invalid_scope',
          error_description:
            'AADSTS1002012: The provided value for scope is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier.',
          error_codes: [1002012],
        });
        return;
      }
      this.log.issued.push({ clientId: this.clientId, scope: scopes[0]! });
      sendJson(res, 200, {
        token_type: 'Bearer',
        expires_in: this.tokenLifetimeS,
        ext_expires_in: this.tokenLifetimeS,
        access_token: this.#issue(scopes[0]!),
      });
      return;
    }
    sendJson(res, 404, { error: 'not_found', error_description: `no route ${req.method} ${url.pathname}` });
  }
}

/** A key vault holding RSA keys by name, each with versions; the last version is current. */
export class FakeKeyVault {
  readonly faults = new Faults((status) => ({
    error: { code: status === 429 ? 'Throttled' : 'ServiceUnavailable', message: `injected HTTP ${status}` },
  }));
  readonly log: VaultLog = { challenges: 0, badTokens: 0, gets: [], wraps: [], unwraps: [], failedUnwraps: 0 };
  readonly #keys = new Map<string, KeyVersion[]>();
  /** When set, authenticated requests are refused 403, as when the identity lacks key permissions. */
  forbidden = false;
  #created = 0;
  #server: Server | undefined;
  #port = 0;

  constructor(readonly entra: FakeEntraId) {}

  get vaultUrl(): string {
    return `https://${VAULT_HOST}:${this.#port}`;
  }

  async start(tls: { certPem: string; keyPem: string }): Promise<void> {
    this.#server = createServer({ cert: tls.certPem, key: tls.keyPem }, (req, res) => void this.#handle(req, res));
    this.#port = await listen(this.#server);
  }

  /** The versionless id of key `name`. */
  keyUrl(name: string): string {
    return `${this.vaultUrl}/keys/${name}`;
  }

  kid(name: string, version: string): string {
    return `${this.keyUrl(name)}/${version}`;
  }

  /** Create key `name` (or a new version of it, like a rotation); returns the new version's kid. */
  async createKey(name: string, options: KeyOptions = {}): Promise<string> {
    const { privateKey, publicKey } = await pooledKey(this.#created++);
    const v: KeyVersion = {
      version: randomBytes(16).toString('hex'),
      privateKey,
      publicKey,
      kty: options.kty ?? 'RSA',
      ops: options.ops ?? ['encrypt', 'decrypt', 'wrapKey', 'unwrapKey'],
      enabled: options.enabled ?? true,
      expires: undefined,
    };
    const versions = this.#keys.get(name) ?? [];
    versions.push(v);
    this.#keys.set(name, versions);
    return this.kid(name, v.version);
  }

  /** A new current version of `name`, as Key Vault's rotate does; returns its kid. */
  rotateKey(name: string): Promise<string> {
    const cur = this.#current(name);
    if (cur === undefined) throw new Error(`no key ${name}`);
    return this.createKey(name, { ops: [...cur.ops], kty: cur.kty });
  }

  /** Set the expiry of the key version `kid` names. */
  setExpiry(kid: string, expires: Date): void {
    const [name, version] = kid.split('/').slice(-2) as [string, string];
    const v = this.#keys.get(name)?.find((k) => k.version === version);
    if (v === undefined) throw new Error(`no key ${kid}`);
    v.expires = expires;
  }

  setEnabled(name: string, enabled: boolean): void {
    const cur = this.#current(name);
    if (cur !== undefined) cur.enabled = enabled;
  }

  /** Encrypt under a key version locally, as a client holding the public key could. */
  publicEncrypt(name: string, version: string, plaintext: Uint8Array): Buffer {
    const v = this.#keys.get(name)?.find((k) => k.version === version);
    if (v === undefined) throw new Error(`no key ${name}/${version}`);
    return publicEncrypt(
      { key: v.publicKey, padding: cryptoConstants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
      plaintext,
    );
  }

  async close(): Promise<void> {
    await closeServer(this.#server);
  }

  #current(name: string): KeyVersion | undefined {
    const vs = this.#keys.get(name);
    return vs?.[vs.length - 1];
  }

  #bundle(name: string, v: KeyVersion): unknown {
    const jwk = v.publicKey.export({ format: 'jwk' });
    const t = Math.floor(Date.now() / 1000);
    return {
      key: { kid: this.kid(name, v.version), kty: v.kty, key_ops: v.ops, n: jwk.n, e: jwk.e },
      attributes: {
        enabled: v.enabled,
        ...(v.expires === undefined ? {} : { exp: Math.floor(v.expires.getTime() / 1000) }),
        created: t,
        updated: t,
        recoveryLevel: 'Recoverable+Purgeable',
        recoverableDays: 90,
        exportable: false,
      },
    };
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (this.faults.apply(req, res)) return;
    const body = await readBody(req);
    const url = new URL(req.url ?? '/', this.vaultUrl);
    const auth = req.headers.authorization;
    if (auth === undefined) {
      this.log.challenges++;
      const challenge = `Bearer authorization="${this.entra.authority}", resource="${VAULT_RESOURCE}"`;
      vaultError(res, 401, 'Unauthorized', 'AKV10000: Request is missing a Bearer or PoP token.', undefined, {
        'www-authenticate': challenge,
      });
      return;
    }
    const m = /^Bearer (\S+)$/.exec(auth);
    if (m === null || !this.entra.verify(m[1]!, VAULT_RESOURCE)) {
      this.log.badTokens++;
      const challenge = `Bearer authorization="${this.entra.authority}", resource="${VAULT_RESOURCE}"`;
      vaultError(res, 401, 'Unauthorized', 'AKV10022: Invalid audience, issuer or signature.', undefined, {
        'www-authenticate': challenge,
      });
      return;
    }
    if (this.forbidden) {
      vaultError(
        res,
        403,
        'Forbidden',
        `Caller is not authorized to perform action on resource. Action: 'Microsoft.KeyVault/vaults/keys/${req.method === 'GET' ? 'read' : 'unwrap'}/action'`,
        'ForbiddenByRbac',
      );
      return;
    }
    if (!url.searchParams.has('api-version')) {
      vaultError(res, 400, 'BadParameter', 'The api-version query parameter is required.');
      return;
    }
    // /keys/{name}[/{version}][/{op}]
    const seg = url.pathname.split('/').slice(1);
    if (seg[0] !== 'keys' || seg.length < 2 || seg.length > 4) {
      vaultError(res, 404, 'NotFound', 'No route.');
      return;
    }
    const name = seg[1]!;
    const versions = this.#keys.get(name);
    const version = seg[2] ?? '';
    const v = version === '' ? versions?.[versions.length - 1] : versions?.find((k) => k.version === version);
    if (v === undefined) {
      vaultError(
        res,
        404,
        'KeyNotFound',
        `A key with (name/id) ${name}${version === '' ? '' : `/${version}`} was not found in this key vault.`,
      );
      return;
    }
    const kid = this.kid(name, v.version);
    const op = seg[3];
    if (req.method === 'GET' && op === undefined) {
      if (!v.enabled) {
        vaultError(res, 403, 'Forbidden', 'Operation get is not allowed on a disabled key.', 'KeyDisabled');
        return;
      }
      this.log.gets.push(kid);
      sendJson(res, 200, this.#bundle(name, v));
      return;
    }
    if (req.method === 'POST' && (op === 'wrapkey' || op === 'unwrapkey') && version !== '') {
      const opName = op === 'wrapkey' ? 'wrapKey' : 'unwrapKey';
      if (!v.enabled) {
        vaultError(res, 403, 'Forbidden', `Operation ${opName} is not allowed on a disabled key.`, 'KeyDisabled');
        return;
      }
      if (!v.ops.includes(opName)) {
        vaultError(res, 403, 'Forbidden', `Operation ${opName} is not permitted on this key.`, 'KeyOperationForbidden');
        return;
      }
      let params: { alg?: unknown; value?: unknown };
      try {
        params = JSON.parse(body) as typeof params;
      } catch {
        vaultError(res, 400, 'BadParameter', 'The request body is not valid JSON.');
        return;
      }
      if (params.alg !== 'RSA-OAEP-256' || typeof params.value !== 'string') {
        vaultError(res, 400, 'BadParameter', 'This fake supports alg RSA-OAEP-256 with a base64url value.');
        return;
      }
      const input = Buffer.from(params.value, 'base64url');
      if (op === 'wrapkey') {
        if (v.expires !== undefined && v.expires.getTime() <= Date.now()) {
          vaultError(res, 403, 'Forbidden', 'Operation wrapKey is not allowed on an expired key.', 'KeyExpired');
          return;
        }
        let out: Buffer;
        try {
          out = publicEncrypt(
            { key: v.publicKey, padding: cryptoConstants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
            input,
          );
        } catch {
          vaultError(res, 400, 'BadParameter', 'Plaintext is too long for the key.');
          return;
        }
        this.log.wraps.push(kid);
        sendJson(res, 200, { kid, value: b64u(out) });
        return;
      }
      let out: Buffer;
      try {
        out = privateDecrypt(
          { key: v.privateKey, padding: cryptoConstants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
          input,
        );
      } catch {
        this.log.failedUnwraps++;
        vaultError(res, 400, 'BadParameter', 'Error occurred while decrypting the ciphertext.');
        return;
      }
      this.log.unwraps.push(kid);
      sendJson(res, 200, { kid, value: b64u(out) });
      return;
    }
    vaultError(res, 405, 'MethodNotAllowed', `${req.method} ${url.pathname} is not supported.`);
  }
}

async function closeServer(server: Server | undefined): Promise<void> {
  if (server === undefined || !server.listening) return;
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeAllConnections();
  await closed;
}

/** Both fakes, with the agent that reaches them. */
export class FakeAzure {
  readonly entra = new FakeEntraId();
  readonly vault = new FakeKeyVault(this.entra);
  /** Trusts only the test CA; resolves every host to 127.0.0.1. */
  readonly agent: Agent;
  readonly caPem: string;

  private constructor(caPem: string) {
    this.caPem = caPem;
    this.agent = new Agent({ ca: caPem, keepAlive: true, lookup: loopbackLookup });
  }

  static async start(): Promise<FakeAzure> {
    const tls = await serverCertificate();
    const fake = new FakeAzure(tls.caPem);
    await fake.entra.start(tls);
    await fake.vault.start(tls);
    return fake;
  }

  /**
   * A real ClientSecretCredential for the fake tenant, reaching the token endpoint through the
   * agent. Instance discovery is off (there is no public cloud to ask); MSAL still reads the
   * tenant's OpenID metadata from the fake. `secret` defaults to the accepted one.
   */
  credential(secret: string = this.entra.clientSecret): ClientSecretCredential {
    return new ClientSecretCredential(this.entra.tenantId, this.entra.clientId, secret, {
      authorityHost: this.entra.authorityHost,
      disableInstanceDiscovery: true,
      agent: this.agent,
      retryOptions: { maxRetries: 0 },
    });
  }

  async close(): Promise<void> {
    this.agent.destroy();
    await Promise.all([this.entra.close(), this.vault.close()]);
  }
}
