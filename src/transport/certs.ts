/**
 * Development PKI in two trust domains that never trust each other (all keys ECDSA P-256):
 *
 * - internal, for the coordinator↔node channel only: a CA (`ca.crt`) and one certificate per
 *   identity (each node and each coordinator id), binding it as CN and SAN URI (see identity.ts)
 *   and carrying the one TLS usage of its role — a node serverAuth (it only listens), a coordinator
 *   clientAuth (it only dials).
 * - public, for the wallet HTTPS API only: a second CA (`public/ca.crt`, the one API clients
 *   trust) and one serverAuth certificate (`public/api.crt`) naming localhost and 127.0.0.1 (plus
 *   any extra hosts) and no MPC Engine identity.
 *
 * So the API certificate is refused on the internal channel (foreign CA, no clientAuth, no
 * identity URI) and an internal certificate is refused by API clients (foreign CA). The CAs'
 * private keys are written to a directory of their own (0700, keys 0600) and never to the one the
 * services read: a service that could read a CA key could issue itself any identity (tls.ts makes
 * the services refuse to start when they find one). Private keys are never overwritten unless
 * `force` is set.
 * @module
 */
import { X509Certificate as NodeX509Certificate, createPrivateKey, createPublicKey, type webcrypto } from 'node:crypto';
import { chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { isIP } from 'node:net';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { subtle, x509 } from './x509.js';
import {
  CLIENT_AUTH,
  DEFAULT_COORDINATOR_ID,
  SERVER_AUTH,
  coordinatorIdentity,
  extendedKeyUsageOf,
  identityFromCertificate,
  identityName,
  identityUri,
  nodeIdentity,
  sameIdentity,
  tlsRole,
  type PeerIdentity,
} from './identity.js';

const EC_KEY = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGNING = { name: 'ECDSA', hash: 'SHA-256' } as const;
const DAY_MS = 86_400_000;
// Tolerates clocks a little behind the issuer's.
const BACKDATE_MS = 5 * 60_000;
const DEFAULT_HOSTS = ['127.0.0.1', 'localhost'];
const DNS_NAME =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

export type ExtendedKeyUsageName = 'serverAuth' | 'clientAuth';
const EKU_OID: Readonly<Record<ExtendedKeyUsageName, string>> = { serverAuth: SERVER_AUTH, clientAuth: CLIENT_AUTH };

export interface CertificateAuthority {
  readonly certPem: string;
  readonly keyPem: string;
  readonly cert: x509.X509Certificate;
  readonly signingKey: webcrypto.CryptoKey;
}

export interface IssuedCertificate {
  readonly identity: PeerIdentity;
  readonly certPem: string;
  readonly keyPem: string;
}

export interface CaOptions {
  commonName?: string;
  validityDays?: number;
  /**
   * Usages the CA may certify (OpenSSL refuses a chain through a CA whose extended key usage
   * lacks the purpose being checked). Default: no restriction.
   */
  extendedKeyUsages?: readonly ExtendedKeyUsageName[];
}

export interface IssueOptions {
  /** extra SAN entries, IP addresses or DNS names, besides 127.0.0.1 and localhost */
  hosts?: readonly string[];
  validityDays?: number;
  /** default: the identity's one role (a node serverAuth, a coordinator clientAuth); tests only */
  extendedKeyUsages?: readonly ExtendedKeyUsageName[];
}

/** The two CAs of the development PKI: internal for the coordinator↔node channel, public for the API. */
export const INTERNAL_CA_NAME = 'MPC Engine internal CA (coordinator-node channel)';
export const PUBLIC_CA_NAME = 'MPC Engine development public API CA';

function validity(days: number): { notBefore: Date; notAfter: Date } {
  const now = Date.now();
  return { notBefore: new Date(now - BACKDATE_MS), notAfter: new Date(now + days * DAY_MS) };
}

async function exportKeyPem(key: webcrypto.CryptoKey): Promise<string> {
  return x509.PemConverter.encode(await subtle.exportKey('pkcs8', key), 'PRIVATE KEY');
}

/** A fresh self-signed CA that may sign end-entity certificates only (path length 0). */
export async function createCertificateAuthority(options: CaOptions = {}): Promise<CertificateAuthority> {
  const keys = await subtle.generateKey(EC_KEY, true, ['sign', 'verify']);
  const eku = options.extendedKeyUsages ?? [];
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    name: `CN=${options.commonName ?? 'MPC Engine development CA'}, O=MPC Engine`,
    keys: keys as never,
    signingAlgorithm: SIGNING,
    ...validity(options.validityDays ?? 3650),
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      ...(eku.length ? [new x509.ExtendedKeyUsageExtension(eku.map((u) => EKU_OID[u]))] : []),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return {
    certPem: cert.toString('pem'),
    keyPem: await exportKeyPem(keys.privateKey),
    cert,
    signingKey: keys.privateKey,
  };
}

/** A CA from its PEM files (to issue more certificates under an existing deployment CA). */
export async function loadCertificateAuthority(certPem: string, keyPem: string): Promise<CertificateAuthority> {
  const cert = new x509.X509Certificate(certPem);
  const signingKey = await subtle.importKey('pkcs8', x509.PemConverter.decodeFirst(keyPem), EC_KEY, false, ['sign']);
  return { certPem, keyPem, cert, signingKey };
}

function sanHosts(extra: readonly string[]): x509.JsonGeneralName[] {
  const hosts = [...new Set([...DEFAULT_HOSTS, ...extra])];
  for (const h of hosts)
    if (isIP(h) === 0 && !DNS_NAME.test(h))
      throw new RangeError(`${JSON.stringify(h)} is neither an IP address nor a DNS name`);
  return hosts.map((h): x509.JsonGeneralName => (isIP(h) ? { type: 'ip', value: h } : { type: 'dns', value: h }));
}

async function issueLeaf(
  ca: CertificateAuthority,
  subject: string,
  names: x509.JsonGeneralName[],
  keyUsage: number,
  eku: readonly ExtendedKeyUsageName[],
  validityDays: number,
): Promise<{ certPem: string; keyPem: string }> {
  const keys = await subtle.generateKey(EC_KEY, true, ['sign', 'verify']);
  const cert = await x509.X509CertificateGenerator.create({
    subject,
    issuer: ca.cert.subject,
    publicKey: keys.publicKey as never,
    signingKey: ca.signingKey,
    signingAlgorithm: SIGNING,
    ...validity(validityDays),
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(keyUsage, true),
      new x509.ExtendedKeyUsageExtension(eku.map((u) => EKU_OID[u])),
      new x509.SubjectAlternativeNameExtension(names),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(ca.cert.publicKey),
    ],
  });
  return { certPem: cert.toString('pem'), keyPem: await exportKeyPem(keys.privateKey) };
}

