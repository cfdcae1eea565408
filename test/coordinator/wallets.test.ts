/**
 * Wallet creation around the registry's pending/committed records and the audit log: the pending
 * record is on disk before any node is asked for keygen; a failed commit answers 503, leaves the
 * id listed as pending at the next start, and refuses every later creation before keygen; a
 * failed keygen is recorded as abandoned; `wallet.created` is durable in the audit log (with the
 * request and credential ids, never a token) before the wallet is returned, or the answer is a 503.
 */
import test, { type ExecutionContext } from 'ava';
import { open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RegistryUnavailableError, WalletRegistry } from '../../src/coordinator/registry.js';
import { AuditUnavailableError, WalletService } from '../../src/coordinator/wallets.js';
import type { SessionOutcome, SessionSpec } from '../../src/coordinator/orchestrator.js';
import type { ProtocolName } from '../../src/rpc/messages.js';
import { AuditLog, verifyAuditLog, type AuditEvent } from '../../src/util/audit-log.js';
import { credentialId } from '../../src/util/credential-id.js';
import { FakeRunner, GENERATOR_HEX, fakeLinks, keygenDone, never, readyCluster } from '../helpers/coordinator.js';
import { tempDir } from '../helpers/storage.js';

async function setup(
  t: ExecutionContext,
  keygen: (spec: SessionSpec<ProtocolName>, path: string) => SessionOutcome | Promise<SessionOutcome>,
  audit?: { append(e: AuditEvent): Promise<void> },
) {
  const dir = await tempDir(t);
  const path = join(dir, 'coordinator', 'wallets.jsonl');
  const registry = await WalletRegistry.open(path);
  t.teardown(() => registry.close());
  const cluster = readyCluster(fakeLinks(() => () => never()));
  const runner = new FakeRunner((spec) => keygen(spec, path));
  const wallets = new WalletService({ registry, cluster, runner, ...(audit ? { audit } : {}) });
  return { dir, path, registry, runner, wallets };
}

/** Make the next file write fail as a full disk would (serial tests only). */
async function failWrites(t: ExecutionContext, path: string): Promise<() => void> {
  const probe = await open(path, 'r');
  const proto = Object.getPrototypeOf(probe) as { write: (...a: unknown[]) => Promise<unknown> };
  await probe.close();
  const original = proto.write;
  proto.write = () =>
    Promise.reject(Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' }));
  const restore = (): void => {
    proto.write = original;
  };
  t.teardown(restore);
  return restore;
}

test('the pending record is on disk before keygen starts', async (t) => {
  let seenAtKeygen = '';
  const env = await setup(t, async (spec, path) => {
    seenAtKeygen = await readFile(path, 'utf8');
    t.regex(seenAtKeygen, new RegExp(`"state":"pending","walletId":"${spec.walletId as string}","label":"cold"`));
    return keygenDone(spec, GENERATOR_HEX);
  });
  const { wallet } = await env.wallets.create({ label: 'cold' });
  t.true(seenAtKeygen.includes(wallet.walletId), 'keygen ran after the pending record was written');
  t.regex(await readFile(env.path, 'utf8'), new RegExp(`"state":"committed","walletId":"${wallet.walletId}"`));
  t.deepEqual(env.registry.pending(), []);
});

test.serial(
  'a commit that fails: 503, the id is pending at the next start, and later creates are refused before keygen',
  async (t) => {
    let restore: (() => void) | undefined;
    const env = await setup(t, async (spec, path) => {
      restore = await failWrites(t, path); // the disk fills up while keygen runs
      return keygenDone(spec, GENERATOR_HEX);
    });
    const e = await t.throwsAsync(env.wallets.create({ label: 'lost' }), { instanceOf: RegistryUnavailableError });
    t.is(e?.status, 503);
    restore?.();
    const orphan = env.runner.specs[0]?.walletId as string;
    t.is(env.registry.count, 0);
    await t.throwsAsync(env.wallets.create({}), { instanceOf: RegistryUnavailableError, message: /restarted/ });
    await t.throwsAsync(env.wallets.create({ idempotencyKey: 'k-1' }), { instanceOf: RegistryUnavailableError });
    t.is(env.runner.specs.length, 1, 'no keygen (no share stored on any node) once the registry failed a write');
    await env.registry.close();
    const reopened = await WalletRegistry.open(env.path);
    t.deepEqual(
      reopened.pending().map((p) => [p.walletId, p.state, p.label]),
      [[orphan, 'interrupted', 'lost']],
    );
    await reopened.close();
  },
);

test('a failed keygen is recorded as abandoned and listed for reconciliation', async (t) => {
  const env = await setup(t, (spec) => ({
    status: 'failed',
    failure: 'timeout',
    nodes: ['node_2'],
    reason: 'timed out',
    sessionId: 's_1',
    protocol: spec.protocol,
    durationMs: 1,
  }));
  await t.throwsAsync(env.wallets.create({}), { message: /no wallet was created/ });
  const id = env.runner.specs[0]?.walletId as string;
  t.deepEqual(
    env.registry.pending().map((p) => [p.walletId, p.state]),
    [[id, 'failed']],
  );
  t.true(env.registry.writable, 'a keygen failure is not a registry failure');
  t.regex(await readFile(env.path, 'utf8'), new RegExp(`"state":"abandoned","walletId":"${id}"`));
});

test('wallet.created is in the audit log, with request and credential ids, before create resolves', async (t) => {
  const dir = await tempDir(t);
  const auditPath = join(dir, 'audit.jsonl');
  const audit = await AuditLog.open(auditPath);
  t.teardown(() => audit.close());
  const token = 'Bearer wallet_dev_token_12345';
  const cred = credentialId(token);
  const env = await setup(t, (spec) => keygenDone(spec, GENERATOR_HEX), audit);
  const { wallet } = await env.wallets.create({
    label: 'hot',
    idempotencyKey: 'idem-1',
    context: { requestId: 'req_1', credentialId: cred },
  });
  const text = await readFile(auditPath, 'utf8'); // read as soon as create resolved
  const lines = text
    .split('\n')
    .slice(0, -1)
    .map((l) => JSON.parse(l) as { event: Record<string, unknown> });
  t.is(lines.length, 1);
  t.like(lines[0]?.event, {
    type: 'wallet.created',
    walletId: wallet.walletId,
    publicKey: GENERATOR_HEX,
    label: 'hot',
    requestId: 'req_1',
    credentialId: cred,
  });
  t.regex(String(lines[0]?.event['idempotencyKeyHash']), /^[0-9a-f]{64}$/);
  t.false(text.includes('wallet_dev_token'), 'never the token');
  t.false(text.includes('idem-1'), 'never the idempotency key itself');
  t.like(await verifyAuditLog(auditPath), { ok: true, lines: 1 });
});

test('an audit log that cannot be written withholds the wallet (503); it stays registered', async (t) => {
  const failing = { append: () => Promise.reject(new Error('EIO')) };
  const env = await setup(t, (spec) => keygenDone(spec, GENERATOR_HEX), failing);
  const e = await t.throwsAsync(env.wallets.create({ idempotencyKey: 'idem-2' }), {
    instanceOf: AuditUnavailableError,
  });
  t.is(e?.status, 503);
  t.is(env.registry.count, 1);
});
