/**
 * The HTTPS server the wallet API runs on: TLS 1.2 or 1.3 only (the seed's "HTTPS (TLS 1.2+)"),
 * Node's default cipher list (forward-secret AEAD suites), and a close that lets requests under
 * way finish before it gives up on them.
 * @module
 */
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type Koa from 'koa';

export interface HttpsOptions {
  readonly cert: string | Buffer;
  readonly key: string | Buffer;
  readonly port: number;
  /** default: all interfaces */
  readonly host?: string;
  /** request headers must arrive within this time (default 10 s; slowloris) */
  readonly headersTimeoutMs?: number;
  /** a whole request within this time (default 60 s; signing on demand can take seconds) */
  readonly requestTimeoutMs?: number;
}

export const MIN_TLS_VERSION = 'TLSv1.2';

export interface RunningServer {
  readonly server: Server;
  readonly port: number;
  /** stop accepting; wait up to `graceMs` for requests under way, then cut the rest */
  close(graceMs?: number): Promise<void>;
}

export async function startHttpsServer(app: Koa, o: HttpsOptions): Promise<RunningServer> {
  const server = createServer(
    {
      cert: o.cert,
      key: o.key,
      minVersion: MIN_TLS_VERSION,
      headersTimeout: o.headersTimeoutMs ?? 10_000,
      requestTimeout: o.requestTimeoutMs ?? 60_000,
    },
    app.callback(),
  );
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => {
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