/** A certificate and fresh key for `identity` on the internal channel, signed by `ca`. */
export async function issueCertificate(
  ca: CertificateAuthority,
  identity: PeerIdentity,
  options: IssueOptions = {},
): Promise<IssuedCertificate> {
  const names: x509.JsonGeneralName[] = [
    { type: 'url', value: identityUri(identity) },
    ...sanHosts(options.hosts ?? []),
  ];
  const role = tlsRole(identity);
  // keyAgreement: node certificate keys also serve end-to-end ECDH between nodes.
  const usage =
    role === 'server'
      ? x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement
      : x509.KeyUsageFlags.digitalSignature;
  const eku = options.extendedKeyUsages ?? [role === 'server' ? 'serverAuth' : 'clientAuth'];
  const leaf = await issueLeaf(
    ca,
    `CN=${identityName(identity)}, OU=${identity.kind}, O=MPC Engine`,
    names,
    usage,
    eku,
    options.validityDays ?? 825,
  );
  return { identity, ...leaf };
}

/**
 * The wallet HTTPS API's certificate, signed by the public CA: serverAuth only, localhost and
 * 127.0.0.1 plus `hosts`, and no MPC Engine identity URI (the internal channel could not take it
 * for anyone even if it trusted its CA).
 */
export async function issuePublicApiCertificate(
  ca: CertificateAuthority,
  options: Omit<IssueOptions, 'extendedKeyUsages'> = {},
): Promise<{ certPem: string; keyPem: string }> {
  return issueLeaf(
    ca,
    'CN=localhost, OU=wallet API, O=MPC Engine',
    sanHosts(options.hosts ?? []),
    x509.KeyUsageFlags.digitalSignature,
    ['serverAuth'],
    options.validityDays ?? 825,
  );
}

