/**
 * The dialling end (the coordinator, one client per node). `connect` makes one attempt: TLS 1.3
 * with this end's certificate, the server's chain checked against the deployment CA and its
 * certificate required to name the expected identity — the node listed at this address — in place
 * of a hostname check; then it waits for the server's READY. `TransportClient` keeps one such
 * connection up, reconnecting with exponential backoff and jitter until stopped.
 * @module
 */
import { EventEmitter } from 'node:events';
import { isIP } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions as TlsConnectOptions, type PeerCertificate } from 'node:tls';
import type { Logger } from 'pino';
import { silentLogger } from '../util/log.js';
import { backoffDelay, type BackoffOptions } from './backoff.js';
import { FrameConnection, connectionOptions, type ConnectionOptions } from './connection.js';
import { ConnectionClosedError, IdentityError, TransportError } from './errors.js';
import { formatIdentity, identityFromCertificate, sameIdentity, type PeerIdentity } from './identity.js';
import { secureContextOptions, TLS_VERSION, type TlsMaterial } from './tls.js';

export interface ConnectOptions extends ConnectionOptions {
  host: string;
  port: number;
  tls: TlsMaterial;
  /** who must answer at host:port (the coordinator: NODE_IDS[k] for NODE_HOSTS[k]) */
  expectedPeer: PeerIdentity;
  /** TCP connect to READY (default 10 s) */
  connectTimeoutMs?: number;
  /** abandons the attempt (TransportClient.stop) */
  signal?: AbortSignal;
}

/** Our replacement of the hostname check: the certificate must name the expected identity. */
function identityCheck(expected: PeerIdentity) {
  return (_host: string, cert: PeerCertificate): Error | undefined => {
    try {
      const named = identityFromCertificate(cert.raw);
      if (sameIdentity(named, expected)) return undefined;
      return new IdentityError(`expected ${formatIdentity(expected)}, the server presented ${formatIdentity(named)}`);
    } catch (e) {
      return e as Error;
    }
  };
}

/**
 * One connection attempt; resolves once the server sent READY.
 * @throws IdentityError (wrong server identity), TLS errors (chain, version), TransportError (timeout),
 *   ConnectionClosedError (the server hung up before READY, e.g. because it refused our identity)
 */
export function connect(options: ConnectOptions): Promise<FrameConnection> {
  const { host, port, expectedPeer } = options;
  const timeoutMs = options.connectTimeoutMs ?? 10_000;
  const tlsOptions: TlsConnectOptions = {
    ...secureContextOptions(options.tls),
    host,
    port,
    rejectUnauthorized: true,
    checkServerIdentity: identityCheck(expectedPeer),
    // SNI takes host names only.
    ...(isIP(host) === 0 ? { servername: host } : {}),
  };
  return new Promise((resolve, reject) => {
    const socket = tlsConnect(tlsOptions);
    let connection: FrameConnection | undefined;
    const fail = (e: Error): void => {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      socket.off('error', fail);
      socket.on('error', () => undefined); // a late second error must not become an uncaught one
      if (connection) connection.close(e);
      else socket.destroy();
      reject(e);
    };
    const timer = setTimeout(
      () =>
        fail(
          new TransportError(
            `connecting to ${formatIdentity(expectedPeer)} at ${host}:${port} timed out after ${timeoutMs} ms`,
          ),
        ),
      timeoutMs,
    );
    socket.once('error', fail);
    const onAbort = (): void =>
      fail(new ConnectionClosedError(`connecting to ${formatIdentity(expectedPeer)} was abandoned`));
    if (options.signal?.aborted) onAbort();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    socket.once('secureConnect', () => {
      if (socket.getProtocol() !== TLS_VERSION)
        return fail(new TransportError(`negotiated ${String(socket.getProtocol())}, need ${TLS_VERSION}`));
      socket.off('error', fail); // the connection owns the socket's errors from here
      const conn = new FrameConnection(socket, expectedPeer, 'client', connectionOptions(options));
      connection = conn;
      const onClose = (reason: Error | undefined): void => {
        const why = reason ? `: ${reason.message}` : '';
        fail(
          new ConnectionClosedError(
            `${formatIdentity(expectedPeer)} at ${host}:${port} closed the connection before it was ready${why}`,
          ),
        );
      };
      conn.once('close', onClose);
      conn.once('ready', () => {
        clearTimeout(timer);
        options.signal?.removeEventListener('abort', onAbort);
        conn.off('close', onClose);
        resolve(conn);
      });
    });
  });
}

