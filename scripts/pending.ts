/**
 * `npm run pending -- --env <name> --node <id> list`: the pending states of a stopped node — a
 * successor (aux-info, or a wallet's key share) stored beside the committed state while its run
 * waits for every party's confirmation (src/node/lifecycle.ts).
 *
 * `npm run pending -- --env <name> --node <id> drop --scope <scope> --sid <sid>`: drops one. For a
 * pending state that can never be committed nor abandoned by the protocol: two honest nodes
 * confirmed a run whose third party withholds its confirmation (docs/security.md, State switches).
 * Drop it on EVERY node that holds it, never on some only: a node that keeps it could still commit
 * it on the withheld evidence while the others stay on the old state. The session id must be the one
 * `list` shows (the same run on every node); the drop is recorded in the node's audit log.
 *
 * Takes the node's data-directory lock, so it refuses while the node runs.
 * @module
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, nodeEntry } from '../src/config/index.js';
import { openKms } from '../src/kms/open.js';
import { Lifecycle } from '../src/node/lifecycle.js';
import { RecordStore } from '../src/node/storage/store.js';
import { AuditLog } from '../src/util/audit-log.js';
import { DirectoryLockError, LOCKED_EXIT_CODE, lockDirectory } from '../src/util/dir-lock.js';

const USAGE = [
  'usage: npm run pending -- --env <name> --node <node id> list',
  '       npm run pending -- --env <name> --node <node id> drop --scope <aux | wallet id> --sid <64 hex>',
];

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    options: {
      env: { type: 'string', default: 'local' },
      node: { type: 'string' },
      scope: { type: 'string' },
      sid: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    allowPositionals: true,
    strict: true,
  });
  const [command, ...extra] = positionals;
  if (values.help || !values.node || (command !== 'list' && command !== 'drop') || extra.length > 0) {
    console.log(USAGE.join('\n'));
    return values.help ? 0 : 2;
  }
  if (
    command === 'drop' &&
    (values.scope === undefined || values.sid === undefined || !/^[0-9a-f]{64}$/.test(values.sid))
  ) {
    console.log(USAGE.join('\n'));
    return 2;
  }
  const config = loadConfig({ env: values.env });
  const self = nodeEntry(config, values.node);
  // The node must be stopped: it holds its pending states in use.
  const owner = await lockDirectory(self.dataDir, `pending ${self.id}`);
  try {
    const kms = await openKms(self.kms, self.id);
    try {
      const store = await RecordStore.open({ dir: join(self.dataDir, 'records'), nodeId: self.id, kms });
      // neither commits nor evidence are checked here: no party keys or burn step are needed
      const lifecycle = new Lifecycle({ store, parties: [], beforeSwitch: () => Promise.resolve() });
      if (command === 'list') {
        const scopes = await store.list('pending');
        if (scopes.length === 0) console.log(`${self.id}: no pending state`);
        for (const scope of scopes) {
          const p = await lifecycle.pending(scope);
          if (!p) continue;
          const current = await lifecycle.committed(scope);
          current?.parts[1]?.fill(0);
          p.parts[1]?.fill(0);
          console.log(
            `${scope}: ${p.protocol} run ${Buffer.from(p.sid).toString('hex')}, pending epoch ${p.epoch} (committed: ${current ? `epoch ${current.epoch}` : 'none'})`,
          );
        }
        return 0;
      }
      const scope = values.scope as string;
      const sid = Buffer.from(values.sid as string, 'hex');
      const p = await lifecycle.pending(scope);
      p?.parts[1]?.fill(0);
      if (!p) throw new Error(`${self.id} holds no pending state of scope ${JSON.stringify(scope)}`);
      if (!Buffer.from(p.sid).equals(sid))
        throw new Error(
          `the pending state of ${scope} at ${self.id} belongs to run ${Buffer.from(p.sid).toString('hex')}, not ${values.sid}; nothing dropped`,
        );
      const audit = await AuditLog.open(join(self.dataDir, 'audit.jsonl'));
      try {
        // recorded first: a drop that is not in the audit log never happens
        await audit.append({
          type: 'state.dropped',
          scope,
          sid: values.sid,
          protocol: p.protocol,
          epoch: p.epoch,
          by: 'operator',
        });
        if (!(await lifecycle.discard(scope, sid))) {
          await audit.append({ type: 'state.drop_failed', scope, sid: values.sid, by: 'operator' });
          throw new Error('the pending state could not be removed; nothing dropped');
        }
      } finally {
        await audit.close();
      }
      console.log(
        `${self.id}: pending ${p.protocol} state of ${scope} (run ${values.sid}, epoch ${p.epoch}) dropped; drop it on every other node that holds it too`,
      );
      return 0;
    } finally {
      await kms.close();
    }
  } finally {
    await owner.release();
  }
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(e instanceof ConfigError ? e.message : `pending: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(e instanceof DirectoryLockError && e.code === 'locked' ? LOCKED_EXIT_CODE : 1);
  },
);
