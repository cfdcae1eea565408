/**
 * TLS settings shared by both ends of a coordinator↔node connection: TLS 1.3 only, the internal
 * CA as the only trust anchor, and a certificate required from both sides. Loading a process's
 * material also checks what the handshake cannot: that the certificate names this process, that
 * it carries this process's one TLS usage, and that no CA private key lies in the directories the
 * process reads.
 * @module
 */
import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { SecureContextOptions } from 'node:tls';
import { IdentityError } from './errors.js';
import {
  SERVER_AUTH,
  URI_PREFIX,
  extendedKeyUsageOf,
  formatIdentity,
  identityFromCertificate,
  sameIdentity,
  tlsRole,
  type PeerIdentity,
} from './identity.js';

/** PEM contents: the deployment CA, this end's certificate and its private key. */
export interface TlsMaterial {
  readonly ca: string | Buffer;
  readonly cert: string | Buffer;
  readonly key: string | Buffer;
}

export interface TlsPaths {
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
}

export const TLS_VERSION = 'TLSv1.3';

/** Context options for either side; `requestCert`/`rejectUnauthorized` are added by the server and client. */
export function secureContextOptions(material: TlsMaterial): SecureContextOptions {
  return { ca: material.ca, cert: material.cert, key: material.key, minVersion: TLS_VERSION, maxVersion: TLS_VERSION };
}

/** A CA private key was found where a service reads its TLS files. */
export class CaKeyExposedError extends Error {
  override readonly name = 'CaKeyExposedError';
  constructor(readonly path: string) {
    super(
      `${path} is a CA private key in a directory this service reads: anyone who can read it can issue any identity. ` +
        'Move it out (npm run certs keeps CA keys in CERTS_CA_DIR; `npm run certs -- --force` makes a new development PKI that way)',
    );
  }
}

// Files looked at: key and certificate files, small (a PEM key or certificate is a few KiB).
const KEY_FILE = /\.(key|pem)$/i;
const CERT_FILE = /\.(crt|pem)$/i;
const MAX_PEM_BYTES = 64 * 1024;
/** The file name the first development layout gave the CA key. */
const LEGACY_CA_KEY = 'ca.key';

async function regularFiles(dir: string): Promise<{ files: string[]; dirs: string[] }> {
  const files: string[] = [];
  const dirs: string[] = [];
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return { files, dirs }; // unreadable or absent: nothing there this process could read either
  }
  for (const e of entries) {
    const path = join(dir, e.name);
    if (e.isDirectory()) dirs.push(path);
    else if (e.isFile() || e.isSymbolicLink()) files.push(path);
  }
  return { files, dirs };
}

/** A small file's bytes, or undefined if it cannot be read (permissions, a dangling link, a directory). */
async function readSmall(path: string): Promise<Buffer | undefined> {
  try {
    const st = await stat(path);
    if (!st.isFile() || st.size > MAX_PEM_BYTES) return undefined;
    return await readFile(path);
  } catch {
    return undefined;
  }
}

/**
 * Refuses when a CA private key lies in `dirs` or one level below them: a file named `ca.key` (the
 * older layout's), or any readable key whose public half is that of a CA certificate found there
 * or given in `caCerts`. Keys this process cannot read are skipped — it could not misuse them.
 * Messages name the file, never its contents.
 * @throws CaKeyExposedError
 */
export async function assertNoCaPrivateKey(
  dirs: readonly string[],
  caCerts: readonly (string | Buffer)[] = [],
): Promise<void> {
  const top = [...new Set(dirs)];
  const files: string[] = [];
  for (const d of top) {
    const { files: f, dirs: sub } = await regularFiles(d);
    files.push(...f);
    for (const s of sub) files.push(...(await regularFiles(s)).files);
  }
  const unique = [...new Set(files)];
  for (const f of unique) if (basename(f) === LEGACY_CA_KEY) throw new CaKeyExposedError(f);

  const caKeys = new Set<string>();
  const addCa = (pem: string | Buffer): void => {
    try {
      const cert = new X509Certificate(pem);
      if (cert.ca) caKeys.add(cert.publicKey.export({ type: 'spki', format: 'der' }).toString('hex'));
    } catch {
      // not a certificate: nothing to compare against
    }
  };
  for (const pem of caCerts) addCa(pem);
  for (const f of unique.filter((p) => CERT_FILE.test(p))) {
    const pem = await readSmall(f);
    if (pem) addCa(pem);
  }
  if (caKeys.size === 0) return;
  for (const f of unique.filter((p) => KEY_FILE.test(p))) {
    const pem = await readSmall(f);
    if (!pem || !pem.includes('PRIVATE KEY-----')) continue;
    let spki: string;
    try {
      spki = createPublicKey(createPrivateKey(pem)).export({ type: 'spki', format: 'der' }).toString('hex');
    } catch {
      continue; // encrypted or not a key: it cannot sign anything for this process
    } finally {
      pem.fill(0);
    }
    if (caKeys.has(spki)) throw new CaKeyExposedError(f);
  }
}

