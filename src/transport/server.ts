/**
 * The listening end (a node): accepts TCP, applies the optional IP allow-list before any TLS,
 * runs the TLS 1.3 handshake requiring a client certificate from the deployment CA, then admits
 * the connection only if the certificate names one of the accepted identities (for a node: the
 * coordinator, and nobody else). Every refusal closes that one socket and is reported as a
 * `rejected` event; the server goes on serving.
 *
 * Slots. Sockets that have not finished TLS and authentication are capped apart from admitted
 * connections, so no number of silent or half-open sockets can take the coordinator's place:
 * each gets `handshakeTimeoutMs` to finish, and when the unauthenticated slots are full the oldest
 * is dropped for the newcomer (a stalled socket is worth less than a new one, and a peer must then
 * open sockets faster than a TLS handshake completes to keep anyone out, a flood rather than a
 * trickle). Refusals are logged once per source and reason per minute, not once per socket.
 *
 * One link per identity. A second connection from an identity that already has a link (a second
 * coordinator with the same certificate, or the same coordinator reconnecting) does not replace
 * the link outright: two processes doing that would take the link from each other for ever. The
 * existing link is asked for a sign of life (a PING answered within `livenessCheckMs`); if it
 * answers, the newcomer is refused with the reason; if not (its peer vanished without closing
 * it), it is closed and the newcomer admitted, so a reconnecting coordinator is back within that
 * bound.
 * @module
 */
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import { silentLogger } from '../util/log.js';
import { CONNECTION_DEFAULTS, FrameConnection, connectionOptions, type ConnectionOptions } from './connection.js';
import { createAllowList } from './firewall.js';
import { FrameType, encodeFrame, withId, MAX_ERROR_REASON_BYTES } from './frame.js';
import { RefusalLog } from './refusal-log.js';
import { formatIdentity, identityFromCertificate, sameIdentity, type PeerIdentity } from './identity.js';
import { secureContextOptions, TLS_VERSION, type TlsMaterial } from './tls.js';

export interface ServerOptions extends ConnectionOptions {
  tls: TlsMaterial;
  /** identities admitted after the handshake (a node: `[COORDINATOR]`) */
  acceptPeers: readonly PeerIdentity[];
  /** if set, connections from any other remote address are dropped at accept time */
  allowedAddresses?: readonly string[] | undefined;
  /** a socket must finish TLS and authentication within this from accept (default 5 s) */
  handshakeTimeoutMs?: number;
  /** sockets not yet authenticated (default 8); when full, the oldest is dropped for a new one */
  maxUnauthenticated?: number;
  /** admitted connections, and authenticated ones awaiting admission (default 4) */
  maxAuthenticated?: number;
  /** at most one link per identity, see the module comment (default true) */
  singleLinkPerPeer?: boolean;
  /** how long an existing link has to answer a PING when its identity connects again (default min(heartbeat interval × misses, 5 s)) */
  livenessCheckMs?: number;
  /** one log line per refused source and reason per this interval (default 60 s) */
  refusalLogIntervalMs?: number;
}

export interface Rejection {
  remoteAddress: string | undefined;
  /**
   * stage: `address` (allow-list), `tls` (handshake, chain or deadline), `identity` (certificate
   * names someone else), `capacity` (slots full), `duplicate` (the identity has a live link)
   */
  stage: 'address' | 'tls' | 'identity' | 'capacity' | 'duplicate';
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
  /** raw sockets not yet authenticated, oldest first, with their remote address (gone once destroyed) */
  private readonly unauthenticated = new Map<Socket, string | undefined>();
  /** raw sockets whose TLS connection was authenticated (the accept deadline no longer applies) */
  private readonly admitted = new WeakSet<object>();
  /** identities whose existing link is being checked because they connected again */
  private readonly checking = new Set<string>();
  private readonly allowed: ((address: string | undefined) => boolean) | undefined;
  private readonly refusals: RefusalLog;
  private readonly handshakeTimeoutMs: number;
  private readonly maxUnauthenticated: number;
  private readonly maxAuthenticated: number;
  private readonly livenessCheckMs: number;

