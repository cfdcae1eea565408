/**
 * IP address helpers shared by the configuration and the wallet API: loopback tests, IPv4-mapped
 * IPv6 addresses folded to IPv4 (a dual-stack socket reports `::ffff:10.0.0.1` for an IPv4
 * peer), and address ranges (`10.0.0.0/8`, `fd00::/8`, or a single address) matched with node's
 * own BlockList rather than bit arithmetic of ours.
 * @module
 */
import { BlockList, isIP } from 'node:net';

/** `::ffff:a.b.c.d` → `a.b.c.d`; anything else unchanged. */
export function unmapIPv4(address: string): string {
  const m = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
  return m && isIP(m[1]!) === 4 ? m[1]! : address;
}

/** 127.0.0.0/8 and ::1 (also as ::ffff:127.x.y.z). Host names are not addresses: false. */
export function isLoopbackAddress(address: string): boolean {
  const a = unmapIPv4(address);
  if (isIP(a) === 4) return a.split('.')[0] === '127';
  if (isIP(a) === 6) {
    const list = new BlockList();
    list.addAddress('::1', 'ipv6');
    return list.check(a, 'ipv6');
  }
  return false;
}

export interface AddressRange {
  readonly address: string;
  readonly family: 'ipv4' | 'ipv6';
  readonly prefix: number;
}

/** `addr` or `addr/prefix`, IPv4 or IPv6; undefined if it is neither. */
export function parseAddressRange(text: string): AddressRange | undefined {
  const m = /^([^/]+)(?:\/(\d{1,3}))?$/.exec(text.trim());
  if (!m) return undefined;
  const address = unmapIPv4(m[1]!);
  const v = isIP(address);
  if (v === 0) return undefined;
  const family = v === 4 ? 'ipv4' : 'ipv6';
  const max = v === 4 ? 32 : 128;
  const prefix = m[2] === undefined ? max : Number(m[2]);
  if (!(prefix >= 0 && prefix <= max)) return undefined;
  return { address, family, prefix };
}

/** Does an address fall in any of the ranges? */
export function addressMatcher(ranges: readonly AddressRange[]): (address: string) => boolean {
  const list = new BlockList();
  for (const r of ranges) list.addSubnet(r.address, r.prefix, r.family);
  return (address) => {
    const a = unmapIPv4(address);
    const v = isIP(a);
    return v !== 0 && list.check(a, v === 4 ? 'ipv4' : 'ipv6');
  };
}