export interface FilePair {
  readonly cert: string;
  readonly key: string;
}

/** Where the files of `identity` live in a certificate directory: `<dir>/<name>.crt|.key`. */
export function certificatePaths(dir: string, identity: PeerIdentity): FilePair {
  const name = identityName(identity);
  return { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
}

/** Sub-directory of the certificate directory for the public API's files. */
export const PUBLIC_SUBDIR = 'public';

/** Where every file of the development PKI lives. */
export interface PkiLayout {
  /** read by the services (CERTS_DIR) */
  readonly dir: string;
  /** the CA private keys (CERTS_CA_DIR), read by `npm run certs` only */
  readonly caDir: string;
  /** `<dir>/ca.crt`, `<caDir>/internal-ca.key` */
  readonly internalCa: FilePair;
  /** `<dir>/public/ca.crt` (what API clients trust), `<caDir>/public-ca.key` */
  readonly publicCa: FilePair;
  /** `<dir>/public/api.crt|.key`: the coordinator's HTTPS API */
  readonly publicApi: FilePair;
}

export function pkiLayout(dir: string, caDir: string): PkiLayout {
  const pub = join(dir, PUBLIC_SUBDIR);
  return {
    dir,
    caDir,
    internalCa: { cert: join(dir, 'ca.crt'), key: join(caDir, 'internal-ca.key') },
    publicCa: { cert: join(pub, 'ca.crt'), key: join(caDir, 'public-ca.key') },
    publicApi: { cert: join(pub, 'api.crt'), key: join(pub, 'api.key') },
  };
}

/** Where the first development layout kept the CA key: in the directory the services read. */
export const LEGACY_CA_KEY = 'ca.key';

/** Whether `inner` is `outer` or inside it. */
export function isWithin(inner: string, outer: string): boolean {
  const rel = relative(resolve(outer), resolve(inner));
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel));
}

export interface GenerateOptions {
  /** directory the services read (created if missing) */
  dir: string;
  /** directory for the CA private keys (created 0700); neither `dir` nor inside it */
  caDir: string;
  nodeIds: readonly string[];
  /** the coordinator identities (COORDINATOR_IDS; default `coordinator` alone) */
  coordinatorIds?: readonly string[];
  /** replace existing files, CAs included (and remove a CA key left in `dir` by the old layout) */
  force?: boolean;
  /** extra SAN hosts per identity name (a coordinator id or a node id) */
  hosts?: Readonly<Record<string, readonly string[]>>;
  /** extra SAN hosts of the public API certificate */
  publicHosts?: readonly string[];
}

export interface GenerateResult {
  /** files written (paths) */
  created: string[];
  /** files that existed and were kept */
  kept: string[];
  /** files removed (with `force`: a CA key found in `dir`) */
  removed: string[];
}

/** Whether a certificate/key pair exists; one file without the other is an error. */
function pairExists(paths: FilePair): boolean {
  const cert = existsSync(paths.cert);
  const key = existsSync(paths.key);
  if (cert !== key) {
    const [have, missing] = cert ? [paths.cert, paths.key] : [paths.key, paths.cert];
    throw new Error(`${have} exists but ${missing} does not: remove it or run with --force`);
  }
  return cert;
}

