import test from 'ava';
import { randomBytes } from 'node:crypto';
import { KmsError } from '../../../src/kms/kms.js';
import { openLocalKms } from '../../../src/kms/local.js';
import { openRecord, recordContextOf, sealRecord } from '../../../src/node/storage/envelope.js';
import { StorageError } from '../../../src/node/storage/errors.js';
import { tempDir } from '../../helpers/storage.js';

const ctx = { nodeId: 'node_1', kind: 'keyshare', id: 'wallet-7' };

test('a record round-trips, with a fresh data key each time', async (t) => {
  const kms = await openLocalKms({ root: await tempDir(t), nodeId: 'node_1' });
  const secret = randomBytes(100);
  const a = await sealRecord(kms, ctx, secret);
  const b = await sealRecord(kms, ctx, secret);
  t.notDeepEqual(a, b);
  t.deepEqual(Buffer.from(await openRecord(kms, ctx, a)), secret);
  t.deepEqual(Buffer.from(await openRecord(kms, ctx, b)), secret);
  t.deepEqual(recordContextOf(a), ctx);
  t.is((await openRecord(kms, ctx, await sealRecord(kms, ctx, new Uint8Array(0)))).length, 0);
});

test('flipping any bit of any byte is detected', async (t) => {
  const kms = await openLocalKms({ root: await tempDir(t), nodeId: 'node_1' });
  const sealed = await sealRecord(kms, ctx, randomBytes(48));
  const codes = new Set<string>();
  for (let i = 0; i < sealed.length; i++) {
    for (const bit of [0x01, 0x80]) {
      const bad = Uint8Array.from(sealed);
      bad[i]! ^= bit;
      const e = await t.throwsAsync(openRecord(kms, ctx, bad), undefined, `byte ${i}`);
      t.true(e instanceof StorageError || e instanceof KmsError, `byte ${i}: ${String(e)}`);
      if (e instanceof StorageError || e instanceof KmsError) codes.add(e.code);
    }
  }
  t.true(codes.has('authentication'));
  for (let n = 0; n < sealed.length; n++)
    await t.throwsAsync(openRecord(kms, ctx, sealed.subarray(0, n)), { instanceOf: StorageError });
  await t.throwsAsync(openRecord(kms, ctx, Uint8Array.from([...sealed, 0])), {
    instanceOf: StorageError,
    message: /trailing/,
  });
});

test('a record opened under another node, kind or id is refused with a clear error', async (t) => {
  const kms = await openLocalKms({ root: await tempDir(t), nodeId: 'node_1' });
  const sealed = await sealRecord(kms, ctx, randomBytes(32));
  for (const other of [
    { ...ctx, nodeId: 'node_2' },
    { ...ctx, kind: 'aux' },
    { ...ctx, id: 'wallet-8' },
  ]) {
    const e = await t.throwsAsync(openRecord(kms, other, sealed), { instanceOf: StorageError });
    t.is(e?.code, 'context-mismatch');
    t.regex(e?.message ?? '', /node_1\/keyshare\/wallet-7 cannot be opened as/);
  }
});

test('rewriting the clear header to claim another context fails authentication', async (t) => {
  const kms = await openLocalKms({ root: await tempDir(t), nodeId: 'node_1' });
  const sealed = Buffer.from(await sealRecord(kms, ctx, randomBytes(32)));
  const moved = Buffer.from(sealed.toString('latin1').replace('wallet-7', 'wallet-8'), 'latin1');
  t.is(moved.length, sealed.length);
  const e = await t.throwsAsync(openRecord(kms, { ...ctx, id: 'wallet-8' }, moved), { instanceOf: StorageError });
  t.is(e?.code, 'authentication');
});

test("another node's KMS cannot open a record", async (t) => {
  const root = await tempDir(t);
  const k1 = await openLocalKms({ root, nodeId: 'node_1' });
  const k2 = await openLocalKms({ root, nodeId: 'node_2' });
  const sealed = await sealRecord(k1, ctx, randomBytes(32));
  await t.throwsAsync(openRecord(k2, ctx, sealed), { instanceOf: KmsError, message: /not available/ });
});

test('errors never carry the plaintext', async (t) => {
  const kms = await openLocalKms({ root: await tempDir(t), nodeId: 'node_1' });
  const secret = Buffer.from('SECRET-SHARE-0123456789abcdef');
  const sealed = Uint8Array.from(await sealRecord(kms, ctx, secret));
  sealed[sealed.length - 1]! ^= 1;
  const e = await t.throwsAsync(openRecord(kms, ctx, sealed));
  t.false(
    JSON.stringify({ m: e?.message, s: e?.stack, c: String((e as Error & { cause?: unknown })?.cause) }).includes(
      'SECRET-SHARE',
    ),
  );
});
