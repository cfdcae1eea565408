/**
 * Peer identities bound into certificates. A certificate names exactly one MPC Engine identity as
 * a SAN URI — `urn:mpc-engine:coordinator` or `urn:mpc-engine:node:<id>` — and repeats it as its
 * CN (`coordinator` or `<id>`); a certificate whose two disagree, or that names none or several,
 * is refused. The CA decides who is who: the transport checks the chain first, then this.
 * @module
 */
import { x509 } from './x509.js';
import { IdentityError } from './errors.js';

export type PeerIdentity = { readonly kind: 'coordinator' } | { readonly kind: 'node'; readonly id: string };

export const URI_PREFIX = 'urn:mpc-engine:';

/** Node ids: they become file names and URI parts, so a safe alphabet only. */
export const NODE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
/** Ids a node may not take: they are the coordinator's and the CA's file names. */
export const RESERVED_NODE_IDS: readonly string[] = ['coordinator', 'ca'];

export const COORDINATOR: PeerIdentity = Object.freeze({ kind: 'coordinator' });

/** @throws RangeError if `id` is not a valid node id */
export function nodeIdentity(id: string): PeerIdentity {
  if (!NODE_ID_PATTERN.test(id) || RESERVED_NODE_IDS.includes(id))
    throw new RangeError(`invalid node id ${JSON.stringify(id)}`);
  return Object.freeze({ kind: 'node', id });
}

/** TLS extended key usages (OIDs), as X509Certificate.keyUsage lists them. */
export const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
export const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

/**
 * The one TLS role an identity has on the coordinator↔node channel, and so the one extended key
 * usage its certificate carries: a node only listens (serverAuth), the coordinator only dials
 * (clientAuth). OpenSSL checks the usage in the handshake, so a coordinator certificate cannot
 * stand in for a node's listener, nor a node certificate dial a node.
 */
export function tlsRole(p: PeerIdentity): 'server' | 'client' {
  return p.kind === 'node' ? 'server' : 'client';
}

export function extendedKeyUsageOf(role: 'server' | 'client'): string {
  return role === 'server' ? SERVER_AUTH : CLIENT_AUTH;
}

/** The certificate's CN and the base name of its files: `coordinator` or the node id. */
export function identityName(p: PeerIdentity): string {
  return p.kind === 'coordinator' ? 'coordinator' : p.id;
}

export function identityUri(p: PeerIdentity): string {
  return p.kind === 'coordinator' ? `${URI_PREFIX}coordinator` : `${URI_PREFIX}node:${p.id}`;
}

/** For messages and logs: `coordinator` or `node node_1`. */
export function formatIdentity(p: PeerIdentity): string {
  return p.kind === 'coordinator' ? 'coordinator' : `node ${p.id}`;
}

export function sameIdentity(a: PeerIdentity, b: PeerIdentity): boolean {
  return a.kind === b.kind && (a.kind === 'coordinator' || a.id === (b as { id: string }).id);
}

/** The identity a URI names, or undefined if it is not a well-formed MPC Engine URI. */
export function parseIdentityUri(uri: string): PeerIdentity | undefined {
  if (uri === `${URI_PREFIX}coordinator`) return COORDINATOR;
  const prefix = `${URI_PREFIX}node:`;
  if (!uri.startsWith(prefix)) return undefined;
  const id = uri.slice(prefix.length);
  return NODE_ID_PATTERN.test(id) && !RESERVED_NODE_IDS.includes(id) ? nodeIdentity(id) : undefined;
}

/**
 * The identity named by a DER certificate (a peer's, after its chain was verified).
 * @throws IdentityError if it names no identity, several, or its CN disagrees
 */
export function identityFromCertificate(der: Uint8Array): PeerIdentity {
  let cert: x509.X509Certificate;
  try {
    cert = new x509.X509Certificate(der);
  } catch {
    throw new IdentityError('peer certificate cannot be parsed');
  }
  const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
  const uris = (san?.names.items ?? [])
    .filter((n) => n.type === 'url' && n.value.startsWith(URI_PREFIX))
    .map((n) => n.value);
  if (uris.length !== 1)
    throw new IdentityError(`peer certificate names ${uris.length} MPC Engine identities (SAN URI), expected 1`);
  const identity = parseIdentityUri(uris[0]!);
  if (!identity) throw new IdentityError(`peer certificate has a malformed identity URI ${JSON.stringify(uris[0])}`);
  const cns = cert.subjectName.getField('CN');
  if (cns.length !== 1 || cns[0] !== identityName(identity)) {
    throw new IdentityError(
      `peer certificate CN ${JSON.stringify(cns.join(','))} does not match its identity ${identityUri(identity)}`,
    );
  }
  return identity;
}
