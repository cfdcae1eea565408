/**
 * Development PKI: a deployment CA and one certificate per identity (each node, the coordinator),
 * all ECDSA P-256. Each leaf binds its identity as CN and SAN URI (see identity.ts), is valid for
 * both TLS client and server use, and names 127.0.0.1 and localhost (plus any extra hosts) so the
 * same files serve a local cluster and the coordinator's HTTPS API. Private keys are written with
 * mode 0600 and never overwritten unless `force` is set.
 * @module
 */
import { X509Certificate as NodeX509Certificate, createPrivateKey, createPublicKey, type webcrypto } from 'node:crypto';
import { chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { subtle, x509 } from './x509.js';
import { COORDINATOR, identityFromCertificate, identityName, identityUri, nodeIdentity, sameIdentity, type PeerIdentity } from './identity.js';

const EC_KEY = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGNING = { name: 'ECDSA', hash: 'SHA-256' } as const;
const DAY_MS = 86_400_000;
// Tolerates clocks a little behind the issuer's.
const BACKDATE_MS = 5 * 60_000;
const DEFAULT_HOSTS = ['127.0.0.1', 'localhost'];
const DNS_NAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

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
}

export interface IssueOptions {
  /** extra SAN entries, IP addresses or DNS names, besides 127.0.0.1 and localhost */
  hosts?: readonly string[];
  validityDays?: number;
}

function validity(days: number): { notBefore: Date; notAfter: Date } {
  const now = Date.now();
  return { notBefore: new Date(now - BACKDATE_MS), notAfter: new Date(now + days * DAY_MS) };
}

async function exportKeyPem(key: webcrypto.CryptoKey): Promise<string> {
  return x509.PemConverter.encode(await subtle.exportKey('pkcs8', key), 'PRIVATE KEY');
}

/** A fresh self-signed CA that may sign end-entity certificates only (path length 0). */
export async function createCertificateAuthority(options: CaOptions = {}): Promise<CertificateAuthority> {
  const keys = (await subtle.generateKey(EC_KEY, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    name: `CN=${options.commonName ?? 'MPC Engine development CA'}, O=MPC Engine`,
    keys: keys as never,
    signingAlgorithm: SIGNING,
    ...validity(options.validityDays ?? 3650),
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey as never),
    ],
  });
  return { certPem: cert.toString('pem'), keyPem: await exportKeyPem(keys.privateKey), cert, signingKey: keys.privateKey };
}

/** A CA from its PEM files (to issue more certificates under an existing deployment CA). */
export async function loadCertificateAuthority(certPem: string, keyPem: string): Promise<CertificateAuthority> {
  const cert = new x509.X509Certificate(certPem);
  const signingKey = await subtle.importKey('pkcs8', x509.PemConverter.decodeFirst(keyPem), EC_KEY, false, ['sign']);
  return { certPem, keyPem, cert, signingKey };
}

/** A certificate and fresh key for `identity`, signed by `ca`. */
export async function issueCertificate(ca: CertificateAuthority, identity: PeerIdentity, options: IssueOptions = {}): Promise<IssuedCertificate> {
  const keys = (await subtle.generateKey(EC_KEY, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const hosts = [...new Set([...DEFAULT_HOSTS, ...(options.hosts ?? [])])];
  for (const h of hosts) if (isIP(h) === 0 && !DNS_NAME.test(h)) throw new RangeError(`${JSON.stringify(h)} is neither an IP address nor a DNS name`);
  const names: x509.JsonGeneralName[] = [
    { type: 'url', value: identityUri(identity) },
    ...hosts.map((h): x509.JsonGeneralName => (isIP(h) ? { type: 'ip', value: h } : { type: 'dns', value: h })),
  ];
  const cert = await x509.X509CertificateGenerator.create({
    subject: `CN=${identityName(identity)}, OU=${identity.kind}, O=MPC Engine`,
    issuer: ca.cert.subject,
    publicKey: keys.publicKey as never,
    signingKey: ca.signingKey as never,
    signingAlgorithm: SIGNING,
    ...validity(options.validityDays ?? 825),
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      // keyAgreement: node certificate keys may also serve end-to-end ECDH between nodes.
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
      new x509.SubjectAlternativeNameExtension(names),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey as never),
      await x509.AuthorityKeyIdentifierExtension.create(ca.cert.publicKey),
    ],
  });
  return { identity, certPem: cert.toString('pem'), keyPem: await exportKeyPem(keys.privateKey) };
}