async function writePair(paths: FilePair, certPem: string, keyPem: string, force: boolean): Promise<void> {
  if (force) await Promise.all([rm(paths.cert, { force: true }), rm(paths.key, { force: true })]);
  // The key first: a crash between the two leaves a lone key, which the next run reports.
  await writeFile(paths.key, keyPem, { mode: 0o600, flag: 'wx' });
  await chmod(paths.key, 0o600); // the umask may have narrowed mode; never widened it, but be exact
  await writeFile(paths.cert, certPem, { mode: 0o644, flag: 'wx' });
}

/** Checks that a kept key is the one of its certificate (a swapped file fails here, not at the first handshake). */
async function checkKeyMatches(paths: FilePair): Promise<void> {
  const cert = new NodeX509Certificate(await readFile(paths.cert));
  const publicOfKey = createPublicKey(createPrivateKey(await readFile(paths.key))).export({
    type: 'spki',
    format: 'der',
  });
  if (!publicOfKey.equals(cert.publicKey.export({ type: 'spki', format: 'der' }))) {
    throw new Error(`${paths.key} is not the key of ${paths.cert}: run with --force to reissue`);
  }
}

/** The certificate's extended key usages (OIDs), sorted; [] when it has none (any usage). */
function usagesOf(cert: NodeX509Certificate): string[] {
  return [...(cert.keyUsage ?? [])].sort();
}

/** Checks that a kept leaf was issued by `caPem`, names `identity` (if any), is currently valid, has exactly `eku`, and has its key. */
async function checkKeptLeaf(paths: FilePair, caPem: string, eku: string, identity?: PeerIdentity): Promise<void> {
  const path = paths.cert;
  const cert = new NodeX509Certificate(await readFile(path));
  if (!cert.verify(new NodeX509Certificate(caPem).publicKey))
    throw new Error(`${path} was not issued by the CA of this directory: run with --force to reissue all`);
  if (identity && !sameIdentity(identityFromCertificate(cert.raw), identity))
    throw new Error(`${path} does not name ${identityUri(identity)}`);
  if (Date.parse(cert.validTo) < Date.now())
    throw new Error(`${path} expired on ${cert.validTo}: run with --force to reissue`);
  if (usagesOf(cert).join() !== eku) {
    throw new Error(
      `${path} has extended key usages [${usagesOf(cert).join(', ')}], not [${eku}] (a certificate of the older single-CA layout): run with --force to reissue all`,
    );
  }
  await checkKeyMatches(paths);
}

/** Creates `dir` (mode 0700 exactly, even if it existed looser): it holds CA private keys. */
async function privateDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
}

/**
 * Makes the internal CA and a certificate per node id and per coordinator id, and the public CA
 * and the API certificate (layout: `pkiLayout`), keeping whatever already exists (a kept
 * certificate must chain to the kept CA of its domain and carry its one usage): an id added to
 * NODE_IDS or COORDINATOR_IDS gets its certificate under the existing CA, and nothing else changes.
 * @throws Error naming the file when existing files are incomplete or inconsistent, or when `dir`
 *   holds a CA private key (the older layout) and `force` is not set
 */
