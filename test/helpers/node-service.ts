/**
 * One real NodeService of a three-node group (node_1) on a given store, with fresh identity keys
 * and the fixture safe primes, and a `call` that speaks the node's request protocol: for tests of
 * one node's request handlers.
 */
import { generateKeyPairSync } from 'node:crypto';
import { NodeService } from '../../src/node/service.js';
import { PrimeSource } from '../../src/node/primes.js';
import type { RecordStore } from '../../src/node/storage/store.js';
import { decodeJson, encodeJson, RPC_VERSION } from '../../src/rpc/messages.js';
import type { AuditEvent } from '../../src/util/audit-log.js';
import { silentLogger } from '../../src/util/log.js';
import { FIXTURE_PRIMES } from './in-process-nodes.js';

const IDS = ['node_1', 'node_2', 'node_3'];

export async function singleNodeService(store: RecordStore, o: { audit?: AuditEvent[] } = {}) {
  const keys = IDS.map(() => generateKeyPairSync('ec', { namedCurve: 'P-256' }));
  const audit = o.audit;
  const service = new NodeService({
    nodeId: 'node_1',
    group: IDS.map((nodeId, k) => ({ nodeId, publicKey: keys[k]!.publicKey })),
    privateKey: keys[0]!.privateKey,
    threshold: 2,
    store,
    primes: await PrimeSource.open({ store, index: 0, devFile: FIXTURE_PRIMES }),
    log: silentLogger(),
    ...(audit === undefined ? {} : { audit: async (e: AuditEvent) => void audit.push(e) }),
  });
  const call = async (req: object) =>
    decodeJson(await service.handleBytes(encodeJson({ v: RPC_VERSION, ...req }))) as Record<string, unknown>;
  return { service, call };
}
