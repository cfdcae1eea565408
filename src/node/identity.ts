/**
 * The node group's pinned identities: each node's certificate, signed by the deployment CA and
 * naming that node (SAN URI urn:mpc-engine:node:<id>), provisioned out of band beside the node.
 * Their public keys verify envelope signatures and key the end-to-end encryption; nothing about
 * a peer is ever learned from the coordinator (docs/security.md, relay rule 1).
 * @module
 */
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Config, NodeEntry } from '../config/index.js';
import { identityFromCertificate, nodeIdentity, sameIdentity } from '../transport/identity.js';
import type { GroupMember } from './service.js';

async function readPem(path: string, what: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (e) {
    throw new Error(
      `cannot read ${what} ${path} (${(e as NodeJS.ErrnoException).code ?? 'error'}); run \`npm run certs\``,
      { cause: e },
    );
  }
}

/** Every node's pinned public key in NODE_IDS order, each certificate checked against the CA and its id. */
export async function loadGroup(config: Config, self: NodeEntry): Promise<GroupMember[]> {
  const ca = new X509Certificate(await readPem(self.tls.ca, 'the CA certificate'));
  return Promise.all(
    config.nodes.map(async (n) => {
      const cert = new X509Certificate(await readPem(n.tls.cert, `the certificate of ${n.id}`));
      if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey))
        throw new Error(`${n.tls.cert}: not issued by the deployment CA`);
      const now = Date.now();
      if (Date.parse(cert.validFrom) > now || Date.parse(cert.validTo) < now)
        throw new Error(`${n.tls.cert}: not valid now`);
      if (!sameIdentity(identityFromCertificate(cert.raw), nodeIdentity(n.id)))
        throw new Error(`${n.tls.cert} does not name node ${n.id}`);
      return { nodeId: n.id, publicKey: cert.publicKey };
    }),
  );
}

/** This node's identity private key (its TLS key). */
export async function loadPrivateKey(self: NodeEntry): Promise<KeyObject> {
  return createPrivateKey(await readPem(self.tls.key, 'the private key'));
}
