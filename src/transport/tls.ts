/**
 * TLS settings shared by both ends of a coordinator↔node connection: TLS 1.3 only, the deployment
 * CA as the only trust anchor, and a certificate required from both sides.
 * @module
 */
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { SecureContextOptions } from 'node:tls';
import { IdentityError } from './errors.js';
import { formatIdentity, identityFromCertificate, sameIdentity, type PeerIdentity } from './identity.js';

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

/**
 * Reads the three files, and checks that the certificate names `self` (a node started as
 * node_1 with node_2's files fails here, not at its first peer). Errors name the file, never
 * its contents.
 */
export async function loadTlsMaterial(paths: TlsPaths, self?: PeerIdentity): Promise<TlsMaterial> {
  const read = async (what: string, path: string): Promise<Buffer> => {
    try {
      return await readFile(path);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? 'error';
      throw new Error(`cannot read the ${what} ${path} (${code}); run \`npm run certs\` to create development certificates`);
    }
  };
  const [ca, cert, key] = [await read('CA certificate', paths.ca), await read('certificate', paths.cert), await read('private key', paths.key)];
  if (self) {
    let named: PeerIdentity;
    try {
      named = identityFromCertificate(new X509Certificate(cert).raw);
    } catch (e) {
      throw new IdentityError(`${paths.cert}: ${(e as Error).message}`);
    }
    if (!sameIdentity(named, self)) throw new IdentityError(`${paths.cert} is the certificate of ${formatIdentity(named)}, not of ${formatIdentity(self)}`);
  }
  return { ca, cert, key };
}
