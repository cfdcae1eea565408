/**
 * One behaviour for both wallet stores: every test below runs against the registry file and against
 * PostgreSQL (a real server). "Reopen" is a coordinator restart: the file read again by a new
 * process, or a new instance on the database (the old one stopped).
 * File-only behaviour (torn lines, damaged files, format versions) is in registry.test.ts; what
 * only a shared store does (two coordinators at once, the database down) is at the end.
 */
import test, { type ExecutionContext } from 'ava';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WalletPurgedError } from '../../../src/coordinator/errors.js';
import {
  InvalidCursorError,
  KeygenTakenOverError,
  RegistryConflictError,
  WalletRegistry,
  type WalletRecord,
  type WalletStore,
} from '../../../src/coordinator/registry.js';
import { Database, StoreUnavailableError } from '../../../src/coordinator/store/database.js';
import { CoordinatorInstances } from '../../../src/coordinator/store/instances.js';
import { PostgresWalletRegistry, WALLET_WRITE_LOCK } from '../../../src/coordinator/store/postgres-wallets.js';
import { startPostgres, type PostgresServer } from '../../helpers/postgres.js';

let server: PostgresServer;
test.before(async () => {
  server = await startPostgres();
});
test.after.always(() => server?.destroy());

interface Opened {
  store: WalletStore;
  /** stops this process's store and opens a new one on the same data */
  reopen: () => Promise<Opened>;
}

interface Kind {
  name: string;
  /** a new, empty registry */
  fresh: (t: ExecutionContext) => Promise<Opened>;
}

const file: Kind = {
  name: 'file',
  fresh: async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'mpc-reg-'));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    const path = join(dir, 'wallets.jsonl');
    const open = async (): Promise<Opened> => {
      const store = await WalletRegistry.open(path);
      t.teardown(() => store.close());
      return {
        store,
        reopen: async () => {
          await store.close();
          return open();
        },
      };
    };
    return open();
  },
};

async function openPg(t: ExecutionContext, url: string, followMs = 1_000) {
  const db = await Database.open({ url, poolSize: 4 });
  const instances = await CoordinatorInstances.start(db, { coordinatorId: 'coordinator' });
  const store = await PostgresWalletRegistry.open(db, { instances, followMs });
  const stop = async () => {
    await store.close();
    await instances.stop();
    await db.close();
  };
  t.teardown(stop);
  return { db, instances, store, stop };
}

const postgres: Kind = {
  name: 'postgresql',
  fresh: async (t) => {
    const url = await server.createDatabase();
    const open = async (): Promise<Opened> => {
      const { store, stop } = await openPg(t, url);
      return {
        store,
        reopen: async () => {
          await stop();
          return open();
        },
      };
    };
    return open();
  },
};

const KEY = (n: number) => '02' + n.toString(16).padStart(64, '0');
const HASH = (n: number) => n.toString(16).padStart(64, 'a');
let ids = 0;
const newId = () => `w_${process.pid}_${++ids}_${randomBytes(4).toString('hex')}`;
const record = (walletId: string, n: number, extra: Partial<WalletRecord> = {}): WalletRecord => ({
  walletId,
  publicKey: KEY(n),
  createdAt: new Date(Date.UTC(2026, 0, 1, 0, 0, n)).toISOString(),
  ...extra,
});
const begin = (s: WalletStore, walletId: string, label?: string) =>
  s.begin({ walletId, ...(label === undefined ? {} : { label }), startedAt: new Date().toISOString() });

