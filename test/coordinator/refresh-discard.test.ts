/**
 * A refresh drops the wallet's presignatures from the pool whatever its outcome: one that
 * committed at some nodes and then failed (or aborted, or whose runner threw) has burnt them
 * there, and a pool entry the nodes burnt only costs a sign request a wasted attempt.
 */
import test from 'ava';
import type { ProtocolName } from '../../src/rpc/messages.js';
import type { SessionOutcome, SessionSpec } from '../../src/coordinator/orchestrator.js';
import { RefreshFailedError } from '../../src/coordinator/errors.js';
import { KeyRotation } from '../../src/coordinator/rotation.js';
import { FakeRunner, fakeLinks, readyCluster } from '../helpers/coordinator.js';

const KEY = '02' + '11'.repeat(32);
const WALLET = 'wallet_aaaa';

function setup(outcome: (spec: SessionSpec<ProtocolName>) => SessionOutcome | Promise<SessionOutcome>) {
  const cluster = readyCluster(
    fakeLinks(() => () => ({ ok: false, code: 'bad-request', error: 'unexpected' })),
    [0, 1, 2],
    'aa'.repeat(32),
  );
  const discarded: (string | undefined)[] = [];
  const rotation = new KeyRotation({
    cluster,
    runner: new FakeRunner(outcome),
    walletIds: () => [WALLET],
    publicKeyOf: (w) => (w === WALLET ? KEY : undefined),
    renewAux: async () => 'bb'.repeat(32),
    discardPresignatures: (w) => void discarded.push(w),
  });
  return { rotation, discarded };
}

test('a refresh that failed after committing at some nodes still drops the wallet’s pool presignatures', async (t) => {
  const { rotation, discarded } = setup((spec) => ({
    status: 'failed',
    sessionId: 's',
    protocol: spec.protocol,
    durationMs: 1,
    failure: 'timeout',
    nodes: ['node_3'],
    reason: 'node_3 did not confirm in time',
  }));
  await t.throwsAsync(rotation.refresh(WALLET, 'admin'), { instanceOf: RefreshFailedError });
  t.deepEqual(discarded, [WALLET]);
});

test('an aborted refresh, or one whose run threw, drops them too', async (t) => {
  const aborted = setup((spec) => ({
    status: 'aborted',
    sessionId: 's',
    protocol: spec.protocol,
    durationMs: 1,
    reportedBy: 'node_1',
    culprits: [],
    reason: 'bad proof',
  }));
  await t.throwsAsync(aborted.rotation.refresh(WALLET, 'admin'), { instanceOf: RefreshFailedError });
  t.deepEqual(aborted.discarded, [WALLET]);
  const threw = setup(() => {
    throw new Error('transport gone');
  });
  await t.throwsAsync(threw.rotation.refresh(WALLET, 'admin'), { message: 'transport gone' });
  t.deepEqual(threw.discarded, [WALLET]);
});

test('a successful refresh drops them once', async (t) => {
  const { rotation, discarded } = setup((spec) => ({
    status: 'done',
    sessionId: 's',
    protocol: 'refresh',
    durationMs: 1,
    result: { protocol: 'refresh', walletId: WALLET, publicKey: KEY, epoch: 1 },
    participants: spec.participants.map((l) => l.nodeId),
  }));
  await rotation.refresh(WALLET, 'admin');
  t.deepEqual(discarded, [WALLET]);
});
