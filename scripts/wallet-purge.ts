/**
 * `npm run wallet:purge -- --env <name> --node <id> --wallet <wallet id> [--confirm <wallet id>]`:
 * destroys a wallet's key share at one STOPPED node, irreversibly (src/node/purge.ts): the share,
 * its pending state and evidence, its archived records, its presignatures (burnt) and this node's
 * share backups of it under BACKUP_DIR; the session-id tombstones stay. Prints the wallet's public
 * key first and asks for the wallet id to be typed (or repeated with --confirm). Nodes never do
 * this on a network request: a compromised coordinator could otherwise destroy the funds.
 *
 * `npm run wallet:purge -- --env <name> --coordinator --wallet <wallet id> [--confirm <wallet id>]`:
 * records in the STOPPED coordinator's registry that the wallet is purged (only an archived one):
 * it is listed with `status: "purged"` and can never be restored. With COORDINATOR_DATABASE_URL
 * it records it in the shared database instead, where the running coordinators see it.
 *
 * A node cannot know whether the coordinator archived the wallet, so the node side relies on the
 * operator: archive the wallet first (DELETE /v1/wallets/{id}), check the public key printed here
 * against the wallet's, run the purge on EVERY node and then on the coordinator. A wallet purged on
 * t nodes or more has lost its key for good.
 *
 * Each takes its data directory's lock, so it refuses while that process runs, and is recorded in
 * its audit log.
 * @module
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline/promises';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, nodeEntry } from '../src/config/index.js';
import { WalletRegistry, type WalletStore } from '../src/coordinator/registry.js';
import { PgAuditLog } from '../src/coordinator/store/audit-pg.js';
import { Database } from '../src/coordinator/store/database.js';
import { CoordinatorInstances } from '../src/coordinator/store/instances.js';
import { PostgresWalletRegistry } from '../src/coordinator/store/postgres-wallets.js';
import { openKms } from '../src/kms/open.js';
import { describeWallet } from '../src/node/archive.js';
import { Lifecycle } from '../src/node/lifecycle.js';
import { purgeWallet } from '../src/node/purge.js';
import { RecordStore } from '../src/node/storage/store.js';
import { walletIdSchema } from '../src/rpc/messages.js';
import { AuditLog } from '../src/util/audit-log.js';
import { DirectoryLockError, LOCKED_EXIT_CODE, lockDirectory } from '../src/util/dir-lock.js';

const USAGE = [
  'usage: npm run wallet:purge -- --env <name> --node <node id> --wallet <wallet id> [--confirm <wallet id>]',
  '       npm run wallet:purge -- --env <name> --coordinator --wallet <wallet id> [--confirm <wallet id>]',
];

async function confirmed(walletId: string, given: string | undefined): Promise<boolean> {
  let typed = given;
  if (typed === undefined) {
    const rl = createInterface({ input: process.stdin, output: process.stderr });
    typed = (await rl.question(`Type the wallet id (${walletId}) to destroy it: `)).trim();
    rl.close();
  }
  if (typed === walletId) return true;
  console.error('not confirmed: nothing changed');
  return false;
}

async function purgeAtNode(
  config: ReturnType<typeof loadConfig>,
  nodeId: string,
  walletId: string,
  confirm: string | undefined,
): Promise<number> {
  const self = nodeEntry(config, nodeId);
  const owner = await lockDirectory(self.dataDir, `wallet:purge ${self.id}`);
  try {
    const kms = await openKms(self.kms, self.id);
    try {
      const store = await RecordStore.open({ dir: join(self.dataDir, 'records'), nodeId: self.id, kms });
      const lifecycle = new Lifecycle({ store, parties: [], beforeSwitch: () => Promise.resolve() });
      const held = (await describeWallet(lifecycle, walletId)) as {
        committed?: { publicKey: string; epoch: number };
        pending?: { protocol: string; epoch: number };
      };
      console.error(
        [
          '',
          `  !!! ${self.id}: DESTROYS this node's key share of wallet ${walletId}, irreversibly.`,
          `  !!!   committed share: ${held.committed ? `public key ${held.committed.publicKey}, epoch ${held.committed.epoch}` : 'none'}`,
          `  !!!   pending state: ${held.pending ? `${held.pending.protocol}, epoch ${held.pending.epoch}` : 'none'}`,
          '  !!! Only for a wallet the coordinator has archived and whose funds are gone or moved:',
          '  !!! once t nodes have purged it, nobody can ever sign with this key again.',
          '',
        ].join('\n'),
      );
      if (!(await confirmed(walletId, confirm))) return 1;
      const audit = await AuditLog.open(join(self.dataDir, 'audit.jsonl'));
      try {
        // recorded first: a destruction that is not in the audit log never happens
        await audit.append({
          type: 'wallet.purging',
          walletId,
          publicKey: held.committed?.publicKey ?? null,
          epoch: held.committed?.epoch ?? null,
          by: 'operator',
        });
        const r = await purgeWallet(store, walletId, config.nodes.length);
        // this node's backups of the share (BACKUP_DIR/<node>/<wallet>): they would restore it
        let backups = false;
        if (config.backup) {
          const dir = join(config.backup.dir, self.id, walletIdSchema.parse(walletId));
          await rm(dir, { recursive: true, force: true });
          backups = true;
        }
        await audit.append({
          type: 'wallet.purged',
          walletId,
          deleted: [...r.deleted],
          archivedDeleted: r.archivedDeleted,
          presignaturesBurnt: r.presignaturesBurnt,
          backupsDeleted: backups,
          by: 'operator',
        });
        console.log(
          `${self.id}: wallet ${walletId} purged (${r.deleted.length > 0 ? r.deleted.join(', ') : 'no live record'}` +
            `, ${r.archivedDeleted} archived record(s), ${r.presignaturesBurnt} presignature(s) burnt` +
            `${backups ? ', share backups under BACKUP_DIR deleted' : ''}); tombstones kept. ` +
            'Purge it on every other node and on the coordinator too; delete off-site copies of its backups.',
        );
        if (r.presignaturesUnreadable > 0)
          console.log(`${self.id}: ${r.presignaturesUnreadable} presignature(s) could not be read and were left alone`);
        return 0;
      } finally {
        await audit.close();
      }
    } finally {
      await kms.close();
    }
  } finally {
    await owner.release();
  }
}

async function purgeAtCoordinator(
  config: ReturnType<typeof loadConfig>,
  walletId: string,
  confirm: string | undefined,
): Promise<number> {
  const dataDir = config.coordinator.dataDir;
  const url = config.coordinator.databaseUrl;
  // On files: the stopped coordinator's directory. On the shared database: the running
  // coordinators see the purge within a second (the registry's numbered changes).
  const owner = url === undefined ? await lockDirectory(dataDir, 'wallet:purge coordinator') : undefined;
  const db = url === undefined ? undefined : await Database.open({ url, applicationName: 'mpc-engine wallet:purge' });
  try {
    const instances =
      db === undefined ? undefined : await CoordinatorInstances.start(db, { coordinatorId: 'wallet:purge' });
    const registry: WalletStore =
      db === undefined || instances === undefined
        ? await WalletRegistry.open(join(dataDir, 'wallets.jsonl'))
        : await PostgresWalletRegistry.open(db, { instances });
    try {
      const record = registry.get(walletId);
      if (!record) throw new Error(`the registry has no committed wallet ${walletId}`);
      if (!registry.isPurged(walletId) && !registry.isArchived(walletId))
        throw new Error(
          `wallet ${walletId} is active: archive it first (DELETE /v1/wallets/${walletId}); nothing changed`,
        );
      console.error(
        [
          '',
          `  !!! coordinator: records wallet ${walletId} (public key ${record.publicKey}) as PURGED.`,
          '  !!! It can never be restored afterwards. Purge its shares on every node too.',
          '',
        ].join('\n'),
      );
      if (!(await confirmed(walletId, confirm))) return 1;
      const audit =
        db === undefined
          ? await AuditLog.open(join(dataDir, 'audit.jsonl'))
          : await PgAuditLog.open(db, { writer: 'wallet:purge' });
      try {
        const changed = await registry.purge(walletId);
        if (changed)
          await audit.append({ type: 'wallet.purged', walletId, publicKey: record.publicKey, by: 'operator' });
        console.log(`coordinator: wallet ${walletId} ${changed ? 'recorded as purged' : 'was already purged'}`);
        return 0;
      } finally {
        await audit.close();
      }
    } finally {
      await registry.close();
      await instances?.stop();
    }
  } finally {
    await db?.close();
    await owner?.release();
  }
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    options: {
      env: { type: 'string', default: 'local' },
      node: { type: 'string' },
      coordinator: { type: 'boolean', default: false },
      wallet: { type: 'string' },
      confirm: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    allowPositionals: true,
    strict: true,
  });
  const where = (values.node === undefined ? 0 : 1) + (values.coordinator ? 1 : 0);
  if (
    values.help ||
    where !== 1 ||
    positionals.length > 0 ||
    values.wallet === undefined ||
    !walletIdSchema.safeParse(values.wallet).success
  ) {
    console.log(USAGE.join('\n'));
    return values.help ? 0 : 2;
  }
  const config = loadConfig({ env: values.env });
  return values.coordinator
    ? purgeAtCoordinator(config, values.wallet, values.confirm)
    : purgeAtNode(config, values.node as string, values.wallet, values.confirm);
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(e instanceof ConfigError ? e.message : `wallet:purge: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(e instanceof DirectoryLockError && e.code === 'locked' ? LOCKED_EXIT_CODE : 1);
  },
);