for (const kind of [file, postgres]) {
  const it = (title: string, body: (t: ExecutionContext) => Promise<void>) =>
    test.serial(`${kind.name}: ${title}`, body);

  it('begin then commit: the wallet is found by id and idempotency key, counted, listed, and survives a reopen', async (t) => {
    const { store, reopen } = await kind.fresh(t);
    const id = newId();
    await begin(store, id, 'cold');
    t.is(store.status(id), 'running');
    t.deepEqual(store.pending(), [], 'a running key generation is not pending');
    const r = await store.append(record(id, 1, { label: 'cold', idempotencyKeyHash: HASH(1) }));
    t.is(store.status(id), 'committed');
    t.deepEqual(store.get(id), r);
    t.deepEqual(store.byIdempotencyKeyHash(HASH(1)), r);
    t.is(store.count, 1);
    const again = (await reopen()).store;
    t.deepEqual(again.get(id), r);
    t.deepEqual(again.list().wallets, [r]);
    t.is(again.count, 1);
  });

  it('conflicts: a repeated id or idempotency key, a commit of an abandoned or resolved id', async (t) => {
    const { store, reopen } = await kind.fresh(t);
    const a = newId();
    await store.append(record(a, 1, { idempotencyKeyHash: HASH(7) }));
    await t.throwsAsync(begin(store, a), { instanceOf: RegistryConflictError });
    await t.throwsAsync(store.append(record(a, 2)), { instanceOf: RegistryConflictError });
    const b = newId();
    await t.throwsAsync(store.append(record(b, 3, { idempotencyKeyHash: HASH(7) })), {
      instanceOf: RegistryConflictError,
    });
    t.is(store.get(b), undefined);
    const c = newId();
    await begin(store, c);
    await store.abandon(c);
    t.is(store.status(c), 'failed');
    await t.throwsAsync(store.append(record(c, 4)), { instanceOf: RegistryConflictError });
    const s2 = (await reopen()).store;
    await s2.resolve(c);
    t.is(s2.status(c), 'resolved');
    await t.throwsAsync(s2.append(record(c, 4)), { instanceOf: RegistryConflictError });
    await t.throwsAsync(begin(s2, c), { instanceOf: RegistryConflictError });
    t.is(s2.count, 1);
  });

  it('abandon only a key generation this process runs; resolve only an unfinished one', async (t) => {
    const { store, reopen } = await kind.fresh(t);
    await t.throwsAsync(store.abandon(newId()), { instanceOf: RangeError });
    const running = newId();
    await begin(store, running, 'x');
    await t.throwsAsync(store.resolve(running), { instanceOf: RangeError }, 'still running');
    const committed = newId();
    await store.append(record(committed, 1));
    await t.throwsAsync(store.resolve(committed), { instanceOf: RangeError });
    const s2 = (await reopen()).store;
    t.is(s2.status(running), 'interrupted');
    t.like(s2.pending()[0], { walletId: running, label: 'x', state: 'interrupted' });
    t.like(s2.pendingRecord(running), { label: 'x' });
    await t.throwsAsync(s2.abandon(running), { instanceOf: RangeError }, 'not running here');
    t.true(await s2.claim(running), 'a reconciliation takes it over first');
    await s2.resolve(running);
    t.deepEqual(s2.pending(), []);
    t.is(s2.pendingRecord(running), undefined);
    await t.throwsAsync(s2.resolve(running), { instanceOf: RangeError }, 'once');
  });

  it('claim: only an interrupted key generation, before the reconciliation commits or resolves it', async (t) => {
    const { store, reopen } = await kind.fresh(t);
    const running = newId();
    await begin(store, running, 'r');
    const failed = newId();
    await begin(store, failed);
    await store.abandon(failed);
    const committed = newId();
    await store.append(record(committed, 1));
    t.false(await store.claim(running), 'running here');
    t.false(await store.claim(failed), 'failed: nobody runs it, nothing to take over');
    t.false(await store.claim(committed));
    t.false(await store.claim(newId()), 'unknown');
    const recovered = newId();
    await begin(store, recovered, 'v');
    const s2 = (await reopen()).store;
    t.true(await s2.claim(running));
    t.true(await s2.claim(running), 'claiming again what this process claimed is no change');
    t.is(s2.status(running), 'interrupted', 'claimed, it is still for this process’s reconciliation to settle');
    await s2.resolve(running);
    t.is(s2.status(running), 'resolved');
    t.false(await s2.claim(running), 'resolved');
    t.true(await s2.claim(recovered));
    const start = s2.pendingRecord(recovered)?.startedAt as string;
    await s2.append({ walletId: recovered, label: 'v', publicKey: KEY(2), createdAt: start });
    t.is(s2.status(recovered), 'committed');
    t.false(await s2.claim(recovered), 'committed');
  });

  it('a failed key generation stays pending (nodes may hold its states) until resolved', async (t) => {
    const { store, reopen } = await kind.fresh(t);
    const id = newId();
    await begin(store, id);
    await store.abandon(id);
    t.like(store.pending(), [{ walletId: id, state: 'failed' }]);
    const s2 = (await reopen()).store;
    t.like(s2.pending(), [{ walletId: id, state: 'failed' }]);
    await s2.resolve(id);
    t.deepEqual((await reopen()).store.pending(), []);
  });

  it('archive, restore, purge: written once per change, purged only when archived, never restored', async (t) => {
    const { store, reopen } = await kind.fresh(t);
    const id = newId();
    await store.append(record(id, 1));
    await t.throwsAsync(store.setArchived(newId(), true), { instanceOf: RangeError });
    await t.throwsAsync(store.purge(id), { instanceOf: RangeError, message: /archive it first/ });
    t.true(await store.setArchived(id, true));
    t.false(await store.setArchived(id, true));
    t.true(store.isArchived(id));
    const s2 = (await reopen()).store;
    t.true(s2.isArchived(id));
    t.true(await s2.setArchived(id, false));
    t.false(s2.isArchived(id));
    t.true(await s2.setArchived(id, true));
    t.true(await s2.purge(id));
    t.false(await s2.purge(id));
    t.true(s2.isPurged(id));
    await t.throwsAsync(s2.setArchived(id, false), { instanceOf: WalletPurgedError });
    const s3 = (await reopen()).store;
    t.true(s3.isPurged(id));
    t.true(s3.isArchived(id));
  });

  it('pagination returns every wallet once, in commit order; cursors from elsewhere are refused', async (t) => {
    const { store, reopen } = await kind.fresh(t);
    const committed: string[] = [];
    for (let n = 0; n < 23; n++) {
      const id = newId();
      if (n % 5 === 0) await begin(store, id);
      await store.append(record(id, n));
      committed.push(id);
    }
    const walk = (s: WalletStore, limit: number) => {
      const seen: string[] = [];
      let cursor: string | undefined;
      do {
        const page = s.list({ limit, ...(cursor === undefined ? {} : { cursor }) });
        t.true(page.wallets.length <= limit);
        seen.push(...page.wallets.map((w) => w.walletId));
        cursor = page.nextCursor;
      } while (cursor !== undefined);
      return seen;
    };
    t.deepEqual(walk(store, 5), committed);
    t.deepEqual(walk((await reopen()).store, 7), committed);
    t.throws(() => store.list({ cursor: 'bm90LWEtY3Vyc29y' }), { instanceOf: InvalidCursorError });
    t.throws(() => store.list({ limit: 0 }), { instanceOf: RangeError });
    t.throws(() => store.list({ limit: 101 }), { instanceOf: RangeError });
  });

  it('invalid records are refused and nothing is stored', async (t) => {
    const { store } = await kind.fresh(t);
    await t.throwsAsync(store.append({ ...record(newId(), 1), publicKey: '04abcd' }), { instanceOf: RangeError });
    await t.throwsAsync(store.append({ ...record(newId(), 1), label: 'x'.repeat(129) }), { instanceOf: RangeError });
    await t.throwsAsync(store.append(record('not a wallet id!', 1)), { instanceOf: RangeError });
    await t.throwsAsync(store.begin({ walletId: newId(), startedAt: 'yesterday' }), { instanceOf: RangeError });
    t.is(store.count, 0);
  });
}

