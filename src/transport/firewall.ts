/**
 * Who may open a connection to a node. With ENABLE_KERNEL_FIREWALL=true a node accepts TCP
 * connections only from the addresses of TRUSTED_COORDINATOR_IP (one per coordinator host): the
 * server drops anyone else at accept time,
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
  /** every coordinator's address (TRUSTED_COORDINATOR_IP), at least one */
  trustedCoordinatorIps: readonly string[];
  /** nftables table name (default mpc_engine_node) */
  table?: string;
  /** a comment line naming the node */
  nodeId?: string;
}

/**
 * An nftables ruleset for `nft -f`: on the node's ports, accept the coordinators and drop every
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
  if (options.trustedCoordinatorIps.length === 0) throw new RangeError('at least one coordinator address is needed');
  const v4: string[] = [];
  const v6: string[] = [];
  for (const given of options.trustedCoordinatorIps) {
    const ip = normaliseAddress(given);
    const family = isIP(ip);
    if (family === 0) throw new RangeError(`TRUSTED_COORDINATOR_IP ${JSON.stringify(given)} is not an IP address`);
    const into = family === 4 ? v4 : v6;
    if (!into.includes(ip)) into.push(ip);
  }
  const set = (items: readonly string[]): string => (items.length === 1 ? items[0]! : `{ ${items.join(', ')} }`);
  const ports = set([...new Set(options.ports)].map(String));
  const who = options.nodeId ? ` for ${options.nodeId}` : '';
  const accepts = [
    ...(v4.length ? [`\t\ttcp dport ${ports} ip saddr ${set(v4)} accept`] : []),
    ...(v6.length ? [`\t\ttcp dport ${ports} ip6 saddr ${set(v6)} accept`] : []),
  ];
  return [
    `# MPC Engine node firewall${who}: only the coordinators (${[...v4, ...v6].join(', ')}) may reach port ${ports}.`,
    '# Apply as root with: nft -f <this file>   (re-applying replaces the table)',
    `table inet ${table}`,
    `delete table inet ${table}`,
    `table inet ${table} {`,
    '\tchain input {',
    '\t\ttype filter hook input priority filter; policy accept;',
    ...accepts,
    `\t\ttcp dport ${ports} counter drop`,
    '\t}',
    '}',
    '',
  ].join('\n');
}
