/**
 * `npm run quarantine -- [--env <name>] [--release <node id>]`: lists the nodes the coordinator has
 * suspended after cryptographic aborts and the pairs of nodes in dispute after abort reports (see
 * src/coordinator/quarantine.ts), or releases a node after an operator has reviewed it (its
 * suspension and its disputes end). Works while the coordinator runs: it appends to the
 * coordinator's quarantine file, which the coordinator re-reads within a second or two.
 * @module
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../src/config/index.js';
import { Quarantine } from '../src/coordinator/quarantine.js';

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      env: { type: 'string', default: 'local' },
      release: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log('usage: npm run quarantine -- [--env <name>] [--release <node id>]');
    return 0;
  }
  const config = loadConfig({ env: values.env });
  const q = await Quarantine.open(join(config.coordinator.dataDir, 'quarantine.jsonl'), { watch: false, maxFaulty: config.mpc.threshold - 1 });
  if (values.release !== undefined) {
    if (!config.nodes.some((n) => n.id === values.release)) throw new ConfigError([{ variable: '--release', message: `${JSON.stringify(values.release)} is not in NODE_IDS` }], config.envFile);
    const id = values.release;
    if (!q.isSuspended(id) && !q.disputes().some((d) => d.nodes.includes(id))) {
      console.log(`${id} is neither suspended nor in dispute`);
      return 0;
    }
    await q.release(values.release);
    console.log(`${values.release} released`);
    return 0;
  }
  const all = q.suspended();
  const disputes = q.disputes();
  if (all.length === 0) console.log('no node is suspended');
  for (const s of all) {
    const until = s.until === undefined ? 'until released (npm run quarantine -- --release ' + s.nodeId + ')' : `until ${new Date(s.until).toISOString()}`;
    const what = s.verified ? 'verified offence' : 'implausible abort reports';
    console.log(`${s.nodeId}: ${what} in ${s.protocol} at ${new Date(s.since).toISOString()}: ${s.reason}; suspended ${until}`);
  }
  for (const d of disputes) {
    console.log(`${d.nodes.join(' + ')}: in dispute after ${d.reports} abort report(s) in 24 h; not used together until about ${new Date(d.until).toISOString()}`);
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(e instanceof ConfigError ? e.message : `quarantine: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  },
);