/** Where the files of `identity` live in a certificate directory: `<dir>/<name>.crt|.key`. */
export function certificatePaths(dir: string, identity: PeerIdentity | 'ca'): { cert: string; key: string } {
  const name = identity === 'ca' ? 'ca' : identityName(identity);
  return { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
}

export interface GenerateOptions {
  /** directory for the files (created if missing) */
  dir: string;
  nodeIds: readonly string[];
  /** replace existing files, CA included */
  force?: boolean;
  /** extra SAN hosts per identity name (`coordinator` or a node id) */
  hosts?: Readonly<Record<string, readonly string[]>>;
}

export interface GenerateResult {
  /** files written (paths) */
  created: string[];
  /** files that existed and were kept */
  kept: string[];
}

/** Whether a certificate/key pair exists; one file without the other is an error. */
function pairExists(paths: { cert: string; key: string }): boolean {
  const cert = existsSync(paths.cert);
  const key = existsSync(paths.key);
  if (cert !== key) {
    const [have, missing] = cert ? [paths.cert, paths.key] : [paths.key, paths.cert];
    throw new Error(`${have} exists but ${missing} does not: remove it or run with --force`);
  }
  return cert;
}

async function writePair(paths: { cert: string; key: string }, certPem: string, keyPem: string, force: boolean): Promise<void> {
  if (force) await Promise.all([rm(paths.cert, { force: true }), rm(paths.key, { force: true })]);
  // The key first: a crash between the two leaves a lone key, which the next run reports.
  await writeFile(paths.key, keyPem, { mode: 0o600, flag: 'wx' });
  await chmod(paths.key, 0o600); // the umask may have narrowed mode; never widened it, but be exact
  await writeFile(paths.cert, certPem, { mode: 0o644, flag: 'wx' });
}

/** Checks that a kept key is the one of its certificate (a swapped file fails here, not at the first handshake). */
async function checkKeyMatches(paths: { cert: string; key: string }): Promise<void> {
  const cert = new NodeX509Certificate(await readFile(paths.cert));
  const publicOfKey = createPublicKey(createPrivateKey(await readFile(paths.key))).export({ type: 'spki', format: 'der' });
  if (!publicOfKey.equals(cert.publicKey.export({ type: 'spki', format: 'der' }))) {
    throw new Error(`${paths.key} is not the key of ${paths.cert}: run with --force to reissue`);
  }
}

/** Checks that a kept certificate is for `identity`, issued by `ca`, currently valid, and has its key. */
async function checkKept(paths: { cert: string; key: string }, identity: PeerIdentity, caPem: string): Promise<void> {
  const path = paths.cert;
  const cert = new NodeX509Certificate(await readFile(path));
  const ca = new NodeX509Certificate(caPem);
  if (!cert.verify(ca.publicKey)) throw new Error(`${path} was not issued by the CA in this directory: run with --force to reissue all`);
  if (!sameIdentity(identityFromCertificate(cert.raw), identity)) throw new Error(`${path} does not name ${identityUri(identity)}`);
  if (Date.parse(cert.validTo) < Date.now()) throw new Error(`${path} expired on ${cert.validTo}: run with --force to reissue`);
  await checkKeyMatches(paths);
}

/**
 * Makes the CA (`ca.crt`, `ca.key`) and a certificate per node id and for the coordinator in
 * `dir`, keeping whatever already exists (a kept certificate must chain to the kept CA).
 * @throws Error naming the file when existing files are incomplete or inconsistent
 */
export async function generateDevCertificates(options: GenerateOptions): Promise<GenerateResult> {
  const force = options.force ?? false;
  const identities = [COORDINATOR, ...options.nodeIds.map(nodeIdentity)];
  const result: GenerateResult = { created: [], kept: [] };
  await mkdir(options.dir, { recursive: true, mode: 0o755 });

  // Decide everything before writing anything, so an inconsistent directory is left as it was.
  const caPaths = certificatePaths(options.dir, 'ca');
  const keepCa = !force && pairExists(caPaths);
  const keep = identities.map((identity) => !force && pairExists(certificatePaths(options.dir, identity)));
  const orphan = identities.find((_, k) => keep[k]);
  if (!keepCa && orphan) {
    throw new Error(`${certificatePaths(options.dir, orphan).cert} exists but the CA does not: run with --force to reissue all`);
  }

  let ca: CertificateAuthority;
  if (keepCa) {
    await checkKeyMatches(caPaths);
    ca = await loadCertificateAuthority(await readFile(caPaths.cert, 'utf8'), await readFile(caPaths.key, 'utf8'));
    for (const [k, identity] of identities.entries()) if (keep[k]) await checkKept(certificatePaths(options.dir, identity), identity, ca.certPem);
    result.kept.push(caPaths.cert, caPaths.key);
  } else {
    ca = await createCertificateAuthority();
    await writePair(caPaths, ca.certPem, ca.keyPem, force);
    result.created.push(caPaths.cert, caPaths.key);
  }

  for (const [k, identity] of identities.entries()) {
    const paths = certificatePaths(options.dir, identity);
    if (keep[k]) {
      result.kept.push(paths.cert, paths.key);
      continue;
    }
    const issued = await issueCertificate(ca, identity, { hosts: options.hosts?.[identityName(identity)] ?? [] });
    await writePair(paths, issued.certPem, issued.keyPem, force);
    result.created.push(paths.cert, paths.key);
  }
  return result;
}
