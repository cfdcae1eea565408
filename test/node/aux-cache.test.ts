/**
 * The aux-info secret (Paillier and ring-Pedersen keys) is held in memory only where protocols run
 * and only for the aux-info in force: recover() — run by the node's main thread, which runs no
 * protocol — reads only the aux epoch (it never decodes the secret), and an aux-info commit drops
 * the cached secret of the old one. The cache is inspected directly (it is private state).
 */
import test from 'ava';
import { generateKeyPairSync } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { NodeService } from '../../src/node/service.js';
import { PrimeSource } from '../../src/node/primes.js';
import { AUX_RECORD, encodeEpoch, pack } from '../../src/node/records.js';
import { encodeAuxPublic, encodeAuxSecret } from '../../src/protocol/storage-format.js';
import { decodeJson, encodeJson, RPC_VERSION } from '../../src/rpc/messages.js';
import { silentLogger } from '../../src/util/log.js';
import { auxFixture } from '../helpers/cluster.js';
import { openNode, tempDir } from '../helpers/storage.js';

const PRIMES = fileURLToPath(new URL('../../../test/fixtures/safe-primes.json', import.meta.url));

async function node(t: import('ava').ExecutionContext, auxRecord: Uint8Array) {
  const { store } = await openNode(await tempDir(t), 'node_1');
  await store.put('aux', AUX_RECORD, auxRecord);
  const keys = ['node_1', 'node_2', 'node_3'].map(() => generateKeyPairSync('ec', { namedCurve: 'P-256' }));
  const service = new NodeService({
    nodeId: 'node_1',
    group: ['node_1', 'node_2', 'node_3'].map((nodeId, k) => ({ nodeId, publicKey: keys[k]!.publicKey })),
    privateKey: keys[0]!.privateKey,
    threshold: 2,
    store,
    primes: await PrimeSource.open({ store, index: 0, devFile: PRIMES }),
    log: silentLogger(),
  });
  return { store, service };
}

/** The service's cached aux-info (private state). */
const cached = (service: NodeService): unknown => (service as unknown as { aux: unknown }).aux;

test('recover() uses only the aux epoch: it never decodes or caches the aux secret', async (t) => {
  const [aux] = auxFixture(3);
  const { service } = await node(t, pack(encodeAuxPublic(aux!), encodeAuxSecret(aux!), encodeEpoch(2)));
  await service.recover();
  t.is(cached(service), undefined, 'no aux secret held after recover()');

  // a secret part that does not even decode: recover() never looks at it
  const broken = await node(t, pack(encodeAuxPublic(aux!), Uint8Array.of(1, 2, 3), encodeEpoch(2)));
  await t.notThrowsAsync(broken.service.recover());
  t.is(cached(broken.service), undefined);
});

test('an aux-info commit drops the cached secret of the old aux-info at once', async (t) => {
  const [aux] = auxFixture(3);
  const { service } = await node(t, pack(encodeAuxPublic(aux!), encodeAuxSecret(aux!), encodeEpoch(1)));
  const info = decodeJson(await service.handleBytes(encodeJson({ v: RPC_VERSION, method: 'info' }))) as {
    auxEpoch?: number;
  };
  t.is(info.auxEpoch, 1);
  t.not(cached(service), undefined, 'loaded for use');
  const [next] = auxFixture(3, true);
  // what a commit of the aux scope reports (lifecycle commit → committedResult)
  const commit = (
    service as unknown as {
      committedResult(scope: string, protocol: string, epoch: number, parts: [Uint8Array, Uint8Array]): unknown;
    }
  ).committedResult.bind(service);
  commit('aux', 'aux', 2, [encodeAuxPublic(next!), encodeAuxSecret(next!)]);
  t.is(cached(service), undefined, 'the old aux-info secret is no longer referenced');
});
