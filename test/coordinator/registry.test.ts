/**
 * The wallet registry: records survive a reopen; a torn last line (a crash mid-append) is ignored
 * and cut off, so the next append is readable; damage elsewhere is refused; idempotency key hashes
 * are found again after a restart; pagination walks every wallet once; concurrent appends all land.
 */
import test from 'ava';
import { appendFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvalidCursorError, RegistryConflictError, RegistryCorruptError, WalletRegistry, type WalletRecord } from '../../src/coordinator/registry.js';
import { GENERATOR_HEX } from '../helpers/coordinator.js';

async function tempFile(t: { teardown: (f: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'mpc-registry-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return join(dir, 'coordinator', 'wallets.jsonl'); // the directory is created by open()
}

const wallet = (n: number, extra: Partial<WalletRecord> = {}): WalletRecord => ({
  walletId: `w_wallet${String(n).padStart(4, '0')}`,
  publicKey: GENERATOR_HEX,
  createdAt: new Date(1_700_000_000_000 + n).toISOString(),
  ...extra,
});

test('appended wallets survive a reopen, with label and idempotency hash', async (t) => {
  const path = await tempFile(t);
  const r = await WalletRegistry.open(path);
  await r.append(wallet(1, { label: 'treasury', idempotencyKeyHash: 'a'.repeat(64) }));
  await r.append(wallet(2));
  await r.close();
  const again = await WalletRegistry.open(path);
  t.is(again.count, 2);
  t.deepEqual(again.get('w_wallet0001'), wallet(1, { label: 'treasury', idempotencyKeyHash: 'a'.repeat(64) }));
  t.deepEqual(again.get('w_wallet0002'), wallet(2));
  t.is(again.byIdempotencyKeyHash('a'.repeat(64))?.walletId, 'w_wallet0001');
  t.is(again.byIdempotencyKeyHash('b'.repeat(64)), undefined);
  t.is(again.get('w_missing00'), undefined);
  await again.close();
});

test('a torn last line is ignored and cut off; the next append is readable', async (t) => {
  const path = await tempFile(t);
  const r = await WalletRegistry.open(path);
  await r.append(wallet(1));
  await r.close();
  const whole = await readFile(path, 'utf8');
  await appendFile(path, '{"v":1,"walletId":"w_wallet0002","publicKey":"02'); // the crash
  const reopened = await WalletRegistry.open(path);
  t.is(reopened.count, 1);
  t.is(await readFile(path, 'utf8'), whole, 'the fragment is truncated away');
  await reopened.append(wallet(3));
  await reopened.close();
  const third = await WalletRegistry.open(path);
  t.deepEqual(
    third.list().wallets.map((w) => w.walletId),
    ['w_wallet0001', 'w_wallet0003'],
  );
  await third.close();
});

test('a complete but unreadable last line (zeros after a crash) is dropped too', async (t) => {
  const path = await tempFile(t);
  const r = await WalletRegistry.open(path);
  await r.append(wallet(1));
  await r.close();
  await appendFile(path, '\0\0\0\0\n');
  const reopened = await WalletRegistry.open(path);
  t.is(reopened.count, 1);
  await reopened.close();
});

test('damage before the last line is refused, not skipped', async (t) => {
  const path = await tempFile(t);
  const r = await WalletRegistry.open(path);
  await r.append(wallet(1));
  await r.close();
  const good = await readFile(path, 'utf8');
  await writeFile(path, 'garbage\n' + good);
  await t.throwsAsync(WalletRegistry.open(path), { instanceOf: RegistryCorruptError, message: /line 1/ });
  await writeFile(path, good + good);
  await t.throwsAsync(WalletRegistry.open(path), { instanceOf: RegistryCorruptError, message: /repeats wallet/ });
});

test('duplicate wallet ids and idempotency hashes are conflicts, and nothing is written', async (t) => {
  const path = await tempFile(t);
  const r = await WalletRegistry.open(path);
  await r.append(wallet(1, { idempotencyKeyHash: 'c'.repeat(64) }));
  const before = await readFile(path, 'utf8');
  await t.throwsAsync(r.append(wallet(1)), { instanceOf: RegistryConflictError });
  await t.throwsAsync(r.append(wallet(2, { idempotencyKeyHash: 'c'.repeat(64) })), { instanceOf: RegistryConflictError });
  t.is(await readFile(path, 'utf8'), before);
  // invalid records never reach the file
  await t.throwsAsync(r.append({ ...wallet(3), publicKey: 'zz' }), { instanceOf: RangeError });
  t.is(r.count, 1);
  await r.close();
});

test('concurrent appends each land on their own line', async (t) => {
  const path = await tempFile(t);
  const r = await WalletRegistry.open(path);
  await Promise.all(Array.from({ length: 25 }, (_, n) => r.append(wallet(n))));
  await r.close();
  const lines = (await readFile(path, 'utf8')).split('\n').filter(Boolean);
  t.is(lines.length, 25);
  const again = await WalletRegistry.open(path);
  t.is(again.count, 25);
  await again.close();
});

test('cursor pagination returns every wallet once, in creation order', async (t) => {
  const path = await tempFile(t);
  const r = await WalletRegistry.open(path);
  for (let n = 0; n < 7; n++) await r.append(wallet(n));
  const seen: string[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const page = r.list({ limit: 3, ...(cursor === undefined ? {} : { cursor }) });
    seen.push(...page.wallets.map((w) => w.walletId));
    cursor = page.nextCursor;
    pages++;
  } while (cursor !== undefined);
  t.is(pages, 3);
  t.deepEqual(seen, Array.from({ length: 7 }, (_, n) => wallet(n).walletId));
  t.throws(() => r.list({ cursor: 'nonsense' }), { instanceOf: InvalidCursorError });
  t.throws(() => r.list({ cursor: Buffer.from('p99').toString('base64url') }), { instanceOf: InvalidCursorError });
  t.throws(() => r.list({ limit: 0 }), { instanceOf: RangeError });
  t.throws(() => r.list({ limit: 101 }), { instanceOf: RangeError });
  t.deepEqual(r.list({ limit: 100 }).nextCursor, undefined);
  await r.close();
});

test('an empty registry opens, lists nothing, and creates its file', async (t) => {
  const path = await tempFile(t);
  const r = await WalletRegistry.open(path);
  t.deepEqual(r.list(), { wallets: [], nextCursor: undefined });
  await r.close();
  t.is(await readFile(path, 'utf8'), '');
});
