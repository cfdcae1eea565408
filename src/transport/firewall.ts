/**
 * Who may open a connection to a node. With ENABLE_KERNEL_FIREWALL=true a node accepts TCP
 * connections only from TRUSTED_COORDINATOR_IP: the server drops anyone else at accept time,
 * before a TLS byte is exchanged, and `nftablesRuleset` prints the kernel rules that do the same
 * one layer lower (applying them needs root and is left to deployment).
 * @module
 */
import { isIP } from 'node:net';

/** `::ffff:10.0.0.1` (an IPv4 client on a dual-stack socket) → `10.0.0.1`; other forms as given, lower-case. */
export function normaliseAddress(address: string): string {
  const a = address.toLowerCase();
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(a);
  return mapped ? mapped[1]! : a;
}

/**
 * A predicate on remote addresses: true only for the given IPs.
 * @throws RangeError if an entry is not an IP address
 */
export function createAllowList(addresses: readonly string[]): (remoteAddress: string | undefined) => boolean {
  for (const a of addresses)
    if (isIP(a) === 0) throw new RangeError(`allow-list entry ${JSON.stringify(a)} is not an IP address`);
  const allowed = new Set(addresses.map(normaliseAddress));
  return (remote) => remote !== undefined && allowed.has(normaliseAddress(remote));
}

export interface RulesetOptions {
  /** the node's listening port(s) */
  ports: readonly number[];
  trustedCoordinatorIp: string;
  /** nftables table name (default mpc_engine_node) */
  table?: string;
  /** a comment line naming the node */
  nodeId?: string;
}

/**
 * An nftables ruleset for `nft -f`: on the node's ports, accept the coordinator and drop every
 * other source (IPv4 and IPv6). Other ports are untouched, so SSH and the like keep working.
 * Re-applying replaces the table (declare, delete, define).
 * @throws RangeError on a port or address that would not be a valid rule
 */
export function nftablesRuleset(options: RulesetOptions): string {
  const table = options.table ?? 'mpc_engine_node';
  if (!/^[a-z][a-z0-9_]{0,31}$/.test(table))
    throw new RangeError(`invalid nftables table name ${JSON.stringify(table)}`);
  if (options.ports.length === 0) throw new RangeError('at least one port is needed');
  for (const p of options.ports)
    if (!Number.isInteger(p) || p < 1 || p > 65535) throw new RangeError(`invalid port ${p}`);
  const ip = normaliseAddress(options.trustedCoordinatorIp);
  const family = isIP(ip);
  if (family === 0)
    throw new RangeError(`TRUSTED_COORDINATOR_IP ${JSON.stringify(options.trustedCoordinatorIp)} is not an IP address`);
  const ports = options.ports.length === 1 ? String(options.ports[0]) : `{ ${[...new Set(options.ports)].join(', ')} }`;
  const saddr = family === 4 ? 'ip saddr' : 'ip6 saddr';
  const who = options.nodeId ? ` for ${options.nodeId}` : '';
  return [
    `# MPC Engine node firewall${who}: only the coordinator (${ip}) may reach port ${ports}.`,
    '# Apply as root with: nft -f <this file>   (re-applying replaces the table)',
    `table inet ${table}`,
    `delete table inet ${table}`,
    `table inet ${table} {`,
    '\tchain input {',
    '\t\ttype filter hook input priority filter; policy accept;',
    `\t\ttcp dport ${ports} ${saddr} ${ip} accept`,
    `\t\ttcp dport ${ports} counter drop`,
    '\t}',
    '}',
    '',
  ].join('\n');
}
