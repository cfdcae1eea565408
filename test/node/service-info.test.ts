/**
 * `info` reports at most MAX_PENDING_SCOPES pending wallet scopes; with more, the window moves on
 * at every answer, so scopes stuck for good cannot hide the others from the coordinator's resolver.
 */
import test from 'ava';
import { MAX_PENDING_SCOPES } from '../../src/rpc/messages.js';
import { singleNodeService } from '../helpers/node-service.js';
import { openNode, tempDir } from '../helpers/storage.js';

test('pending scopes beyond what one info answer lists are reported by the following answers', async (t) => {
  const { store } = await openNode(await tempDir(t), 'node_1');
  const { call } = await singleNodeService(store);
  const scopes = Array.from({ length: MAX_PENDING_SCOPES + 6 }, (_, k) => `w_pending${String(k).padStart(3, '0')}`);
  for (const id of scopes) await store.put('pending', id, Uint8Array.of(1)); // info lists them; it never reads them
  const info = async () => ((await call({ method: 'info' })) as unknown as { pendingScopes: string[] }).pendingScopes;
  const first = await info();
  const second = await info();
  t.is(first.length, MAX_PENDING_SCOPES);
  t.is(second.length, MAX_PENDING_SCOPES);
  t.deepEqual(new Set([...first, ...second]), new Set(scopes), 'two answers cover every pending scope');
});
