/**
 * The HTTPS server the wallet API runs on: TLS 1.2 or 1.3 only (docs/product.md, "Components": "HTTPS (TLS 1.2+)"),
 * Node's default cipher list (forward-secret AEAD suites), and a close that lets requests under
 * way finish before it gives up on them.
 *
 * What one client can hold of it is bounded, because each open socket costs memory and a TLS
 * handshake costs CPU:
 * - it listens on loopback unless told otherwise (the API is for a wallet server, not the world);
 * - a socket must finish its TLS handshake within `handshakeTimeoutMs` (Node's default is 120 s,
 *   so a client that connects and says nothing would hold a socket for two minutes);
 * - request headers within `headersTimeoutMs` and the whole request within `requestTimeoutMs`
 *   (slowloris), checked every `checkIntervalMs` — Node checks every 30 s by default, so a
 *   10 s limit would only be enforced at up to 40 s;
 * - at most `maxConnections` sockets in all and `maxConnectionsPerIp` from one peer address
 *   (trusted proxies exempt: every client behind one shares its address).
 * Malformed HTTP, too-large headers and timeouts are answered as problem+json like every other
 * error of the API (Node's own answers are plain text).
 * @module
 */
import { createServer, type Server } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type Koa from 'koa';
import { unmapIPv4 } from '../util/ip.js';
import { silentLogger, type Logger } from '../util/log.js';
import { PROBLEM_CONTENT_TYPE, problemBody, problemTitle } from './problem.js';

export interface HttpsOptions {
  readonly cert: string | Buffer;
  readonly key: string | Buffer;
  readonly port: number;
  /** address to listen on (default 127.0.0.1: loopback only) */
  readonly host?: string;
  /** the TLS handshake must finish within this time (default 5 s) */
  readonly handshakeTimeoutMs?: number;
  /** request headers must arrive within this time (default 10 s; slowloris) */
  readonly headersTimeoutMs?: number;
  /** the whole request (not the answer: signing may take longer) within this time (default 10 s) */
  readonly requestTimeoutMs?: number;
  /** how often the two timeouts above are checked (default 1 s) */
  readonly checkIntervalMs?: number;
  /** an idle keep-alive connection is closed after this time (default 5 s, as Node) */
  readonly keepAliveTimeoutMs?: number;
  /** open sockets in all (default 1024) */
  readonly maxConnections?: number;
  /** open sockets from one peer address (default 128) */
  readonly maxConnectionsPerIp?: number;
  /** peers not subject to the per-address cap (the trusted proxies) */
  readonly exemptFromPerIpCap?: (address: string) => boolean;
  /** a connection was refused by a cap (CoordinatorMetrics.refusedConnections) */
  readonly onRefused?: (cap: 'total' | 'per-ip') => void;
  readonly log?: Logger;
}

export const MIN_TLS_VERSION = 'TLSv1.2';
export const DEFAULT_HTTPS_HOST = '127.0.0.1';
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 5_000;
export const DEFAULT_HEADERS_TIMEOUT_MS = 10_000;
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
export const DEFAULT_MAX_CONNECTIONS = 1024;
export const DEFAULT_MAX_CONNECTIONS_PER_IP = 128;

export interface RunningServer {
  readonly server: Server;
  readonly port: number;
  /** stop accepting; wait up to `graceMs` for requests under way, then cut the rest */
  close(graceMs?: number): Promise<void>;
}

/** What Node's HTTP parser and timers report, as the problem the client is answered with. */
function clientErrorProblem(code: string | undefined): { status: number; slug: string; detail: string } {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return { status: 431, slug: 'headers-too-large', detail: 'the request headers are too large' };
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return { status: 408, slug: 'request-timeout', detail: 'the request did not arrive in time' };
    default:
      return { status: 400, slug: 'bad-request', detail: 'the request is not valid HTTP/1.1' };
  }
}

/** A whole HTTP/1.1 answer, written straight to a socket (there is no response object then). */
function rawProblemResponse(status: number, slug: string, detail: string): string {
  const body = JSON.stringify(problemBody(status, slug, detail));
  return (
    `HTTP/1.1 ${status} ${problemTitle(status)}\r\n` +
    `Content-Type: ${PROBLEM_CONTENT_TYPE}\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\n` +
    'Cache-Control: no-store\r\n' +
    'Connection: close\r\n\r\n' +
    body
  );
}

export async function startHttpsServer(app: Koa, o: HttpsOptions): Promise<RunningServer> {
  const log = (o.log ?? silentLogger()).child({ component: 'https' });
  const server = createServer(
    {
      cert: o.cert,
      key: o.key,
      minVersion: MIN_TLS_VERSION,
      handshakeTimeout: o.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS,
      headersTimeout: o.headersTimeoutMs ?? DEFAULT_HEADERS_TIMEOUT_MS,
      requestTimeout: o.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
      connectionsCheckingInterval: o.checkIntervalMs ?? 1_000,
      keepAliveTimeout: o.keepAliveTimeoutMs ?? 5_000,
    },
    app.callback(),
  );
  // Beyond this many sockets Node closes new ones before any TLS work ('drop').
  server.maxConnections = o.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
  server.on('drop', (d?: { remoteAddress?: string }) => {
    log.warn({ ip: d?.remoteAddress, max: server.maxConnections }, 'connection refused: too many open connections');
    o.onRefused?.('total');
  });

  // Per peer address. Prepended, so a refused socket is closed before the TLS layer spends anything on it.
  const perIp = new Map<string, number>();
  const maxPerIp = o.maxConnectionsPerIp ?? DEFAULT_MAX_CONNECTIONS_PER_IP;
  const exempt = o.exemptFromPerIpCap ?? (() => false);
  server.prependListener('connection', (socket: Socket) => {
    const ip = unmapIPv4(socket.remoteAddress ?? 'unknown');
    if (exempt(ip)) return;
    const n = perIp.get(ip) ?? 0;
    if (n >= maxPerIp) {
      log.warn({ ip, max: maxPerIp }, 'connection refused: too many open connections from this address');
      o.onRefused?.('per-ip');
      socket.destroy();
      return;
    }
    perIp.set(ip, n + 1);
    socket.once('close', () => {
      const left = (perIp.get(ip) ?? 1) - 1;
      if (left <= 0) perIp.delete(ip);
      else perIp.set(ip, left);
    });
  });

  // Node answers these in plain text; the API's clients expect problem+json for every error.
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    const inFlight = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    if (err.code === 'ECONNRESET' || !socket.writable || inFlight?.headersSent) {
      socket.destroy();
      return;
    }
    const p = clientErrorProblem(err.code);
    log.debug({ code: err.code, status: p.status }, 'client error');
    socket.end(rawProblemResponse(p.status, p.slug, p.detail));
    // a client that does not read its answer must not keep the socket
    setTimeout(() => socket.destroy(), 2_000).unref();
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host ?? DEFAULT_HTTPS_HOST, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    server,
    port,
    close: (graceMs = 10_000) =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(() => server.closeAllConnections(), graceMs);
        server.close(() => {
          clearTimeout(timer);
          resolve();
        });
        server.closeIdleConnections();
      }),
  };
}
