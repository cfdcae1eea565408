/**
 * `npm run certs [-- --env <name>] [--dir <path>] [--ca-dir <path>] [--api-host <name>]… [--force]`:
 * creates the development PKI (see src/transport/certs.ts): the internal CA with a certificate per
 * node of NODE_IDS and per coordinator of COORDINATOR_IDS, and the public CA with the wallet API's
 * certificate, in CERTS_DIR of the chosen environment unless `--dir` says otherwise; the CA private
 * keys go to CERTS_CA_DIR (`--ca-dir`), never to the certificate directory. Existing files are
 * kept, so running it again after adding an id issues that id's certificate only; `--force`
 * replaces them all, CAs included.
 * @module
 */
import { relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../src/config/index.js';
import { generateDevCertificates } from '../src/transport/certs.js';

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1']);

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      env: { type: 'string', default: 'local' },
      dir: { type: 'string' },
      'ca-dir': { type: 'string' },
      'api-host': { type: 'string', multiple: true },
      force: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(
      'usage: npm run certs -- [--env <name>] [--dir <path>] [--ca-dir <path>] [--api-host <name or IP>]... [--force]',
    );
    return 0;
  }
  const config = loadConfig({ env: values.env });
  const dir = values.dir === undefined ? config.certsDir : resolve(values.dir);
  // --dir alone keeps the default pairing: the CA keys beside the directory, never inside it.
  const caDir =
    values['ca-dir'] !== undefined
      ? resolve(values['ca-dir'])
      : values.dir !== undefined
        ? `${dir}-ca`
        : config.certsCaDir;
  // Each certificate also names the address it is reached at, for clients that check host names.
  const hosts: Record<string, string[]> = {};
  for (const n of config.nodes) if (!LOOPBACK.has(n.host)) hosts[n.id] = [n.host];
  // One trusted address: every coordinator runs there. Several: which is whose is not configured,
  // and a node checks a coordinator by its certificate's identity, not by a host name in it.
  const [coordinatorIp, ...more] = config.firewall.trustedCoordinatorIps;
  if (coordinatorIp !== undefined && more.length === 0 && !LOOPBACK.has(coordinatorIp))
    for (const id of config.coordinator.ids) hosts[id] = [coordinatorIp];

  const result = await generateDevCertificates({
    dir,
    caDir,
    nodeIds: config.nodes.map((n) => n.id),
    coordinatorIds: config.coordinator.ids,
    force: values.force,
    hosts,
    publicHosts: values['api-host'] ?? [],
  });
  const show = (p: string): string => relative(process.cwd(), p) || p;
  for (const p of result.removed) console.log(`removed  ${show(p)} (a CA key where the services read)`);
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