/** A role's usage by name, for messages. */
const USAGE_NAME = { server: 'serverAuth', client: 'clientAuth' } as const;

/**
 * Reads the three files, refuses to go on when a CA private key lies in the directories they are
 * in (see assertNoCaPrivateKey), and checks that the certificate names `self` (a node started as
 * node_1 with node_2's files fails here, not at its first peer) and carries exactly the usage of
 * `self`'s role (a node serverAuth, the coordinator clientAuth: a certificate of the older
 * dual-use layout, or the public API's, fails here). Errors name the file, never its contents.
 */
export async function loadTlsMaterial(paths: TlsPaths, self?: PeerIdentity): Promise<TlsMaterial> {
  const read = async (what: string, path: string): Promise<Buffer> => {
    try {
      return await readFile(path);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? 'error';
      throw new Error(
        `cannot read the ${what} ${path} (${code}); run \`npm run certs\` to create development certificates`,
        { cause: e },
      );
    }
  };
  const [ca, cert, key] = [
    await read('CA certificate', paths.ca),
    await read('certificate', paths.cert),
    await read('private key', paths.key),
  ];
  await assertNoCaPrivateKey([dirname(paths.ca), dirname(paths.cert), dirname(paths.key)], [ca]);
  if (self) {
    let parsed: X509Certificate;
    let named: PeerIdentity;
    try {
      parsed = new X509Certificate(cert);
      named = identityFromCertificate(parsed.raw);
    } catch (e) {
      throw new IdentityError(`${paths.cert}: ${(e as Error).message}`);
    }
    if (!sameIdentity(named, self))
      throw new IdentityError(
        `${paths.cert} is the certificate of ${formatIdentity(named)}, not of ${formatIdentity(self)}`,
      );
    const role = tlsRole(self);
    const usages = parsed.keyUsage ?? [];
    if (usages.length !== 1 || usages[0] !== extendedKeyUsageOf(role)) {
      throw new IdentityError(
        `${paths.cert} must carry exactly the extended key usage ${USAGE_NAME[role]} (${formatIdentity(self)} is a TLS ${role} only), ` +
          `it has [${usages.join(', ') || 'none: any usage'}]; reissue it (npm run certs -- --force for the development PKI)`,
      );
    }
  }
  return { ca, cert, key };
}

/** The wallet HTTPS API's certificate and key (COORDINATOR_HTTPS_CERT / COORDINATOR_HTTPS_KEY). */
export interface HttpsMaterial {
  readonly cert: Buffer;
  readonly key: Buffer;
}

/**
 * Reads the public API's certificate and key, refusing what would blur the two trust domains: a
 * certificate without serverAuth (the coordinator's internal one) or naming an MPC Engine identity
 * (any internal one: its key would sit with the public-facing server, and API clients would have
 * to trust the internal CA, under which nodes can be impersonated to them), a key that is not the
 * certificate's, and a CA private key in the directories read. Errors name files, never contents.
 * @throws Error, CaKeyExposedError
 */
export async function loadPublicApiMaterial(paths: {
  readonly cert: string;
  readonly key: string;
}): Promise<HttpsMaterial> {
  const read = async (what: string, path: string): Promise<Buffer> => {
    try {
      return await readFile(path);
    } catch (e) {
      throw new Error(
        `cannot read the ${what} ${path} (${(e as NodeJS.ErrnoException).code ?? 'error'}); run \`npm run certs\` to create development certificates`,
        { cause: e },
      );
    }
  };
  const [cert, key] = [await read('API certificate', paths.cert), await read('API private key', paths.key)];
  await assertNoCaPrivateKey([dirname(paths.cert), dirname(paths.key)]);
  let parsed: X509Certificate;
  try {
    parsed = new X509Certificate(cert);
  } catch {
    throw new Error(`${paths.cert} is not a PEM certificate`);
  }
  const usages = parsed.keyUsage;
  if (usages !== undefined && !usages.includes(SERVER_AUTH)) {
    throw new Error(
      `${paths.cert} is not valid for TLS server use (no serverAuth): the coordinator's internal certificate cannot serve the API; use the API certificate (npm run certs makes certs/public/api.crt)`,
    );
  }
  if ((parsed.subjectAltName ?? '').includes(`URI:${URI_PREFIX}`)) {
    throw new Error(
      `${paths.cert} names an MPC Engine identity: a coordinator↔node certificate must not serve the public API; use the API certificate (npm run certs makes certs/public/api.crt)`,
    );
  }
  let matches = false;
  try {
    matches = createPublicKey(createPrivateKey(key))
      .export({ type: 'spki', format: 'der' })
      .equals(parsed.publicKey.export({ type: 'spki', format: 'der' }));
  } catch {
    // not a key: reported below
  }
  if (!matches) throw new Error(`${paths.key} is not the private key of ${paths.cert}`);
  return { cert, key };
}
