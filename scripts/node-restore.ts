/**
 * `npm run node:restore -- --env <name> --node <id> [--confirm <node id>]`: run on a STOPPED node
 * whose data directory was just restored from a copy (a file backup, a disk snapshot), before it is
 * started. A copy is older than the node's last state: presignatures used since read as unused
 * (one used twice reveals the key share), tombstones and pending states written since are missing,
 * and its shares may be older than its peers' (src/node/restore.ts, docs/security.md, "A node
 * restored from a copy").
 *
 * It burns every presignature (durable used-marker, then the secret deleted, as at every epoch
 * switch), drops every pending state after remembering the runs it shows confirmed, drops the stored
 * safe primes, and marks the node *restored*: the node then refuses every session and every
 * abandonment until the coordinator has found its committed epochs equal to its peers' and cleared
 * the mark. Recorded in the node's audit log. Running it again is harmless (it finishes the job).
 *
 * Takes the node's data-directory lock, so it refuses while the node runs; asks for the node id to be
 * typed (or repeated with --confirm).
 * @module
 */
import { join } from 'node:path';
import { createInterface } from 'node:readline/promises';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, nodeEntry } from '../src/config/index.js';
import { openKms } from '../src/kms/open.js';
import { markRestored } from '../src/node/restore.js';
import { RecordStore } from '../src/node/storage/store.js';
import { AuditLog } from '../src/util/audit-log.js';
import { DirectoryLockError, LOCKED_EXIT_CODE, lockDirectory } from '../src/util/dir-lock.js';

const USAGE = 'usage: npm run node:restore -- --env <name> --node <node id> [--confirm <node id>]';

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    options: {
      env: { type: 'string', default: 'local' },
      node: { type: 'string' },
      confirm: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    allowPositionals: true,
    strict: true,
  });
  if (values.help || !values.node || positionals.length > 0) {
    console.log(USAGE);
    return values.help ? 0 : 2;
  }
  const config = loadConfig({ env: values.env });
  const self = nodeEntry(config, values.node);
  // The node must be stopped: it holds its presignatures and pending states in use.
  const owner = await lockDirectory(self.dataDir, `node:restore ${self.id}`);
  try {
    console.error(
      [
        '',
        `  !!! ${self.id}: for a node whose data directory was RESTORED FROM A COPY, before it starts.`,
        '  !!! Every presignature and pending state of this node is destroyed, and the node takes part',
        '  !!! in nothing until the coordinator finds its key share epochs equal to its peers\u2019.',
        '',
      ].join('\n'),
    );
    let typed = values.confirm;
    if (typed === undefined) {
      const rl = createInterface({ input: process.stdin, output: process.stderr });
      typed = (await rl.question(`Type the node id (${self.id}) to go on: `)).trim();
      rl.close();
    }
    if (typed !== self.id) {
      console.error('not confirmed: nothing changed');
      return 1;
    }
    const kms = await openKms(self.kms, self.id);
    try {
      const store = await RecordStore.open({ dir: join(self.dataDir, 'records'), nodeId: self.id, kms });
      const audit = await AuditLog.open(join(self.dataDir, 'audit.jsonl'));
      try {
        // recorded first: a destruction that is not in the audit log never happens
        await audit.append({ type: 'node.restoring', by: 'operator' });
        const r = await markRestored(store, config.nodes.length);
        await audit.append({
          type: 'node.restored',
          restoredAt: r.marker.restoredAt,
          again: !r.newlyMarked,
          presignaturesBurnt: r.presignaturesBurnt,
          pendingDropped: [...r.pendingDropped],
          primesDropped: r.primesDropped,
          by: 'operator',
        });
        console.log(
          `${self.id}: marked restored (${r.marker.restoredAt}${r.newlyMarked ? '' : ', already marked'}); ` +
            `${r.presignaturesBurnt} presignature(s) burnt, ${r.pendingDropped.length} pending state(s) dropped` +
            `${r.pendingDropped.length > 0 ? ` (${r.pendingDropped.join(', ')})` : ''}${r.primesDropped ? ', stored safe primes dropped' : ''}`,
        );
        if (r.secretsLeft > 0)
          console.log(
            `${self.id}: ${r.secretsLeft} burnt presignature secret(s) could not be deleted yet; each refuses every use, and the node's start removes them`,
          );
        console.log(
          `${self.id}: start the node; the coordinator reconciles it with its peers (its /health lists it under restoredNodes until then)`,
        );
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

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(e instanceof ConfigError ? e.message : `node:restore: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(e instanceof DirectoryLockError && e.code === 'locked' ? LOCKED_EXIT_CODE : 1);
  },
);