  constructor(private readonly options: ServerOptions) {
    super();
    if (options.acceptPeers.length === 0) throw new RangeError('acceptPeers is empty: the server would admit nobody');
    this.log = (options.logger ?? silentLogger()).child({ component: 'transport-server' });
    this.allowed = options.allowedAddresses ? createAllowList(options.allowedAddresses) : undefined;
    this.refusals = new RefusalLog(this.log, { intervalMs: options.refusalLogIntervalMs ?? 60_000 });
    this.handshakeTimeoutMs = options.handshakeTimeoutMs ?? 5_000;
    this.maxUnauthenticated = options.maxUnauthenticated ?? 8;
    this.maxAuthenticated = options.maxAuthenticated ?? 4;
    const heartbeat =
      (options.heartbeatIntervalMs ?? CONNECTION_DEFAULTS.heartbeatIntervalMs) *
      (options.heartbeatMisses ?? CONNECTION_DEFAULTS.heartbeatMisses);
    this.livenessCheckMs = options.livenessCheckMs ?? Math.min(heartbeat, 5_000);
    for (const [name, v] of Object.entries({
      handshakeTimeoutMs: this.handshakeTimeoutMs,
      maxUnauthenticated: this.maxUnauthenticated,
      maxAuthenticated: this.maxAuthenticated,
      livenessCheckMs: this.livenessCheckMs,
    })) {
      if (!Number.isSafeInteger(v) || v < 1)
        throw new RangeError(`${name} must be a positive integer, got ${String(v)}`);
    }
    this.tlsServer = createTlsServer({
      ...secureContextOptions(options.tls),
      requestCert: true,
      rejectUnauthorized: true,
      handshakeTimeout: this.handshakeTimeoutMs,
    });
    this.tlsServer.on('secureConnection', (s: TLSSocket) => this.admit(s));
    this.tlsServer.on('tlsClientError', (e: Error, s: TLSSocket) => this.reject(s.remoteAddress, 'tls', e.message));
    // TCP is accepted here and handed to the TLS server only if the address passes: a dropped
    // peer never reaches the TLS stack.
    this.net = createNetServer((socket) => this.accept(socket));
    // a backstop only: the two caps below are enforced in accept() and admit()
    this.net.maxConnections = this.maxUnauthenticated + this.maxAuthenticated + 1;
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
    const remote = socket.remoteAddress;
    if (this.unauthenticated.size >= this.maxUnauthenticated) {
      const [oldest, address] = this.unauthenticated.entries().next().value as [Socket, string | undefined];
      this.unauthenticated.delete(oldest);
      oldest.destroy();
      this.reject(
        address,
        'capacity',
        `${this.maxUnauthenticated} unauthenticated connections open: the oldest was dropped for a new one`,
      );
    }
    this.sockets.add(socket);
    this.unauthenticated.set(socket, remote);
    // The TLS server's handshake timeout does not cover a socket handed over this way when the
    // peer stalls inside its first record: bound the time from accept to admission here.
    const limitMs = this.handshakeTimeoutMs;
    const deadline = setTimeout(() => {
      if (this.admitted.has(socket)) return;
      socket.destroy();
      this.reject(remote, 'tls', `no completed handshake within ${limitMs} ms`);
    }, limitMs);
    deadline.unref();
    socket.once('close', () => {
      clearTimeout(deadline);
      this.sockets.delete(socket);
      this.unauthenticated.delete(socket);
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
    // the TLSSocket wraps the raw socket accepted in accept(); it is authenticated from here
    const raw = (socket as unknown as { _parent?: Socket })._parent;
    if (raw) {
      this.admitted.add(raw);
      this.unauthenticated.delete(raw);
    }
    if (this.live.size + this.checking.size >= this.maxAuthenticated) {
      this.refuse(socket, remote, 'capacity', `${this.maxAuthenticated} authenticated connections open`);
      return;
    }
    const existing =
      (this.options.singleLinkPerPeer ?? true) ? [...this.live].find((c) => sameIdentity(c.peer, peer)) : undefined;
    if (!existing) {
      this.establish(socket, peer);
      return;
    }
    const who = formatIdentity(peer);
    if (this.checking.has(who)) {
      this.refuse(
        socket,
        remote,
        'duplicate',
        `${who} already has a link here, and another new connection of it is being checked`,
      );
      return;
    }
    this.checking.add(who);
    const started = performance.now();
    void existing.checkAlive(this.livenessCheckMs).then((alive) => {
      this.checking.delete(who);
      if (socket.destroyed) return;
      if (alive && !existing.closed) {
        this.refuse(
          socket,
          remote,
          'duplicate',
          `${who} already has a live link here (it answered a ping); a second connection with the same identity is refused`,
        );
        return;
      }
      const waitedMs = Math.round(performance.now() - started);
      this.log.warn(
        { peer: who, remote, waitedMs },
        'existing link did not answer a liveness check: replaced by the new connection',
      );
      existing.close(
        new Error(
          `no answer to a liveness check within ${this.livenessCheckMs} ms: replaced by a new connection from ${who}`,
        ),
      );
      this.establish(socket, peer);
    });
  }

  private establish(socket: TLSSocket, peer: PeerIdentity): void {
    const remote = socket.remoteAddress;
    const connection = new FrameConnection(socket, peer, 'server', {
      ...connectionOptions(this.options),
      logger: this.log,
    });
    this.live.add(connection);
    connection.once('close', () => this.live.delete(connection));
    this.log.info({ peer: formatIdentity(peer), remote }, 'peer connected');
    this.emit('connection', connection);
  }

  /** Tells an authenticated client why it is refused (an ERROR frame in place of READY), then closes. */
  private refuse(socket: TLSSocket, remote: string | undefined, stage: Rejection['stage'], reason: string): void {
    const text = Buffer.from(reason, 'utf8').subarray(0, MAX_ERROR_REASON_BYTES);
    socket.on('error', () => undefined);
    socket.end(encodeFrame(FrameType.Error, withId(0, text)));
    setTimeout(() => socket.destroy(), 1_000).unref();
    this.reject(remote, stage, reason);
  }

  private reject(remoteAddress: string | undefined, stage: Rejection['stage'], reason: string): void {
    this.refusals.note(
      `${stage} ${remoteAddress ?? '?'}`,
      { remote: remoteAddress, stage, reason },
      'connection refused',
    );
    this.emit('rejected', { remoteAddress, stage, reason });
  }
}
