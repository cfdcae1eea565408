/**
 * The listening end (a node): accepts TCP, applies the optional IP allow-list before any TLS,
 * runs the TLS 1.3 handshake requiring a client certificate from the deployment CA, then admits
 * the connection only if the certificate names one of the accepted identities (for a node: the
 * coordinator, and nobody else). Every refusal closes that one socket and is reported as a
 * `rejected` event; the server goes on serving.
 * @module
 */
import { EventEmitter } from 'node:events';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import { silentLogger } from '../util/log.js';
import { FrameConnection, connectionOptions, type ConnectionOptions } from './connection.js';
import { createAllowList } from './firewall.js';
import { formatIdentity, identityFromCertificate, sameIdentity, type PeerIdentity } from './identity.js';
import { secureContextOptions, TLS_VERSION, type TlsMaterial } from './tls.js';

export interface ServerOptions extends ConnectionOptions {
  tls: TlsMaterial;
  /** identities admitted after the handshake (a node: `[COORDINATOR]`) */
  acceptPeers: readonly PeerIdentity[];
  /** if set, connections from any other remote address are dropped at accept time */
  allowedAddresses?: readonly string[] | undefined;
  /** a TLS handshake must finish within this (default 10 s) */
  handshakeTimeoutMs?: number;
  /** simultaneous sockets, authenticated or not (default 16) */
  maxConnections?: number;
  /** a new connection from an identity closes its older one (default true: a reconnecting coordinator replaces its dead link) */
  replaceExisting?: boolean;
}

export interface Rejection {
  remoteAddress: string | undefined;
  /** stage: `address` (allow-list), `tls` (handshake or chain), `identity` (certificate names someone else) */
  stage: 'address' | 'tls' | 'identity';
  reason: string;
}

interface ServerEvents {
  connection: [connection: FrameConnection];
  rejected: [rejection: Rejection];
  error: [error: Error];
}

export class TransportServer extends EventEmitter<ServerEvents> {
  private readonly net: NetServer;
  private readonly tlsServer: TlsServer;
  private readonly log: Logger;
  private readonly live = new Set<FrameConnection>();
  private readonly sockets = new Set<Socket>();
  /** raw sockets whose TLS connection was admitted (the accept deadline no longer applies) */
  private readonly admitted = new WeakSet<object>();
  private readonly allowed: ((address: string | undefined) => boolean) | undefined;

  constructor(private readonly options: ServerOptions) {
    super();
    if (options.acceptPeers.length === 0) throw new RangeError('acceptPeers is empty: the server would admit nobody');
    this.log = (options.logger ?? silentLogger()).child({ component: 'transport-server' });
    this.allowed = options.allowedAddresses ? createAllowList(options.allowedAddresses) : undefined;
    this.tlsServer = createTlsServer({
      ...secureContextOptions(options.tls),
      requestCert: true,
      rejectUnauthorized: true,
      handshakeTimeout: options.handshakeTimeoutMs ?? 10_000,
    });
    this.tlsServer.on('secureConnection', (s: TLSSocket) => this.admit(s));
    this.tlsServer.on('tlsClientError', (e: Error, s: TLSSocket) => this.reject(s.remoteAddress, 'tls', e.message));
    // TCP is accepted here and handed to the TLS server only if the address passes: a dropped
    // peer never reaches the TLS stack.
    this.net = createNetServer((socket) => this.accept(socket));
    this.net.maxConnections = options.maxConnections ?? 16;
    this.net.on('error', (e) => this.emit('error', e));
  }

  /** Starts listening; resolves with the bound address (port 0 picks a free one). */
  listen(port: number, host = '127.0.0.1'): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      const onError = (e: Error): void => reject(e);
      this.net.once('error', onError);
      this.net.listen(port, host, () => {
        this.net.off('error', onError);
        const address = this.net.address() as AddressInfo;
        this.log.info({ address: `${address.address}:${address.port}` }, 'listening');
        resolve(address);
      });
    });
  }

  get address(): AddressInfo | undefined {
    return (this.net.address() as AddressInfo | null) ?? undefined;
  }

  /** Authenticated, open connections. */
  get connections(): ReadonlySet<FrameConnection> {
    return this.live;
  }

  /** Stops listening and closes every socket, authenticated or not. */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.net.close(() => resolve()));
    for (const c of this.live) c.close();
    for (const s of this.sockets) s.destroy();
    await closed;
  }

  private accept(socket: Socket): void {
    if (this.allowed && !this.allowed(socket.remoteAddress)) {
      socket.destroy();
      this.reject(socket.remoteAddress, 'address', 'address not in the allow-list');
      return;
    }
    this.sockets.add(socket);
    // The TLS server's handshake timeout does not cover a socket handed over this way when the
    // peer stalls inside its first record: bound the time from accept to admission here.
    const limitMs = this.options.handshakeTimeoutMs ?? 10_000;
    const deadline = setTimeout(() => {
      if (this.admitted.has(socket)) return;
      socket.destroy();
      this.reject(socket.remoteAddress, 'tls', `no completed handshake within ${limitMs} ms`);
    }, limitMs);
    deadline.unref();
    socket.once('close', () => {
      clearTimeout(deadline);
      this.sockets.delete(socket);
    });
    // Swallow errors of the raw socket (resets during the handshake); the TLS layer reports them.
    socket.on('error', () => undefined);
    this.tlsServer.emit('connection', socket);
  }

  private admit(socket: TLSSocket): void {
    const remote = socket.remoteAddress;
    // rejectUnauthorized already refused a bad chain; these are belt and braces.
    if (!socket.authorized || socket.getProtocol() !== TLS_VERSION) {
      socket.destroy();
      this.reject(remote, 'tls', `unauthorised (${String(socket.authorizationError ?? socket.getProtocol())})`);
      return;
    }
    let peer: PeerIdentity;
    try {
      peer = identityFromCertificate(socket.getPeerCertificate().raw);
    } catch (e) {
      socket.destroy();
      this.reject(remote, 'identity', (e as Error).message);
      return;
    }
    if (!this.options.acceptPeers.some((p) => sameIdentity(p, peer))) {
      socket.destroy();
      this.reject(remote, 'identity', `${formatIdentity(peer)} may not connect here`);
      return;
    }
    if (this.options.replaceExisting ?? true) {
      for (const c of this.live) if (sameIdentity(c.peer, peer)) c.close(new Error(`replaced by a new connection from ${formatIdentity(peer)}`));
    }
    // the TLSSocket wraps the raw socket accepted in accept()
    const raw = (socket as unknown as { _parent?: object })._parent;
    if (raw) this.admitted.add(raw);
    const connection = new FrameConnection(socket, peer, 'server', { ...connectionOptions(this.options), logger: this.log });
    this.live.add(connection);
    connection.once('close', () => this.live.delete(connection));
    this.log.info({ peer: formatIdentity(peer), remote }, 'peer connected');
    this.emit('connection', connection);
  }

  private reject(remoteAddress: string | undefined, stage: Rejection['stage'], reason: string): void {
    this.log.warn({ remote: remoteAddress, stage, reason }, 'connection refused');
    this.emit('rejected', { remoteAddress, stage, reason });
  }
}
