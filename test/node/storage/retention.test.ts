/**
 * Retention of single-use records (src/node/storage/retention.ts): what is deleted, when, and that
 * no deletion lets a presignature sign twice or a session id start twice. The store runs on a clock
 * the test moves, so ages are exact.
 */
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { openLocalKms } from '../../../src/kms/local.js';
import { PresignatureUsedError, SessionReplayError, StorageError } from '../../../src/node/storage/errors.js';
import { Presignatures, SeenSessions } from '../../../src/node/storage/presignatures.js';
import { pruneSingleUse, type RetentionPolicy } from '../../../src/node/storage/retention.js';
import { RecordStore } from '../../../src/node/storage/store.js';
import { tempDir } from '../../helpers/storage.js';

const HOUR = 3_600_000;
const POLICY: RetentionPolicy = { presignatureMaxAgeMs: 24 * HOUR, graceMs: HOUR };

async function clocked(t: Parameters<typeof tempDir>[0]) {
  const root = await tempDir(t);
  const clock = { now: Date.UTC(2026, 0, 1) };
  const kms = await openLocalKms({ root: join(root, 'kms'), nodeId: 'node_1' });
  const store = await RecordStore.open({ dir: join(root, 'store'), nodeId: 'node_1', kms, clock: () => clock.now });
  return { store, clock, presigs: new Presignatures(store), seen: new SeenSessions(store) };
}

test('the store stamps its clock on each record as the time it was written', async (t) => {
  const { store, clock } = await clocked(t);
  await store.put('presig', 'a', randomBytes(8));
  clock.now += 5 * HOUR;
  t.true(await store.create('presig-used', 'a', randomBytes(8)));
  const staged = await store.stageCreate('sid-seen', 'b', randomBytes(8));
  t.true(await staged.publish());
  t.is(await store.writtenAt('presig', 'a'), clock.now - 5 * HOUR);
  t.is(await store.writtenAt('presig-used', 'a'), clock.now);
  t.is(await store.writtenAt('sid-seen', 'b'), clock.now);
  t.is(await store.writtenAt('presig', 'missing'), undefined);
});

test('an unused presignature is burnt once older than PRESIGN_MAX_AGE, not before; it can never sign after', async (t) => {
  const { clock, presigs, seen } = await clocked(t);
  await presigs.save('old', randomBytes(32));
  clock.now += 12 * HOUR;
  await presigs.save('young', randomBytes(32));
  clock.now += 12 * HOUR; // old: exactly 24 h, not older
  t.like(await pruneSingleUse(presigs, seen, POLICY, clock.now), { expired: 0 });
  clock.now += 1;
  t.like(await pruneSingleUse(presigs, seen, POLICY, clock.now), { expired: 1 });
  await t.throwsAsync(presigs.claim('old'), { instanceOf: PresignatureUsedError }, 'burnt: marked used');
  t.deepEqual((await presigs.claim('young')).secret.length, 32, 'the younger one still signs');
});

test('a used-marker is deleted after the grace period only once its secret is gone; the id then neither signs nor is stored again', async (t) => {
  const { store, clock, presigs, seen } = await clocked(t);
  await presigs.save('p', randomBytes(32));
  await presigs.save('stuck', randomBytes(32));
  const claimed = await presigs.claim('p');
  await claimed.deleted;
  // a marker whose secret deletion failed (a crash between the two): kept however old
  await store.create('presig-used', 'stuck', randomBytes(8));
  t.like(await pruneSingleUse(presigs, seen, POLICY, clock.now + HOUR), { markers: 0 }, 'within the grace period');
  t.like(await pruneSingleUse(presigs, seen, POLICY, clock.now + HOUR + 1), { markers: 1 });
  t.false(await store.has('presig-used', 'p'));
  t.true(await store.has('presig-used', 'stuck'), 'its secret is still on disk: the marker stays');
  await t.throwsAsync(presigs.claim('stuck'), { instanceOf: PresignatureUsedError });
  const e = await t.throwsAsync(presigs.claim('p'), { instanceOf: StorageError });
  t.is(e?.code, 'not-found', 'without its secret a presignature cannot sign');
});

test("a claim that read the secret before another use, and publishes after that use's marker was pruned, is refused", async (t) => {
  const { store, clock, presigs, seen } = await clocked(t);
  await presigs.save('p', randomBytes(32));
  // the late claim's marker is held back at its publication, after it read the secret
  let reached!: () => void;
  const atPublish = new Promise<void>((r) => (reached = r));
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const held = new Proxy(store, {
    get(target, prop, receiver) {
      if (prop !== 'stageCreate') {
        const v: unknown = Reflect.get(target, prop, receiver);
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      }
      return async (...args: Parameters<RecordStore['stageCreate']>) => {
        const staged = await target.stageCreate(...args);
        return {
          publish: async () => {
            reached();
            await gate;
            return staged.publish();
          },
          discard: () => staged.discard(),
        };
      };
    },
  });
  const late = new Presignatures(held).claim('p');
  late.catch(() => undefined);
  await atPublish;
  // meanwhile another claim uses it, its secret is deleted, and its marker ages out and is pruned
  await (
    await presigs.claim('p')
  ).deleted;
  t.like(await pruneSingleUse(presigs, seen, POLICY, clock.now + 2 * HOUR), { markers: 1 });
  t.false(await store.has('presig-used', 'p'));
  release();
  await t.throwsAsync(late, { instanceOf: PresignatureUsedError }, 'the second use is refused');
});

test('seen session ids are deleted after the grace period; confirmation tombstones and legacy records stay', async (t) => {
  const { store, clock, presigs, seen } = await clocked(t);
  const sid = randomBytes(32);
  const confirmed = randomBytes(32);
  await seen.rememberSid(sid);
  await seen.rememberConfirmed('wallet-1', confirmed);
  await t.throwsAsync(seen.rememberSid(sid), { instanceOf: SessionReplayError });
  t.like(await pruneSingleUse(presigs, seen, POLICY, clock.now + HOUR), { sessions: 0 });
  t.like(await pruneSingleUse(presigs, seen, POLICY, clock.now + HOUR + 1), { sessions: 1 });
  t.false(await seen.hasSeen(sid));
  t.true(await seen.wasConfirmed('wallet-1', confirmed), 'a tombstone is kept for ever');
  t.is((await store.list('sid')).length, 2, 'the two tombstone records are untouched');
  // a sid a store recorded before seen sids had their own kind still refuses a repeat
  const legacy = randomBytes(32);
  await seen.rememberSid(legacy);
  const [id] = await store.list('sid-seen');
  await store.create('sid', id as string, randomBytes(8));
  await store.delete('sid-seen', id as string);
  await t.throwsAsync(seen.rememberSid(legacy), { instanceOf: SessionReplayError });
});
