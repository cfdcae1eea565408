/**
 * The nodes' pinned identity keys, as the coordinator can know them: each node's certificate
 * (beside the deployment's other certificates), checked against the deployment CA and its node id.
 * Used only to verify a node's signed words the coordinator holds (a confirmation and an
 * abandonment of the same run: proof of misbehaviour); nothing is trusted that fails the checks.
 * @module
 */
import { X509Certificate, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Config } from '../config/index.js';
import { identityFromCertificate, nodeIdentity, sameIdentity } from '../transport/identity.js';
import type { Logger } from '../util/log.js';

/** Every node's public key in index order, or undefined if any certificate is missing or does not check. */
export async function loadNodeKeys(config: Config, log: Logger): Promise<KeyObject[] | undefined> {
  try {
    const ca = new X509Certificate(await readFile(config.coordinator.tls.ca));
    return await Promise.all(
      config.nodes.map(async (n) => {
        const cert = new X509Certificate(await readFile(n.tls.cert));
        if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey))
          throw new Error(`${n.id}: certificate not issued by the deployment CA`);
        if (!sameIdentity(identityFromCertificate(cert.raw), nodeIdentity(n.id)))
          throw new Error(`${n.id}: certificate names another identity`);
        return cert.publicKey;
      }),
    );
  } catch (e) {
    log.warn(
      { err: (e as Error).message },
      'node certificates not readable here: a node abandoning a run it confirmed cannot be proven so',
    );
    return undefined;
  }
}
