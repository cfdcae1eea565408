/**
 * The wallet API over real HTTPS on loopback: the app on startHttpsServer with the coordinator's
 * certificate from a fresh test PKI, and a small client trusting that PKI's CA. Each request uses
 * a new connection unless an agent is given, so connection limits are what a test says they are.
 */
import type { Agent } from 'node:https';
import { request } from 'node:https';
import type Koa from 'koa';
import { startHttpsServer, type HttpsOptions, type RunningServer } from '../../src/coordinator/https.js';
import type { HttpAnswer } from './coordinator.js';
import type { Pki } from './transport.js';

export interface HttpsApi {
  readonly url: string;
  readonly port: number;
  readonly ca: Buffer;
  readonly running: RunningServer;
  close(): Promise<void>;
}

export async function serveHttps(app: Koa, pki: Pki, options: Partial<HttpsOptions> = {}): Promise<HttpsApi> {
  const material = await pki.publicApiMaterial();
  const running = await startHttpsServer(app, {
    cert: material.cert,
    key: material.key,
    port: 0,
    host: '127.0.0.1',
    ...options,
  });
  return {
    url: `https://127.0.0.1:${running.port}`,
    port: running.port,
    ca: pki.publicCaPem,
    running,
    close: () => running.close(1_000),
  };
}

export interface CallOptions {
  headers?: Record<string, string>;
  body?: string | Uint8Array;
  /** a keep-alive agent to reuse connections (default: a new connection for this request) */
  agent?: Agent;
}

/** One HTTPS request to `url` (https://127.0.0.1:port), trusting `ca`; the answer as the plain-HTTP helper gives it. */
export function httpsCall(
  url: string,
  ca: Buffer,
  method: string,
  path: string,
  options: CallOptions = {},
): Promise<HttpAnswer> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: hostname,
        port: Number(port),
        method,
        path,
        ca,
        servername: 'localhost',
        agent: options.agent ?? false,
        headers: options.headers ?? {},
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          const headers = new Headers();
          for (const [k, v] of Object.entries(res.headers))
            if (v !== undefined) headers.set(k, Array.isArray(v) ? v.join(', ') : v);
          resolve({ status: res.statusCode ?? 0, headers, text, json });
        });
      },
    );
    req.on('error', reject);
    if (options.body !== undefined) req.end(options.body);
    else req.end();
  });
}
