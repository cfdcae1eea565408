/**
 * Three (or more) real NodeServices in one process, each on its own store under `root`, with fresh
 * P-256 identity keys and safe primes from the fixture file: the node side of the in-process
 * tests, reached through InProcessNodeLink (→ NodeService.handleBytes). By default every store is
 * seeded with aux-info built from the fixture primes (test/helpers/cluster.ts), since the aux
 * protocol itself takes ~25 s and has its own tests.
 */
import { generateKeyPairSync, type KeyPairKeyObjectResult } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { InProcessNodeLink } from '../../src/coordinator/links.js';
import type { NodeLink } from '../../src/coordinator/node-link.js';
import { PrimeSource } from '../../src/node/primes.js';
import { AUX_RECORD, pack } from '../../src/node/records.js';
import { NodeService, type NodeServiceOptions } from '../../src/node/service.js';
import type { RecordStore } from '../../src/node/storage/store.js';
import { encodeAuxPublic, encodeAuxSecret } from '../../src/protocol/storage-format.js';
import type { Request } from '../../src/rpc/messages.js';
import { silentLogger } from '../../src/util/log.js';
import { auxFixture } from './cluster.js';
import { NODE_IDS } from './coordinator.js';
import { openNode } from './storage.js';

export const FIXTURE_PRIMES = fileURLToPath(new URL('../../../test/fixtures/safe-primes.json', import.meta.url));

export interface InProcessNodesOptions {
  /** node ids, in party order (default NODE_IDS) */
  readonly ids?: readonly string[];
  /** seed each store with the fixture aux-info (default true) */
  readonly aux?: boolean;
  /** safe primes from the fixture file (default true); false: only what `seed` stored */
  readonly devPrimes?: boolean;
  /** more records for node k's store, written after the aux-info and before its primes open */
  readonly seed?: (store: RecordStore, k: number) => Promise<void>;
  /** node `nodeId`'s audit hook */
  readonly audit?: (nodeId: string) => NodeServiceOptions['audit'];
  /** node `nodeId`'s share backup */
  readonly backup?: (nodeId: string) => NodeServiceOptions['backup'];
  /** t: parties needed to sign (default 2) */
  readonly threshold?: number;
  /** NodeServiceOptions.supersedeIdleMs (default the service's) */
  readonly supersedeIdleMs?: number;
  /** the nodes' identity keys (default fresh ones): the same keys restart the same nodes */
  readonly keys?: readonly KeyPairKeyObjectResult[];
  /** the stores' clock (RecordStoreOptions.clock) */
  readonly clock?: () => number;
  /** NodeServiceOptions.retention */
  readonly retention?: NodeServiceOptions['retention'];
}

export interface InProcessNodes {
  readonly ids: readonly string[];
  readonly keys: readonly KeyPairKeyObjectResult[];
  readonly services: NodeService[];
  readonly stores: RecordStore[];
  /** one link straight to each service, in party order */
  readonly links: InProcessNodeLink[];
}

export async function startInProcessNodes(root: string, o: InProcessNodesOptions = {}): Promise<InProcessNodes> {
  const ids = o.ids ?? NODE_IDS;
  const keys = o.keys ?? ids.map(() => generateKeyPairSync('ec', { namedCurve: 'P-256' }));
  const group = ids.map((nodeId, k) => ({ nodeId, publicKey: keys[k]!.publicKey }));
  const aux = o.aux === false ? undefined : auxFixture(ids.length);
  const stores: RecordStore[] = [];
  const services = await Promise.all(
    ids.map(async (id, k) => {
      const { store } = await openNode(root, id, o.clock);
      stores[k] = store;
      if (aux) await store.put('aux', AUX_RECORD, pack(encodeAuxPublic(aux[k]!), encodeAuxSecret(aux[k]!)));
      await o.seed?.(store, k);
      const primes = await PrimeSource.open({
        store,
        index: k,
        ...(o.devPrimes === false ? {} : { devFile: FIXTURE_PRIMES }),
      });
      const audit = o.audit?.(id);
      const backup = o.backup?.(id);
      return new NodeService({
        nodeId: id,
        group,
        privateKey: keys[k]!.privateKey,
        threshold: o.threshold ?? 2,
        store,
        primes,
        log: silentLogger(),
        ...(audit === undefined ? {} : { audit }),
        ...(backup === undefined ? {} : { backup }),
        ...(o.supersedeIdleMs === undefined ? {} : { supersedeIdleMs: o.supersedeIdleMs }),
        ...(o.retention === undefined ? {} : { retention: o.retention }),
      });
    }),
  );
  const links = services.map((s, k) => new InProcessNodeLink(ids[k] as string, k, (b) => s.handleBytes(b)));
  return { ids, keys, services, stores, links };
}

/** A link whose requests a test can intercept (to fail them or alter answers). */
export class Tap implements NodeLink {
  intercept: ((req: Request, forward: () => Promise<unknown>) => Promise<unknown>) | undefined;
  constructor(private readonly inner: NodeLink) {}
  get nodeId(): string {
    return this.inner.nodeId;
  }
  get index(): number {
    return this.inner.index;
  }
  request(req: Request, timeoutMs?: number): Promise<unknown> {
    const forward = () => this.inner.request(req, timeoutMs);
    return this.intercept ? this.intercept(req, forward) : forward();
  }
}
