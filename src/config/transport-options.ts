/**
 * Transport options from the configuration, so the rules live in one place: a node admits the
 * coordinators of COORDINATOR_IDS only (one link each), behind the address allow-list when
 * ENABLE_KERNEL_FIREWALL=true; a coordinator dials NODE_HOSTS[k] and accepts only NODE_IDS[k]
 * there. Each process loads its own certificate and checks it names itself.
 * @module
 */
import { isIP } from 'node:net';
import type { Logger } from 'pino';
import { nodeEntry, type Config } from './config.js';
import type { ClientOptions } from '../transport/client.js';
import type { ConnectionOptions } from '../transport/connection.js';
import { coordinatorIdentity, nodeIdentity } from '../transport/identity.js';
import type { ServerOptions } from '../transport/server.js';
import { loadTlsMaterial } from '../transport/tls.js';

function connectionSettings(config: Config, logger: Logger | undefined): ConnectionOptions {
  return {
    maxFrameBytes: config.transport.maxFrameBytes,
    heartbeatIntervalMs: config.transport.heartbeatIntervalMs,
    heartbeatMisses: config.transport.heartbeatMisses,
    ...(logger ? { logger } : {}),
  };
}

/**
 * Where a node listens: its NODE_HOSTS address when that is a loopback literal (a local cluster),
 * otherwise every interface of the address family (a public name need not be a local address;
 * mutual TLS and the allow-list decide who gets in).
 */
export function listenAddress(host: string, port: number): { host: string; port: number } {
  if (host === 'localhost' || host.startsWith('127.') || host === '::1')
    return { host: host === 'localhost' ? '127.0.0.1' : host, port };
  return { host: isIP(host) === 6 ? '::' : '0.0.0.0', port };
}

/**
 * Who a node admits: every coordinator identity, from the trusted addresses when the firewall is
 * on. Each identity holds one link, and a reconnecting one takes a second slot while its old link
 * is checked (server.ts), so the authenticated slots grow with the number of coordinators.
 */
export function nodeAdmission(
  config: Config,
): Pick<ServerOptions, 'acceptPeers' | 'allowedAddresses' | 'maxAuthenticated'> {
  const ids = config.coordinator.ids;
  return {
    acceptPeers: ids.map(coordinatorIdentity),
    maxAuthenticated: Math.max(4, 2 * ids.length),
    ...(config.firewall.enabled ? { allowedAddresses: config.firewall.trustedCoordinatorIps } : {}),
  };
}

/** The server options of node `nodeId`, and the address it listens on. */
export async function nodeServerSetup(
  config: Config,
  nodeId: string,
  logger?: Logger,
): Promise<{ options: ServerOptions; listen: { host: string; port: number } }> {
  const entry = nodeEntry(config, nodeId);
  const tls = await loadTlsMaterial(entry.tls, nodeIdentity(entry.id));
  const options: ServerOptions = {
    ...connectionSettings(config, logger),
    tls,
    ...nodeAdmission(config),
  };
  return { options, listen: listenAddress(entry.host, entry.port) };
}

/** One client option set per node, in NODE_IDS order, for the coordinator `config.coordinator` names. */
export async function coordinatorClientSetup(config: Config, logger?: Logger): Promise<ClientOptions[]> {
  const tls = await loadTlsMaterial(config.coordinator.tls, coordinatorIdentity(config.coordinator.id));
  return config.nodes.map((n) => ({
    ...connectionSettings(config, logger),
    host: n.host,
    port: n.port,
    tls,
    expectedPeer: nodeIdentity(n.id),
  }));
}
