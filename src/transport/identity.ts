/**
 * Peer identities bound into certificates. A certificate names exactly one MPC Engine identity as
 * a SAN URI — `urn:mpc-engine:coordinator` (the default coordinator), `urn:mpc-engine:coordinator:<id>`
 * (any other coordinator identity of COORDINATOR_IDS) or `urn:mpc-engine:node:<id>` — and repeats
 * its name as the CN (`coordinator`, the coordinator id or the node id); a certificate whose two
 * disagree, or that names none or several, is refused. Each identity has one URI form only: the
 * default coordinator is never `urn:mpc-engine:coordinator:coordinator`. The CA decides who is who:
 * the transport checks the chain first, then this.
 * @module
 */
import { x509 } from './x509.js';
import { IdentityError } from './errors.js';

export type PeerIdentity =
  { readonly kind: 'coordinator'; readonly id: string } | { readonly kind: 'node'; readonly id: string };

export const URI_PREFIX = 'urn:mpc-engine:';

/** Node and coordinator ids: they become file names and URI parts, so a safe alphabet only. */
export const NODE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
/** Ids a node may not take: they are the default coordinator's and the CA's file names. */
export const RESERVED_NODE_IDS: readonly string[] = ['coordinator', 'ca'];
/** Ids a coordinator may not take: the CA's file name. */
export const RESERVED_COORDINATOR_IDS: readonly string[] = ['ca'];

/**
 * The coordinator identity of a deployment that lists no other (COORDINATOR_IDS unset): its
 * certificate, files and data directory keep the names they had before coordinators had ids.
 */
export const DEFAULT_COORDINATOR_ID = 'coordinator';

/** @throws RangeError if `id` is not a valid coordinator id */
export function coordinatorIdentity(id: string): PeerIdentity {
  if (!NODE_ID_PATTERN.test(id) || RESERVED_COORDINATOR_IDS.includes(id))
    throw new RangeError(`invalid coordinator id ${JSON.stringify(id)}`);
  return Object.freeze({ kind: 'coordinator', id });
}

export const COORDINATOR: PeerIdentity = coordinatorIdentity(DEFAULT_COORDINATOR_ID);

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
 * usage its certificate carries: a node only listens (serverAuth), a coordinator only dials
 * (clientAuth). OpenSSL checks the usage in the handshake, so a coordinator certificate cannot
 * stand in for a node's listener, nor a node certificate dial a node.
 */
export function tlsRole(p: PeerIdentity): 'server' | 'client' {
  return p.kind === 'node' ? 'server' : 'client';
}

export function extendedKeyUsageOf(role: 'server' | 'client'): string {
  return role === 'server' ? SERVER_AUTH : CLIENT_AUTH;
}

/** The certificate's CN and the base name of its files: the coordinator id or the node id. */
export function identityName(p: PeerIdentity): string {
  return p.id;
}

export function identityUri(p: PeerIdentity): string {
  if (p.kind === 'node') return `${URI_PREFIX}node:${p.id}`;
  return p.id === DEFAULT_COORDINATOR_ID ? `${URI_PREFIX}coordinator` : `${URI_PREFIX}coordinator:${p.id}`;
}

/** For messages and logs: `coordinator`, `coordinator coordinator_2` or `node node_1`. */
export function formatIdentity(p: PeerIdentity): string {
  if (p.kind === 'node') return `node ${p.id}`;
  return p.id === DEFAULT_COORDINATOR_ID ? 'coordinator' : `coordinator ${p.id}`;
}

export function sameIdentity(a: PeerIdentity, b: PeerIdentity): boolean {
  return a.kind === b.kind && a.id === b.id;
}

/** The identity a URI names, or undefined if it is not a well-formed MPC Engine URI in its one form. */
export function parseIdentityUri(uri: string): PeerIdentity | undefined {
  if (uri === `${URI_PREFIX}coordinator`) return COORDINATOR;
  const valid = (id: string, reserved: readonly string[]): boolean =>
    NODE_ID_PATTERN.test(id) && !reserved.includes(id);
  const coordinator = `${URI_PREFIX}coordinator:`;
  if (uri.startsWith(coordinator)) {
    const id = uri.slice(coordinator.length);
    // the default coordinator's one URI is the bare one above
    return valid(id, RESERVED_COORDINATOR_IDS) && id !== DEFAULT_COORDINATOR_ID ? coordinatorIdentity(id) : undefined;
  }
  const node = `${URI_PREFIX}node:`;
  if (!uri.startsWith(node)) return undefined;
  const id = uri.slice(node.length);
  return valid(id, RESERVED_NODE_IDS) ? nodeIdentity(id) : undefined;
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
