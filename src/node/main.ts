/**
 * `npm run start:node -- --env local --id node_1`: one MPC node. It listens for the coordinators
 * of COORDINATOR_IDS only (mutual TLS 1.3 against the deployment CA; with
 * ENABLE_KERNEL_FIREWALL=true, connections from any address not in TRUSTED_COORDINATOR_IP are
 * dropped before TLS), answers signing requests
 * on the main thread and runs protocol sessions on NODE_WORKERS worker threads (workers.ts).
 *
 * Options: --print-firewall prints the matching nftables ruleset and exits; with
 * ENABLE_KERNEL_FIREWALL=true a node running as root with `nft` installed also applies it at start;
 * --dev-primes <file> takes safe primes from a file of public fixtures: refused unless the
 * environment is the development one (`local`, every member on the LOCAL platform; see
 * src/config/development.ts), before the node touches any state.
 *
 * The process owns the node's state directory while it runs (a second node or an offline tool on
 * the same directory is refused; the kernel frees it when this process ends, however it ends).
 * SIGTERM/SIGINT: new requests are refused, those in flight get NODE_DRAIN_MS to finish, then the
 * protocol workers are stopped (sessions still running are abandoned; every record is written whole
 * or not at all, so nothing is half-written) and the process exits. A second signal exits at once.
 *
 * What the node is made of is built by createNode (create.ts); this module only parses the command
 * line and owns the process (signals, exit status).
 * @module
 */
import { parseArgs } from 'node:util';
import { ConfigError, devPrimesRefusal, loadConfig, nodeEntry } from '../config/index.js';
import { nftablesRuleset } from '../transport/firewall.js';
import { DirectoryLockError, LOCKED_EXIT_CODE } from '../util/dir-lock.js';
import { createNode } from './create.js';
import type { RuntimeOptions } from './runtime.js';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      env: { type: 'string', default: 'local' },
      id: { type: 'string' },
      'dev-primes': { type: 'string' },
      'print-firewall': { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (!values.id) throw new ConfigError([{ variable: '--id', message: 'required (e.g. --id node_1)' }], undefined);
  const config = loadConfig({ env: values.env });
  const self = nodeEntry(config, values.id);
  if (values['dev-primes'] !== undefined) {
    const refusal = devPrimesRefusal(config);
    if (refusal) throw new ConfigError([{ variable: '--dev-primes', message: refusal }], config.envFile);
  }
  if (values['print-firewall']) {
    const ips = config.firewall.trustedCoordinatorIps;
    if (ips.length === 0)
      throw new ConfigError(
        [{ variable: 'TRUSTED_COORDINATOR_IP', message: 'required to print firewall rules' }],
        config.envFile,
      );
    console.log(nftablesRuleset({ ports: [self.port], trustedCoordinatorIps: ips, nodeId: self.id }));
    return;
  }
  const opts: RuntimeOptions = { env: values.env, id: values.id, devPrimes: values['dev-primes'] };
  const node = await createNode(config, self, opts);
  const { log } = node;
  const drainMs = config.drainMs;

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) {
      // Safe at any point: every record is replaced atomically; the kernel frees the directory.
      log.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    log.info(
      { signal, inFlight: node.inFlight(), drainMs },
      'stopping: refusing new requests, letting those in flight finish',
    );
    // Whatever hangs below (a KMS call that never returns), the process still ends.
    setTimeout(() => {
      log.error({ drainMs }, 'stop did not finish in time: exiting now');
      process.exit(1);
    }, drainMs + 10_000).unref();
    await node.stop();
    log.info('stopped');
    log.flush();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}

main().catch((e: unknown) => {
  console.error(e instanceof ConfigError ? e.message : `node: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(e instanceof DirectoryLockError && e.code === 'locked' ? LOCKED_EXIT_CODE : 1);
});
