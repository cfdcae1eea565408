/**
 * `info` reports at most MAX_PENDING_SCOPES pending wallet scopes; with more, the window moves on
 * at every answer, so scopes stuck for good cannot hide the others from the coordinator's resolver.
 */
import test from 'ava';
import { generateKeyPairSync } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { NodeService } from '../../src/node/service.js';
import { PrimeSource } from '../../src/node/primes.js';
import { decodeJson, encodeJson, MAX_PENDING_SCOPES, RPC_VERSION } from '../../src/rpc/messages.js';
import { silentLogger } from '../../src/util/log.js';
import { openNode, tempDir } from '../helpers/storage.js';

const PRIMES = fileURLToPath(new URL('../../../test/fixtures/safe-primes.json', import.meta.url));

test('pending scopes beyond what one info answer lists are reported by the following answers', async (t) => {
  const { store } = await openNode(await tempDir(t), 'node_1');
  const ids = ['node_1', 'node_2', 'node_3'];
  const keys = ids.map(() => generateKeyPairSync('ec', { namedCurve: 'P-256' }));
  const service = new NodeService({
    nodeId: 'node_1',
    group: ids.map((nodeId, k) => ({ nodeId, publicKey: keys[k]!.publicKey })),
    privateKey: keys[0]!.privateKey,
    threshold: 2,
    store,
    primes: await PrimeSource.open({ store, index: 0, devFile: PRIMES }),
    log: silentLogger(),
  });
  const scopes = Array.from({ length: MAX_PENDING_SCOPES + 6 }, (_, k) => `w_pending${String(k).padStart(3, '0')}`);
  for (const id of scopes) await store.put('pending', id, Uint8Array.of(1)); // info lists them; it never reads them
  const info = async () =>
    (
      decodeJson(await service.handleBytes(encodeJson({ v: RPC_VERSION, method: 'info' }))) as {
        pendingScopes: string[];
      }
    ).pendingScopes;
  const first = await info();
  const second = await info();
  t.is(first.length, MAX_PENDING_SCOPES);
  t.is(second.length, MAX_PENDING_SCOPES);
  t.deepEqual(new Set([...first, ...second]), new Set(scopes), 'two answers cover every pending scope');
});
