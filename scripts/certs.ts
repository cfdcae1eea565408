/**
 * `npm run certs [-- --env <name>] [--dir <path>] [--force]`: creates the development CA and a
 * certificate per node of NODE_IDS and for the coordinator (see src/transport/certs.ts), in
 * CERTS_DIR of the chosen environment unless `--dir` says otherwise. Existing files are kept;
 * `--force` replaces them all, CA included.
 * @module
 */
import { relative } from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../src/config/index.js';
import { generateDevCertificates } from '../src/transport/certs.js';

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1']);

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      env: { type: 'string', default: 'local' },
      dir: { type: 'string' },
      force: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log('usage: npm run certs -- [--env <name>] [--dir <path>] [--force]');
    return 0;
  }
  const config = loadConfig({ env: values.env });
  const dir = values.dir ?? config.certsDir;
  // Each certificate also names the address it is reached at, for clients that check host names.
  const hosts: Record<string, string[]> = {};
  for (const n of config.nodes) if (!LOOPBACK.has(n.host)) hosts[n.id] = [n.host];
  const coordinatorIp = config.firewall.trustedCoordinatorIp;
  if (coordinatorIp !== undefined && !LOOPBACK.has(coordinatorIp)) hosts['coordinator'] = [coordinatorIp];

  const result = await generateDevCertificates({ dir, nodeIds: config.nodes.map((n) => n.id), force: values.force, hosts });
  const show = (p: string): string => relative(process.cwd(), p) || p;
  for (const p of result.created) console.log(`created  ${show(p)}`);
  for (const p of result.kept) console.log(`kept     ${show(p)}`);
  if (result.created.length === 0) console.log('nothing to do (run with --force to replace everything)');
  return 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    // Config errors are for the operator as they are; anything else with its name.
    console.error(e instanceof ConfigError ? e.message : `certs: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  },
);