export interface ClientOptions extends ConnectOptions {
  backoff?: BackoffOptions;
}

interface ClientEvents {
  connected: [connection: FrameConnection];
  /** an established connection ended */
  disconnected: [reason: Error | undefined];
  /** an attempt failed; the next is in `retryInMs` */
  attemptFailed: [info: { attempt: number; error: Error; retryInMs: number }];
}

/** Keeps one connection to one peer up until `stop()`. */
export class TransportClient extends EventEmitter<ClientEvents> {
  private readonly log: Logger;
  private current: FrameConnection | undefined;
  private running = false;
  private attempt = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private attemptAbort: AbortController | undefined;
  private connecting: Promise<void> | undefined;

  constructor(private readonly options: ClientOptions) {
    super();
    this.log = (options.logger ?? silentLogger()).child({
      component: 'transport-client',
      peer: formatIdentity(options.expectedPeer),
    });
  }

  get peer(): PeerIdentity {
    return this.options.expectedPeer;
  }

  /** The open connection, if any. */
  get connection(): FrameConnection | undefined {
    return this.current && !this.current.closed ? this.current : undefined;
  }

  start(): this {
    if (!this.running) {
      this.running = true;
      this.dial();
    }
    return this;
  }

  /** Closes the connection and stops reconnecting. */
  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.retryTimer);
    this.attemptAbort?.abort();
    await this.connecting;
    const c = this.current;
    this.current = undefined;
    if (c) {
      c.close();
      await c.closedPromise();
    }
  }

  /** The open connection, or the next one within `timeoutMs`. */
  waitForConnection(timeoutMs = 10_000): Promise<FrameConnection> {
    const open = this.connection;
    if (open) return Promise.resolve(open);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.off('connected', onConnected);
        reject(new ConnectionClosedError(`no connection to ${formatIdentity(this.peer)} within ${timeoutMs} ms`));
      }, timeoutMs);
      const onConnected = (c: FrameConnection): void => {
        clearTimeout(timer);
        resolve(c);
      };
      this.once('connected', onConnected);
    });
  }

  /** A request on the current connection; fails at once when there is none. */
  request(body: Uint8Array, options: { timeoutMs?: number } = {}): Promise<Buffer> {
    const c = this.connection;
    return c
      ? c.request(body, options)
      : Promise.reject(new ConnectionClosedError(`not connected to ${formatIdentity(this.peer)}`));
  }

  /** A one-way message on the current connection; fails at once when there is none. */
  send(payload: Uint8Array): Promise<void> {
    const c = this.connection;
    return c
      ? c.send(payload)
      : Promise.reject(new ConnectionClosedError(`not connected to ${formatIdentity(this.peer)}`));
  }

  private dial(): void {
    if (!this.running) return;
    const abort = new AbortController();
    this.attemptAbort = abort;
    this.connecting = connect({ ...this.options, signal: abort.signal }).then(
      (conn) => {
        if (!this.running) return conn.close();
        this.attempt = 0;
        this.current = conn;
        this.log.info('connected');
        conn.once('close', (reason) => {
          if (this.current === conn) this.current = undefined;
          this.emit('disconnected', reason);
          if (this.running) {
            this.log.warn({ reason: reason?.message }, 'disconnected; reconnecting');
            this.schedule(undefined);
          }
        });
        this.emit('connected', conn);
      },
      (e: Error) => {
        if (this.running) this.schedule(e);
      },
    );
  }

  private schedule(error: Error | undefined): void {
    const retryInMs = backoffDelay(this.attempt, this.options.backoff);
    if (error) {
      this.log.warn({ attempt: this.attempt, reason: error.message, retryInMs }, 'connection attempt failed');
      this.emit('attemptFailed', { attempt: this.attempt, error, retryInMs });
    }
    this.attempt++;
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.dial(), retryInMs);
  }
}
