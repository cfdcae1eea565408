/**
 * The node's refusal codes are a closed list: the response schema accepts each of them and no
 * other, and the coordinator reads a refusal with an unknown code as a malformed answer, not as a
 * refusal it understands.
 */
import test from 'ava';
import { RPC_ERROR_CODES } from '../../src/rpc/errors.js';
import { discardResponseSchema, errorResponseSchema, RPC_VERSION } from '../../src/rpc/messages.js';
import { callNode, NodeCallError } from '../../src/coordinator/node-link.js';
import { FakeLink } from '../helpers/coordinator.js';

test('every listed code is accepted, once each', (t) => {
  t.is(new Set(RPC_ERROR_CODES).size, RPC_ERROR_CODES.length);
  for (const code of RPC_ERROR_CODES) t.true(errorResponseSchema.safeParse({ code, error: 'x' }).success, code);
});

test('a code outside the list is refused by the response schema', (t) => {
  for (const code of ['', 'unexpected', 'Busy', 'busy ', 'x'.repeat(65)])
    t.false(errorResponseSchema.safeParse({ code, error: 'x' }).success, JSON.stringify(code));
});

test('a refusal with a known code is rejected with that code; an unknown code is an invalid response', async (t) => {
  const known = new FakeLink('node-a', 0, () => ({ ok: false, code: 'busy', error: 'too many open sessions' }));
  const e1 = await t.throwsAsync(callNode(known, { v: RPC_VERSION, method: 'info' }, discardResponseSchema), {
    instanceOf: NodeCallError,
  });
  t.is(e1?.kind, 'rejected');
  t.is(e1?.code, 'busy');

  const unknown = new FakeLink('node-a', 0, () => ({ ok: false, code: 'no-such-code', error: 'x' }));
  const e2 = await t.throwsAsync(callNode(unknown, { v: RPC_VERSION, method: 'info' }, discardResponseSchema), {
    instanceOf: NodeCallError,
  });
  t.is(e2?.kind, 'invalid-response');
  t.is(e2?.code, undefined);
});
