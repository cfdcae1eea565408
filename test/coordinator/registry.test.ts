/**
 * The wallet registry: records survive a reopen; a torn last line (a crash mid-append) is ignored
 * and cut off, so the next append is readable; a complete line that does not validate — anywhere,
 * the last included — stops the load and leaves the file alone; idempotency key hashes are found
 * again after a restart; pagination walks every wallet once; concurrent appends all land; version
 * 1 files load; pending records without a commit are listed; a failed write refuses creation; a
 * purged wallet was archived and is never restored.
 */
import test from 'ava';
import { appendFile, mkdir, mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import {
  InvalidCursorError,
  RegistryConflictError,
  RegistryCorruptError,
  RegistryUnavailableError,
  WalletRegistry,
  type WalletRecord,
} from '../../src/coordinator/registry.js';
import { WalletPurgedError } from '../../src/coordinator/errors.js';
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

test('a complete last line that does not validate stops the load, naming file and line, and the file is not touched', async (t) => {
  const path = await tempFile(t);
  const r = await WalletRegistry.open(path);
  await r.append(wallet(1));
  await r.close();
  const good = await readFile(path, 'utf8');
  const cases: [string, RegExp][] = [
    ['\0\0\0\0\n', /line 2 is not JSON/],
    [
      JSON.stringify({
        v: 3,
        state: 'committed',
        walletId: 'w_wallet0002',
        publicKey: GENERATOR_HEX,
        createdAt: new Date(0).toISOString(),
      }) + '\n',
      /line 2 is format version 3, newer than this coordinator reads \(2\)/,
    ],
    [
      JSON.stringify({
        v: 2,
        state: 'committed',
        walletId: 'w_wallet0002',
        publicKey: GENERATOR_HEX,
        createdAt: new Date(0).toISOString(),
        note: 'hand edit',
      }) + '\n',
      /line 2 is not a wallet record/,
    ],
  ];
  for (const [last, message] of cases) {
    await writeFile(path, good + last);
    const e = await t.throwsAsync(WalletRegistry.open(path), { instanceOf: RegistryCorruptError, message });
    t.true(e?.message.includes(path), 'names the file');
    t.regex(e?.message ?? '', /not changed/);
    t.is(await readFile(path, 'utf8'), good + last, 'a complete line is never cut');
  }
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
  await t.throwsAsync(r.append(wallet(2, { idempotencyKeyHash: 'c'.repeat(64) })), {
    instanceOf: RegistryConflictError,
  });
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
  t.deepEqual(
    seen,
    Array.from({ length: 7 }, (_, n) => wallet(n).walletId),
  );
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

test('version 1 files still load; new records are version 2 and the mix loads', async (t) => {
  const path = await tempFile(t);
  const v1 = {
    v: 1,
    walletId: 'w_wallet0001',
    publicKey: GENERATOR_HEX,
    createdAt: new Date(1_700_000_000_001).toISOString(),
    idempotencyKeyHash: 'd'.repeat(64),
  };
  await (await WalletRegistry.open(path)).close();
  await writeFile(path, JSON.stringify(v1) + '\n');
  const r = await WalletRegistry.open(path);
  t.deepEqual(r.get('w_wallet0001'), wallet(1, { idempotencyKeyHash: 'd'.repeat(64) }));
  t.deepEqual(r.pending(), []);
  await r.begin({ walletId: 'w_wallet0002', startedAt: new Date(0).toISOString() });
  await r.append(wallet(2));
  await r.close();
  const lines = (await readFile(path, 'utf8'))
    .split('\n')
    .slice(0, -1)
    .map((l) => JSON.parse(l) as { v: number; state?: string });
  t.deepEqual(
    lines.map((l) => [l.v, l.state]),
    [
      [1, undefined],
      [2, 'pending'],
      [2, 'committed'],
    ],
  );
  const again = await WalletRegistry.open(path);
  t.deepEqual(
    again.list().wallets.map((w) => w.walletId),
    ['w_wallet0001', 'w_wallet0002'],
  );
  await again.close();
});

test('pending records: durable before begin resolves; without a commit they are listed after a restart', async (t) => {
  const path = await tempFile(t);
  const r = await WalletRegistry.open(path);
  const at = new Date(1_700_000_000_000).toISOString();
  await r.begin({ walletId: 'w_wallet0001', label: 'a', startedAt: at });
  t.regex(await readFile(path, 'utf8'), /"state":"pending","walletId":"w_wallet0001"/, 'on disk when begin resolves');
  t.deepEqual(r.pending(), [], 'a key generation under way is not listed');
  t.is(r.count, 0, 'not a wallet yet');
  t.is(r.get('w_wallet0001'), undefined);
  await r.begin({ walletId: 'w_wallet0002', startedAt: at });
  await r.append(wallet(2));
  await r.begin({ walletId: 'w_wallet0003', startedAt: at });
  await r.abandon('w_wallet0003');
  t.deepEqual(r.pending(), [{ walletId: 'w_wallet0003', startedAt: at, state: 'failed' }]);
  await t.throwsAsync(r.begin({ walletId: 'w_wallet0002', startedAt: at }), { instanceOf: RegistryConflictError });
  await t.throwsAsync(r.append(wallet(3)), { instanceOf: RegistryConflictError, message: /abandoned/ });
  await t.throwsAsync(r.abandon('w_wallet0002'), { instanceOf: RangeError });
  await t.throwsAsync(r.begin({ walletId: 'w_wallet0004', label: 'x'.repeat(200), startedAt: at }), {
    instanceOf: RangeError,
  });
  await r.close();
  const again = await WalletRegistry.open(path);
  t.deepEqual(again.pending(), [
    { walletId: 'w_wallet0001', label: 'a', startedAt: at, state: 'interrupted' },
    { walletId: 'w_wallet0003', startedAt: at, state: 'failed' },
  ]);
  t.deepEqual(
    again.list().wallets.map((w) => w.walletId),
    ['w_wallet0002'],
  );
  // the interrupted one can still be committed (e.g. by reconciliation that found every share)
  await again.append(wallet(1, { label: 'a' }));
  t.deepEqual(
    again.pending().map((p) => p.walletId),
    ['w_wallet0003'],
  );
  await again.close();
});

test('contradicting state records stop the load', async (t) => {
  const path = await tempFile(t);
  const at = new Date(0).toISOString();
  const pending = JSON.stringify({ v: 2, state: 'pending', walletId: 'w_wallet0001', startedAt: at });
  const abandoned = JSON.stringify({ v: 2, state: 'abandoned', walletId: 'w_wallet0001' });
  const committed = JSON.stringify({ v: 2, state: 'committed', ...wallet(1) });
  await (await WalletRegistry.open(path)).close();
  for (const [lines, message] of [
    [[pending, pending], /line 2 repeats wallet/],
    [[abandoned], /line 1 abandons wallet w_wallet0001, which was not pending/],
    [[pending, abandoned, committed], /line 3 commits wallet w_wallet0001, which was abandoned/],
    [[committed, pending], /line 2 repeats wallet/],
  ] as const) {
    await writeFile(path, lines.join('\n') + '\n');
    await t.throwsAsync(WalletRegistry.open(path), { instanceOf: RegistryCorruptError, message });
  }
});

test('resolved records: a pending wallet that can never commit is resolved once; its id stays dead across a restart', async (t) => {
  const path = await tempFile(t);
  const at = new Date(0).toISOString();
  const registry = await WalletRegistry.open(path);
  await registry.begin({ walletId: 'w_interrupt1', startedAt: at });
  await registry.begin({ walletId: 'w_failedkg1', startedAt: at });
  await registry.begin({ walletId: 'w_stillrun1', startedAt: at });
  await registry.abandon('w_failedkg1');
  await t.throwsAsync(
    registry.resolve('w_stillrun1'),
    { instanceOf: RangeError },
    'a keygen under way is never resolved',
  );
  await t.throwsAsync(registry.resolve('w_unknown01'), { instanceOf: RangeError });
  await registry.resolve('w_failedkg1');
  t.is(registry.status('w_failedkg1'), 'resolved');
  await registry.close();

  const reopened = await WalletRegistry.open(path);
  t.is(reopened.status('w_interrupt1'), 'interrupted');
  t.is(reopened.status('w_failedkg1'), 'resolved');
  t.is(reopened.status('w_unknown01'), undefined);
  await reopened.resolve('w_interrupt1');
  t.deepEqual(
    reopened.pending().map((p) => p.walletId),
    ['w_stillrun1'],
    'resolved wallets are not pending any more',
  );
  await t.throwsAsync(reopened.append({ ...wallet(1), walletId: 'w_interrupt1' }), {
    instanceOf: RegistryConflictError,
  });
  await t.throwsAsync(reopened.begin({ walletId: 'w_failedkg1', startedAt: at }), {
    instanceOf: RegistryConflictError,
  });
  await reopened.close();

  const resolved = JSON.stringify({ v: 2, state: 'resolved', walletId: 'w_wallet0001' });
  const pending = JSON.stringify({ v: 2, state: 'pending', walletId: 'w_wallet0001', startedAt: at });
  const committed = JSON.stringify({ v: 2, state: 'committed', ...wallet(1) });
  for (const [lines, message] of [
    [[resolved], /line 1 resolves wallet w_wallet0001, which was not pending/],
    [[pending, resolved, committed], /line 3 commits wallet w_wallet0001, which was resolved/],
    [[pending, resolved, pending], /line 3 repeats wallet/],
    [[pending, resolved, resolved], /line 3 resolves wallet/],
  ] as const) {
    await writeFile(path, lines.join('\n') + '\n');
    await t.throwsAsync(WalletRegistry.open(path), { instanceOf: RegistryCorruptError, message });
  }
});

test.serial('a failed write refuses every later write with a 503 until reopened; the file still loads', async (t) => {
  const path = await tempFile(t);
  const r = await WalletRegistry.open(path);
  await r.append(wallet(1));
  const probe = await open(path, 'r');
  const proto = Object.getPrototypeOf(probe) as { write: (...a: unknown[]) => Promise<unknown> };
  await probe.close();
  const original = proto.write;
  proto.write = async function (this: unknown, ...a: unknown[]): Promise<unknown> {
    await original.call(this, Buffer.from('{"v":2,"st'), 0, 10, (a[3] as number) ?? 0); // part of the line lands
    throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
  };
  try {
    const e = await t.throwsAsync(r.begin({ walletId: 'w_wallet0002', startedAt: new Date(0).toISOString() }), {
      instanceOf: RegistryUnavailableError,
    });
    t.is(e?.status, 503);
    t.is(e?.problem, 'registry-unavailable');
    t.notRegex(e?.message ?? '', /ENOSPC|\//, 'no OS error or path in what the API shows');
  } finally {
    proto.write = original;
  }
  t.false(r.writable);
  // the disk is fine again, but the registry stays refused until a restart
  await t.throwsAsync(r.begin({ walletId: 'w_wallet0003', startedAt: new Date(0).toISOString() }), {
    instanceOf: RegistryUnavailableError,
  });
  await t.throwsAsync(r.append(wallet(3)), { instanceOf: RegistryUnavailableError });
  t.is(r.get('w_wallet0001')?.walletId, 'w_wallet0001', 'reads still work');
  await r.close();
  const again = await WalletRegistry.open(path);
  t.true(again.writable);
  t.is(again.count, 1);
  await again.begin({ walletId: 'w_wallet0004', startedAt: new Date(0).toISOString() });
  await again.close();
});

test('archive and restore records: durable across a reopen, written once per change, the last one wins', async (t) => {
  const path = await tempFile(t);
  const r = await WalletRegistry.open(path);
  await r.append(wallet(1));
  await r.append(wallet(2));
  t.false(r.isArchived('w_wallet0001'));
  t.true(await r.setArchived('w_wallet0001', true));
  const size = (await readFile(path)).length;
  t.false(await r.setArchived('w_wallet0001', true), 'a repeat changes nothing');
  t.false(await r.setArchived('w_wallet0002', false), 'restoring an active wallet changes nothing');
  t.is((await readFile(path)).length, size, 'and writes nothing');
  await t.throwsAsync(r.setArchived('w_missing00', true), { instanceOf: RangeError });
  t.true(r.isArchived('w_wallet0001'));
  t.false(r.isArchived('w_wallet0002'));
  await r.close();

  const again = await WalletRegistry.open(path);
  t.true(again.isArchived('w_wallet0001'), 'archived after a reopen');
  t.false(again.isArchived('w_wallet0002'));
  t.is(again.count, 2, 'an archived wallet is still listed');
  t.true(await again.setArchived('w_wallet0001', false));
  await again.close();
  const third = await WalletRegistry.open(path);
  t.false(third.isArchived('w_wallet0001'), 'restored after a reopen');
  await third.close();
  const lines = (await readFile(path, 'utf8'))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  t.deepEqual(
    lines.slice(2).map((l) => [l.v, l.state, l.walletId]),
    [
      [2, 'archived', 'w_wallet0001'],
      [2, 'restored', 'w_wallet0001'],
    ],
  );
  t.false(Number.isNaN(Date.parse(String(lines[2]?.at))));
});

test('files without archive records load with every wallet active; an archive of an unknown wallet stops the load', async (t) => {
  const path = await tempFile(t);
  const old =
    [JSON.stringify({ v: 1, ...wallet(1) }), JSON.stringify({ v: 2, state: 'committed', ...wallet(2) })].join('\n') +
    '\n';
  await (await WalletRegistry.open(path)).close(); // makes the directory
  await writeFile(path, old);
  const r = await WalletRegistry.open(path);
  t.is(r.count, 2);
  t.false(r.isArchived('w_wallet0001'));
  t.false(r.isArchived('w_wallet0002'));
  await r.close();
  t.is(await readFile(path, 'utf8'), old, 'loading changed nothing');

  const stray = JSON.stringify({ v: 2, state: 'archived', walletId: 'w_wallet0009', at: new Date(0).toISOString() });
  await writeFile(path, old + stray + '\n');
  await t.throwsAsync(WalletRegistry.open(path), {
    instanceOf: RegistryCorruptError,
    message: /line 3 archived wallet w_wallet0009, which was not committed/,
  });
  const noTime = JSON.stringify({ v: 2, state: 'archived', walletId: 'w_wallet0001' });
  await writeFile(path, old + noTime + '\n');
  await t.throwsAsync(WalletRegistry.open(path), { instanceOf: RegistryCorruptError, message: /not a wallet record/ });
});

test('purged: only an archived wallet; never restored afterwards, across a reopen; a file restoring a purged wallet is refused', async (t) => {
  const path = await tempFile(t);
  const r = await WalletRegistry.open(path);
  await r.append(wallet(1));
  await t.throwsAsync(r.purge(wallet(1).walletId), { instanceOf: RangeError, message: /is active: archive it first/ });
  await t.throwsAsync(r.purge('w_unknown0001'), { instanceOf: RangeError, message: /not committed/ });
  t.false(r.isPurged(wallet(1).walletId));
  t.true(await r.setArchived(wallet(1).walletId, true));
  t.true(await r.purge(wallet(1).walletId));
  t.false(await r.purge(wallet(1).walletId), 'a repeat writes nothing');
  t.true(r.isPurged(wallet(1).walletId));
  t.true(r.isArchived(wallet(1).walletId), 'archived for good');
  await t.throwsAsync(r.setArchived(wallet(1).walletId, false), {
    instanceOf: WalletPurgedError,
    message: /can never be restored/,
  });
  t.false(await r.setArchived(wallet(1).walletId, true), 'archiving again changes nothing');
  await r.close();

  const lines = (await readFile(path, 'utf8')).trim().split('\n');
  t.is(lines.length, 3);
  t.like(JSON.parse(lines[2] as string), { v: 2, state: 'purged', walletId: wallet(1).walletId });
  const again = await WalletRegistry.open(path);
  t.true(again.isPurged(wallet(1).walletId));
  await t.throwsAsync(again.setArchived(wallet(1).walletId, false), { instanceOf: WalletPurgedError });
  await again.close();

  const at = new Date().toISOString();
  await appendFile(path, JSON.stringify({ v: 2, state: 'restored', walletId: wallet(1).walletId, at }) + '\n');
  await t.throwsAsync(WalletRegistry.open(path), {
    instanceOf: RegistryCorruptError,
    message: /line 4 restored wallet w_wallet0001, which was purged/,
  });
  const other = await tempFile(t);
  await mkdir(dirname(other));
  await writeFile(
    other,
    [
      JSON.stringify({ v: 2, state: 'committed', ...wallet(2) }),
      JSON.stringify({ v: 2, state: 'purged', walletId: wallet(2).walletId, at }),
      '',
    ].join('\n'),
  );
  await t.throwsAsync(WalletRegistry.open(other), { instanceOf: RegistryCorruptError, message: /not archived/ });
});