export async function generateDevCertificates(options: GenerateOptions): Promise<GenerateResult> {
  const force = options.force ?? false;
  const layout = pkiLayout(options.dir, options.caDir);
  if (isWithin(options.caDir, options.dir))
    throw new Error(`the CA key directory ${options.caDir} must be outside ${options.dir}, which the services read`);
  const coordinatorIds = options.coordinatorIds ?? [DEFAULT_COORDINATOR_ID];
  const clash = coordinatorIds.find((id) => options.nodeIds.includes(id));
  // one name, one pair of files: a coordinator and a node of one id would overwrite each other
  if (clash !== undefined) throw new RangeError(`${JSON.stringify(clash)} is both a coordinator id and a node id`);
  const identities = [...coordinatorIds.map(coordinatorIdentity), ...options.nodeIds.map(nodeIdentity)];
  const result: GenerateResult = { created: [], kept: [], removed: [] };

  // Decide everything before writing anything, so an inconsistent directory is left as it was.
  const legacyKey = join(options.dir, LEGACY_CA_KEY);
  const hasLegacyKey = existsSync(legacyKey);
  if (hasLegacyKey && !force) {
    throw new Error(
      `${legacyKey} is a CA private key in the directory the services read (older layout): run \`npm run certs -- --force\` to make a new PKI (it deletes that key), or move the key elsewhere`,
    );
  }
  const keepInternal = !force && pairExists(layout.internalCa);
  const keep = identities.map((identity) => !force && pairExists(certificatePaths(options.dir, identity)));
  const orphan = identities.find((_, k) => keep[k]);
  if (!keepInternal && orphan) {
    throw new Error(
      `${certificatePaths(options.dir, orphan).cert} exists but the CA does not: run with --force to reissue all`,
    );
  }
  const keepPublicCa = !force && pairExists(layout.publicCa);
  const keepApi = !force && pairExists(layout.publicApi);
  if (!keepPublicCa && keepApi)
    throw new Error(`${layout.publicApi.cert} exists but the public CA does not: run with --force to reissue all`);

  let internal: CertificateAuthority | undefined;
  if (keepInternal) {
    await checkKeyMatches(layout.internalCa);
    internal = await loadCertificateAuthority(
      await readFile(layout.internalCa.cert, 'utf8'),
      await readFile(layout.internalCa.key, 'utf8'),
    );
    for (const [k, identity] of identities.entries()) {
      if (!keep[k]) continue;
      await checkKeptLeaf(
        certificatePaths(options.dir, identity),
        internal.certPem,
        extendedKeyUsageOf(tlsRole(identity)),
        identity,
      );
    }
  }
  let pub: CertificateAuthority | undefined;
  if (keepPublicCa) {
    await checkKeyMatches(layout.publicCa);
    pub = await loadCertificateAuthority(
      await readFile(layout.publicCa.cert, 'utf8'),
      await readFile(layout.publicCa.key, 'utf8'),
    );
    if (keepApi) await checkKeptLeaf(layout.publicApi, pub.certPem, SERVER_AUTH);
  }

  await mkdir(options.dir, { recursive: true, mode: 0o755 });
  await mkdir(join(options.dir, PUBLIC_SUBDIR), { recursive: true, mode: 0o755 });
  await privateDir(options.caDir);
  if (hasLegacyKey) {
    await rm(legacyKey, { force: true });
    result.removed.push(legacyKey);
  }

  if (internal) {
    result.kept.push(layout.internalCa.cert, layout.internalCa.key);
  } else {
    internal = await createCertificateAuthority({
      commonName: INTERNAL_CA_NAME,
      extendedKeyUsages: ['serverAuth', 'clientAuth'],
    });
    await writePair(layout.internalCa, internal.certPem, internal.keyPem, force);
    result.created.push(layout.internalCa.cert, layout.internalCa.key);
  }
  for (const [k, identity] of identities.entries()) {
    const paths = certificatePaths(options.dir, identity);
    if (keep[k]) {
      result.kept.push(paths.cert, paths.key);
      continue;
    }
    const issued = await issueCertificate(internal, identity, { hosts: options.hosts?.[identityName(identity)] ?? [] });
    await writePair(paths, issued.certPem, issued.keyPem, force);
    result.created.push(paths.cert, paths.key);
  }

  if (pub) {
    result.kept.push(layout.publicCa.cert, layout.publicCa.key);
  } else {
    pub = await createCertificateAuthority({ commonName: PUBLIC_CA_NAME, extendedKeyUsages: ['serverAuth'] });
    await writePair(layout.publicCa, pub.certPem, pub.keyPem, force);
    result.created.push(layout.publicCa.cert, layout.publicCa.key);
  }
  if (keepApi) {
    result.kept.push(layout.publicApi.cert, layout.publicApi.key);
  } else {
    const api = await issuePublicApiCertificate(pub, { hosts: options.publicHosts ?? [] });
    await writePair(layout.publicApi, api.certPem, api.keyPem, force);
    result.created.push(layout.publicApi.cert, layout.publicApi.key);
  }
  return result;
}