// What only a shared store does.

test.serial(
  'postgresql: two coordinators see each other’s wallets: on catch-up at once, by notification within a second',
  async (t) => {
    const url = await server.createDatabase();
    const a = await openPg(t, url, 60_000); // no polling: only notifications and catch-ups
    const b = await openPg(t, url, 60_000);
    const id = newId();
    await begin(a.store, id);
    await b.store.catchUp();
    t.is(b.store.status(id), 'running', 'a live coordinator’s key generation is running, not interrupted');
    await a.store.append(record(id, 1, { idempotencyKeyHash: HASH(9) }));
    const deadline = Date.now() + 5_000;
    while (b.store.get(id) === undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    t.truthy(b.store.get(id), 'notified');
    t.truthy(b.store.byIdempotencyKeyHash(HASH(9)));
    await b.store.setArchived(id, true);
    await a.store.catchUp();
    t.true(a.store.isArchived(id));
  },
);

test.serial('postgresql: one idempotency key begun at two coordinators at once: one key generation', async (t) => {
  const url = await server.createDatabase();
  const a = await openPg(t, url);
  const b = await openPg(t, url);
  for (let round = 0; round < 10; round++) {
    const results = await Promise.allSettled(
      [a, b].map((c) =>
        c.store.begin({
          walletId: newId(),
          startedAt: new Date().toISOString(),
          idempotencyKeyHash: HASH(100 + round),
        }),
      ),
    );
    t.is(results.filter((r) => r.status === 'fulfilled').length, 1);
    const refused = results.find((r) => r.status === 'rejected');
    t.true(refused?.status === 'rejected' && refused.reason instanceof RegistryConflictError);
  }
});

test.serial('postgresql: a failed key generation gives its idempotency key back', async (t) => {
  const url = await server.createDatabase();
  const a = await openPg(t, url);
  const id = newId();
  await a.store.begin({ walletId: id, startedAt: new Date().toISOString(), idempotencyKeyHash: HASH(5) });
  await a.store.abandon(id);
  const retry = newId();
  await a.store.begin({ walletId: retry, startedAt: new Date().toISOString(), idempotencyKeyHash: HASH(5) });
  t.like(await a.store.append(record(retry, 1, { idempotencyKeyHash: HASH(5) })), { walletId: retry });
});

test.serial(
  'postgresql: a coordinator that stops leaves its key generation interrupted for the others to resolve',
  async (t) => {
    const url = await server.createDatabase();
    const a = await openPg(t, url);
    const b = await openPg(t, url);
    const id = newId();
    await begin(a.store, id);
    await b.store.catchUp();
    await t.throwsAsync(b.store.resolve(id), { instanceOf: RangeError }, 'running at a');
    await a.stop();
    await b.instances.renew();
    t.is(b.store.status(id), 'interrupted');
    await t.throwsAsync(b.store.resolve(id), { instanceOf: RangeError }, 'not before it is claimed');
    t.true(await b.store.claim(id));
    await b.store.resolve(id);
    t.is(b.store.status(id), 'resolved');
  },
);

test.serial(
  'postgresql: a key generation begun by a coordinator that started after this one last renewed its liveness is running here',
  async (t) => {
    const url = await server.createDatabase();
    const a = await openPg(t, url, 60_000);
    const b = await openPg(t, url, 60_000); // registered after a's last renewal
    const id = newId();
    await begin(b.store, id);
    await a.store.catchUp();
    t.is(a.store.status(id), 'running', 'not interrupted: its coordinator is alive');
    t.deepEqual(a.store.pending(), []);
    await b.stop();
    await a.instances.renew();
    t.is(a.store.status(id), 'interrupted', 'once its coordinator stopped');
  },
);

test.serial(
  'postgresql: a key generation recovered by another coordinator keeps its Idempotency-Key: a retry finds the wallet',
  async (t) => {
    const url = await server.createDatabase();
    const a = await openPg(t, url);
    const id = newId();
    await a.store.begin({
      walletId: id,
      label: 'l',
      startedAt: new Date().toISOString(),
      idempotencyKeyHash: HASH(11),
    });
    await a.stop(); // stopped after the nodes stored their shares, before the commit
    const b = await openPg(t, url);
    t.is(b.store.status(id), 'interrupted');
    // the reconciliation's commit of a recovered wallet: from the pending record, which has no key
    const pending = b.store.pendingRecord(id);
    t.true(await b.store.claim(id));
    await b.store.append({ walletId: id, label: 'l', publicKey: KEY(11), createdAt: pending?.startedAt as string });
    t.like(b.store.byIdempotencyKeyHash(HASH(11)), { walletId: id }, 'a retry with the key is answered this wallet');
    await t.throwsAsync(
      b.store.begin({ walletId: newId(), startedAt: new Date().toISOString(), idempotencyKeyHash: HASH(11) }),
      { instanceOf: RegistryConflictError },
      'never a second key generation for the key',
    );
  },
);

test.serial(
  'postgresql: many commits from two coordinators: both copies list the same wallets in the same order',
  async (t) => {
    const url = await server.createDatabase();
    const a = await openPg(t, url);
    const b = await openPg(t, url);
    await Promise.all(Array.from({ length: 40 }, (_, n) => (n % 2 ? a : b).store.append(record(newId(), n))));
    await a.store.catchUp();
    await b.store.catchUp();
    const ids = (s: WalletStore) => s.list({ limit: 100 }).wallets.map((w) => w.walletId);
    t.is(ids(a.store).length, 40);
    t.deepEqual(ids(a.store), ids(b.store));
  },
);

test.serial(
  'postgresql: the database down: writes are 503s, reads answer from the copy, and it works again once back',
  async (t) => {
    const url = await server.createDatabase();
    const a = await openPg(t, url);
    const id = newId();
    await a.store.append(record(id, 1));
    await server.stop('immediate');
    try {
      await t.throwsAsync(begin(a.store, newId()), { instanceOf: StoreUnavailableError });
      await t.throwsAsync(a.store.setArchived(id, true), { instanceOf: StoreUnavailableError });
      await t.throwsAsync(a.store.catchUp(), { instanceOf: StoreUnavailableError });
      t.false(a.store.reachable, '/health says so');
      t.truthy(a.store.get(id));
      t.false(a.store.isArchived(id));
    } finally {
      await server.start();
    }
    await a.store.catchUp();
    t.true(a.store.reachable);
    const after = newId();
    await begin(a.store, after);
    await a.store.append(record(after, 2));
    t.is(a.store.count, 2);
    t.false(a.store.isArchived(id), 'the refused write left nothing behind');
  },
);

/** A coordinator paused past its liveness (30 s in production): its row expires, its store stays open. */
const pause = (c: { instances: CoordinatorInstances }) => c.instances.stop();
/** ... and wakes up: its next renewal makes it alive again. */
const wake = (c: { instances: CoordinatorInstances }) => c.instances.renew();

test.serial(
  'postgresql: a key generation finishing after another coordinator recovered its wallet commits as that wallet',
  async (t) => {
    const url = await server.createDatabase();
    const a = await openPg(t, url);
    const b = await openPg(t, url);
    const id = newId();
    await a.store.begin({ walletId: id, startedAt: new Date().toISOString(), idempotencyKeyHash: HASH(77) });
    await pause(a);
    // b's reconciliation claims it and finds every node committed under the key: it recovers the wallet
    t.true(await b.store.claim(id));
    await b.store.append(record(id, 1));
    await wake(a);
    const late = await a.store.append(
      record(id, 1, { createdAt: new Date().toISOString(), idempotencyKeyHash: HASH(77) }),
    );
    t.is(late.publicKey, KEY(1));
    t.deepEqual(a.store.get(id), b.store.get(id) ?? (await b.store.catchUp(), b.store.get(id)));
    t.truthy(a.store.byIdempotencyKeyHash(HASH(77)), 'the recovery kept the key its begin reserved');
    await t.throwsAsync(
      a.store.append(record(id, 2)),
      { instanceOf: KeygenTakenOverError },
      'another key is refused: the row is the claimant’s',
    );
  },
);

test.serial(
  'postgresql: a paused coordinator whose key generation was claimed can neither commit nor abandon it; the claimant’s outcome stands',
  async (t) => {
    const url = await server.createDatabase();
    const a = await openPg(t, url);
    const b = await openPg(t, url);
    const id = newId();
    await a.store.begin({ walletId: id, startedAt: new Date().toISOString(), idempotencyKeyHash: HASH(21) });
    await b.store.catchUp();
    t.false(await b.store.claim(id), 'refused while its coordinator is alive');
    await t.throwsAsync(b.store.resolve(id), { instanceOf: RangeError }, 'no resolve without a claim');
    await t.throwsAsync(
      b.store.append(record(id, 3)),
      { instanceOf: RegistryConflictError },
      'no commit of another coordinator’s key generation',
    );
    await pause(a);
    t.true(await b.store.claim(id));
    await a.store.catchUp();
    t.is(a.store.status(id), 'running', 'claimed by a live coordinator: not for a to reconcile');
    await wake(a);
    // a's key generation finishes (or fails) after b took it over: refused in the same transaction
    await t.throwsAsync(a.store.append(record(id, 4, { idempotencyKeyHash: HASH(21) })), {
      instanceOf: KeygenTakenOverError,
    });
    await t.throwsAsync(a.store.abandon(id), { instanceOf: KeygenTakenOverError });
    t.is(a.store.get(id), undefined, 'no wallet answered at a');
    t.false(await a.store.claim(id), 'b is alive: a cannot take it back');
    // b's reconciliation found the run could never commit: the nodes archived it
    await b.store.resolve(id);
    await t.throwsAsync(a.store.append(record(id, 4, { idempotencyKeyHash: HASH(21) })), {
      instanceOf: KeygenTakenOverError,
    });
    await a.store.catchUp();
    t.is(a.store.status(id), 'resolved', 'the claimant’s outcome stands');
    // the key is free again: a retry makes a new wallet
    const retry = newId();
    await a.store.begin({ walletId: retry, startedAt: new Date().toISOString(), idempotencyKeyHash: HASH(21) });
    await a.store.append(record(retry, 5, { idempotencyKeyHash: HASH(21) }));
    t.is(a.store.byIdempotencyKeyHash(HASH(21))?.walletId, retry);
  },
);

test.serial(
  'postgresql: a wallet recovered by the claimant and archived since is not answered by its woken owner',
  async (t) => {
    const url = await server.createDatabase();
    const a = await openPg(t, url);
    const b = await openPg(t, url);
    const id = newId();
    await a.store.begin({ walletId: id, startedAt: new Date().toISOString() });
    await pause(a);
    t.true(await b.store.claim(id));
    await b.store.append(record(id, 6));
    await b.store.setArchived(id, true);
    await wake(a);
    await t.throwsAsync(a.store.append(record(id, 6)), { instanceOf: KeygenTakenOverError });
    await a.store.catchUp();
    t.true(a.store.isArchived(id), 'the archive stands');
  },
);

test.serial('postgresql: a claim racing its owner’s commit: one of the two wins, never both', async (t) => {
  const url = await server.createDatabase();
  const a = await openPg(t, url);
  const b = await openPg(t, url);
  let claims = 0;
  let commits = 0;
  for (let round = 0; round < 12; round++) {
    const id = newId();
    await a.store.begin({ walletId: id, startedAt: new Date().toISOString() });
    // a's liveness expires while its commit is on its way
    await a.db.query('UPDATE coordinator_instances SET alive_until = now() WHERE instance_id = $1', [a.db.instanceId]);
    const [claim, commit] = await Promise.allSettled([b.store.claim(id), a.store.append(record(id, round))]);
    const claimed = claim.status === 'fulfilled' && claim.value;
    const committed = commit.status === 'fulfilled';
    t.true(claimed !== committed, `round ${round}: exactly one of claim and commit`);
    if (!committed) t.true(commit.status === 'rejected' && commit.reason instanceof KeygenTakenOverError);
    await b.store.catchUp();
    t.is(b.store.status(id), committed ? 'committed' : 'interrupted');
    if (claimed) claims++;
    else commits++;
    await a.instances.renew();
  }
  t.log(`claims won ${claims}, commits won ${commits}`);
});

test.serial(
  'postgresql: a claimant that dies leaves the key generation claimable by the next; it was interrupted for itself, running for the others',
  async (t) => {
    const url = await server.createDatabase();
    const a = await openPg(t, url);
    const b = await openPg(t, url);
    const c = await openPg(t, url);
    const id = newId();
    await begin(a.store, id);
    await a.stop();
    t.true(await b.store.claim(id));
    t.is(
      b.store.status(id),
      'interrupted',
      'at the claimant: its reconciliation settles it (again, if it did not finish)',
    );
    t.like(b.store.pending(), [{ walletId: id, state: 'interrupted' }]);
    await c.store.catchUp();
    t.is(c.store.status(id), 'running', 'at the others: taken');
    t.false(await c.store.claim(id));
    await b.stop();
    t.true(await c.store.claim(id));
    await c.store.resolve(id);
    t.is(c.store.status(id), 'resolved');
  },
);

test.serial(
  'postgresql: ensureCurrent answers from a fresh copy without a query; an older copy catches up first, or is a 503 when the database is away',
  async (t) => {
    const url = await server.createDatabase();
    const a = await openPg(t, url);
    const b = await openPg(t, url, 60_000); // no polling: the copy ages unless something reads
    const id = newId();
    await a.store.append(record(id, 1));
    await b.store.catchUp();
    // an archive whose notification is lost (a dropped LISTEN connection): the row changes, in order,
    // and nothing tells b
    await a.db.transaction(async (c) => {
      await c.query('SELECT pg_advisory_xact_lock($1)', [WALLET_WRITE_LOCK]);
      await c.query(
        `UPDATE wallets SET archived = true, change_seq = nextval('wallet_change_seq') WHERE wallet_id = $1`,
        [id],
      );
    });
    await b.store.ensureCurrent(60_000);
    t.false(b.store.isArchived(id), 'a copy within the bound is trusted as it is: no query');
    await new Promise((r) => setTimeout(r, 250));
    await b.store.ensureCurrent(200);
    t.true(b.store.isArchived(id), 'older than the bound: caught up first, the archive is seen');
    await server.stop('immediate');
    try {
      await b.store.ensureCurrent(60_000); // fresh: no query, so the database being away is not noticed
      await new Promise((r) => setTimeout(r, 250));
      await t.throwsAsync(b.store.ensureCurrent(200), { instanceOf: StoreUnavailableError });
      t.false(b.store.reachable);
    } finally {
      await server.start();
    }
    await b.store.ensureCurrent(200);
    t.true(b.store.reachable);
  },
);
