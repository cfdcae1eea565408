/**
 * The client address a request is counted against (rate limits, access log). The TCP peer is the
 * client unless it is a proxy the operator trusts (COORDINATOR_TRUSTED_PROXIES): then
 * X-Forwarded-For is read from the right — each trusted hop appends the address it saw — and the
 * first address not itself a trusted proxy is the client. Anyone can write X-Forwarded-For, so a
 * peer that is not a trusted proxy never has it read, and entries left of the first untrusted
 * one are ignored (the client may have made them up).
 * @module
 */
import { isIP } from 'node:net';
import { addressMatcher, unmapIPv4, type AddressRange } from '../util/ip.js';

export type ClientAddressResolver = (peer: string | undefined, forwardedFor: string | undefined) => string;

/** Longest X-Forwarded-For list looked at: a longer chain is not one a proxy of ours made. */
const MAX_HOPS = 20;

export function clientAddressResolver(trustedProxies: readonly AddressRange[]): ClientAddressResolver {
  const trusted = addressMatcher(trustedProxies);
  return (peer, forwardedFor) => {
    const direct = unmapIPv4(peer ?? 'unknown');
    if (trustedProxies.length === 0 || !trusted(direct) || forwardedFor === undefined) return direct;
    const hops = forwardedFor
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '')
      .slice(-MAX_HOPS);
    let client = direct;
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = unmapIPv4(hops[i]!);
      // Garbage from behind a proxy: not an address to count by, and not the proxy's either (a
      // client sending it would then share, and exhaust, the bucket of every client of that proxy).
      if (isIP(hop) === 0) return `unparsed-via-${client}`;
      client = hop;
      if (!trusted(hop)) return hop;
    }
    return client;
  };
}
