/**
 * Sign with chosen nodes straight through their services (a presign session run by an
 * orchestrator, then each signer's partial signature) and check the signature with @noble/curves
 * under the wallet's public key: an independent check that the nodes' shares sign for that key.
 */
import { randomBytes } from 'node:crypto';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { Orchestrator } from '../../src/coordinator/orchestrator.js';
import type { NodeLink } from '../../src/coordinator/node-link.js';
import type { NodeService } from '../../src/node/service.js';
import { combineSignature, toCompact } from '../../src/protocol/sign/index.js';
import { decodePresignaturePublic } from '../../src/protocol/storage-format.js';
import { RPC_VERSION, decodeJson, encodeJson } from '../../src/rpc/messages.js';

export interface SigningNodes {
  readonly ids: readonly string[];
  readonly services: readonly NodeService[];
  readonly links: readonly NodeLink[];
}

export async function signsWith(
  nodes: SigningNodes,
  signers: readonly number[],
  walletId: string,
  publicKey: string,
): Promise<boolean> {
  const ps = await new Orchestrator({}).run({
    protocol: 'presign',
    parties: nodes.ids,
    participants: signers.map((k) => nodes.links[k] as NodeLink),
    walletId,
  });
  if (ps.status !== 'done') throw new Error(`presign: ${ps.status}: ${ps.reason}`);
  const pub = decodePresignaturePublic(Uint8Array.from(Buffer.from(ps.result.presignature, 'base64')));
  const digest = Uint8Array.from(randomBytes(32));
  const partials = await Promise.all(
    signers.map(async (k) => {
      const r = decodeJson(
        await (nodes.services[k] as NodeService).handleBytes(
          encodeJson({
            v: RPC_VERSION,
            method: 'sign',
            walletId,
            presignatureId: Buffer.from(pub.id).toString('hex'),
            digest: Buffer.from(digest).toString('hex'),
          }),
        ),
      ) as Record<string, unknown>;
      if (r.ok !== true) throw new Error(`sign at ${String(nodes.ids[k])}: ${String(r.error)}`);
      return { presignatureId: pub.id, signer: r.signer as number, sigma: BigInt(`0x${r.sigma as string}`) };
    }),
  );
  const sig = combineSignature(pub, digest, partials);
  return secp256k1.verify(toCompact(sig), digest, Buffer.from(publicKey, 'hex'), { prehash: false });
}
