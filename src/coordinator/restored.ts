/**
 * Reconciling a node restored from a copy (src/node/restore.ts, docs/security.md, "A node restored
 * from a copy"). Such a node reports `restored` in its `info` and takes part in nothing; the cluster
 * leaves it out of signing, presigning and wallet creation (cluster.ts). With every node connected,
 * its committed state is compared with its peers': the aux-info (id and epoch), and for every wallet
 * any node holds, the committed share's public key, epoch and aux epoch. Only when all of them equal
 * every peer's — and no peer holds a pending state, which could be a run the node confirmed after
 * the copy — is the node told `reconciled`, with the wallets compared.
 *
 * A node behind its peers (it missed a refresh, an aux-info run or a key generation) is never
 * "fixed" here: its old share is useless, and giving it a current one needs resharing. It stays
 * marked and out of use, and the caller reports it.
 * @module
 */
import {
  MAX_RECONCILED_WALLETS,
  RPC_VERSION,
  reconciledResponseSchema,
  walletResponseSchema,
  walletsResponseSchema,
  type NodeInfo,
} from '../rpc/messages.js';
import type { NodeCluster } from './cluster.js';
import { callNode, type NodeLink } from './node-link.js';

export type RestoredCheck =
  /** the node was told; it is back in use once its info says so */
  | { readonly outcome: 'reconciled'; readonly wallets: number }
  /** the node differs from its peers in these scopes ('aux' or wallet ids, sorted) */
  | { readonly outcome: 'behind'; readonly scopes: readonly string[] }
  /** nothing can be decided now (a node missing, a peer mid-switch or restored too) */
  | { readonly outcome: 'waiting'; readonly reason: string };

/** A node's committed aux-info as compared: id and epoch. */
function auxOf(i: NodeInfo): string {
  return `${i.auxId ?? 'none'}@${i.auxEpoch ?? 'none'}`;
}

/** Every committed wallet scope a node lists, page by page. */
async function committedWallets(link: NodeLink, timeoutMs: number): Promise<string[]> {
  const ids: string[] = [];
  let after: string | undefined;
  do {
    const page = await callNode(
      link,
      { v: RPC_VERSION, method: 'wallets', ...(after === undefined ? {} : { after }) },
      walletsResponseSchema,
      timeoutMs,
    );
    for (const w of page.wallets) if (w.committed) ids.push(w.walletId);
    after = page.next;
    if (ids.length > MAX_RECONCILED_WALLETS) break;
  } while (after !== undefined);
  return ids;
}

/** A wallet's committed share as compared (public key, epoch, aux epoch), or 'none'. */
async function shareOf(link: NodeLink, walletId: string, timeoutMs: number): Promise<string> {
  const w = await callNode(link, { v: RPC_VERSION, method: 'wallet', walletId }, walletResponseSchema, timeoutMs);
  const c = w.committed;
  return c ? `${c.publicKey}@${c.epoch}/${c.auxEpoch ?? 'none'}` : 'none';
}

/**
 * Compare restored node `node` with every peer and, where all match, tell it `reconciled`. Requests
 * that fail throw (NodeCallError); the caller tries again later.
 */
export async function reconcileRestored(
  cluster: NodeCluster,
  node: NodeLink,
  timeoutMs: number,
): Promise<RestoredCheck> {
  const infos = cluster.links.map((l) => (cluster.isConnected(l.index) ? cluster.info(l.index) : undefined));
  if (infos.some((i) => i === undefined)) return { outcome: 'waiting', reason: 'every node must be connected' };
  const own = infos[node.index] as NodeInfo;
  const peers = cluster.links.filter((l) => l.index !== node.index);
  const peerInfos = peers.map((l) => infos[l.index] as NodeInfo);
  if (peerInfos.some((i) => i.restored))
    return { outcome: 'waiting', reason: 'another node is restored from a copy too: nothing to compare against' };
  if (peerInfos.some((i) => i.auxPendingSid !== undefined || i.pendingScopes !== undefined))
    return { outcome: 'waiting', reason: 'a peer holds a pending state (it may be a run this node confirmed)' };
  const behind: string[] = [];
  if (peerInfos.some((i) => auxOf(i) !== auxOf(own))) behind.push('aux');
  const all = new Set<string>();
  for (const link of cluster.links) for (const id of await committedWallets(link, timeoutMs)) all.add(id);
  if (all.size > MAX_RECONCILED_WALLETS)
    return { outcome: 'waiting', reason: `more than ${MAX_RECONCILED_WALLETS} wallets: reconcile by hand` };
  const wallets = [...all].sort();
  for (const walletId of wallets) {
    const mine = await shareOf(node, walletId, timeoutMs);
    for (const peer of peers) {
      if ((await shareOf(peer, walletId, timeoutMs)) !== mine) {
        behind.push(walletId);
        break;
      }
    }
  }
  if (behind.length > 0) return { outcome: 'behind', scopes: behind };
  await callNode(node, { v: RPC_VERSION, method: 'reconciled', wallets }, reconciledResponseSchema, timeoutMs);
  return { outcome: 'reconciled', wallets: wallets.length };
}
