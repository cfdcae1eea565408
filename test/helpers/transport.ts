/**
 * Transport test helpers: certificates generated into a temp dir by the real generator, TLS
 * material per identity, a node server on an ephemeral loopback port, and a raw TLS client that
 * authenticates properly and then writes whatever bytes a test wants.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { generateDevCertificates, certificatePaths, pkiLayout, type PkiLayout } from '../../src/transport/certs.js';
import { COORDINATOR, type PeerIdentity } from '../../src/transport/identity.js';
import { TransportServer, type ServerOptions } from '../../src/transport/server.js';
import { connect, type ConnectOptions } from '../../src/transport/client.js';
import type { FrameConnection } from '../../src/transport/connection.js';
import type { TlsMaterial } from '../../src/transport/tls.js';

export const NODE_IDS = ['node_1', 'node_2', 'node_3'] as const;

export interface Pki {
  /** the directory the services read */
  readonly dir: string;
  readonly layout: PkiLayout;
  /** the internal CA */
  readonly caPem: Buffer;
  /** the public API's CA */
  readonly publicCaPem: Buffer;
  /** this identity's certificate and key, trusting this PKI's internal CA */
  material(identity: PeerIdentity): Promise<TlsMaterial>;
  /** the public API's certificate and key, trusting the public CA */
  publicApiMaterial(): Promise<TlsMaterial>;
  cleanup(): Promise<void>;
}

/** A fresh development PKI with certificates for node_1..3 and the coordinator, in a temp dir (CA keys beside it). */
export async function makePki(nodeIds: readonly string[] = NODE_IDS): Promise<Pki> {
  const root = await mkdtemp(join(tmpdir(), 'mpc-pki-'));
  const layout = pkiLayout(join(root, 'certs'), join(root, 'certs-ca'));
  await generateDevCertificates({ dir: layout.dir, caDir: layout.caDir, nodeIds });
  const caPem = await readFile(layout.internalCa.cert);
  const publicCaPem = await readFile(layout.publicCa.cert);
  return {
    dir: layout.dir,
    layout,
    caPem,
    publicCaPem,
    async material(identity) {
      const p = certificatePaths(layout.dir, identity);
      return { ca: caPem, cert: await readFile(p.cert), key: await readFile(p.key) };
    },
    async publicApiMaterial() {
      return {
        ca: publicCaPem,
        cert: await readFile(layout.publicApi.cert),
        key: await readFile(layout.publicApi.key),
      };
    },
    cleanup: () => rm(root, { recursive: true, force: true }),
  };
}

/** Short timers so failure paths show within a test's budget. */
export const FAST = {
  heartbeatIntervalMs: 1_000,
  heartbeatMisses: 3,
  frameTimeoutMs: 2_000,
  requestTimeoutMs: 2_000,
} as const;

/** A node's server on 127.0.0.1:<ephemeral>, admitting the coordinator only (unless told otherwise). */
export async function startServer(
  pki: Pki,
  self: PeerIdentity,
  options: Partial<ServerOptions> = {},
  atPort = 0,
): Promise<{ server: TransportServer; port: number }> {
  const server = new TransportServer({
    tls: await pki.material(self),
    acceptPeers: [COORDINATOR],
    ...FAST,
    ...options,
  });
  const { port } = await server.listen(atPort, '127.0.0.1');
  return { server, port };
}

export async function dial(
  pki: Pki,
  self: PeerIdentity,
  port: number,
  expectedPeer: PeerIdentity,
  options: Partial<ConnectOptions> = {},
): Promise<FrameConnection> {
  return connect({ host: '127.0.0.1', port, tls: await pki.material(self), expectedPeer, ...FAST, ...options });
}

/** A TLS client with real credentials that skips the identity check and leaves framing to the test. */
export function rawTls(port: number, tls: TlsMaterial): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({
      host: '127.0.0.1',
      port,
      ca: tls.ca,
      cert: tls.cert,
      key: tls.key,
      minVersion: 'TLSv1.3',
      checkServerIdentity: () => undefined,
    });
    s.once('secureConnect', () => {
      s.off('error', reject);
      s.on('error', () => undefined);
      s.resume(); // discard READY and pings: this client answers nothing
      resolve(s);
    });
    s.once('error', reject);
  });
}

/** Resolves with the first emission of `event` (its first argument), or rejects after `ms`. */
export function next<T = unknown>(emitter: NodeJS.EventEmitter, event: string, ms = 5_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      emitter.off(event, on);
      reject(new Error(`no ${event} within ${ms} ms`));
    }, ms);
    const on = (value: T): void => {
      clearTimeout(timer);
      resolve(value);
    };
    emitter.once(event, on);
  });
}

export function socketClosed(s: TLSSocket, ms = 5_000): Promise<void> {
  if (s.closed) return Promise.resolve();
  return next(s, 'close', ms).then(() => undefined);
}
