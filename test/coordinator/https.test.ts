/**
 * The wallet API's HTTPS server: TLS 1.3 by default, TLS 1.2 accepted, anything older refused,
 * with the API's certificate from the development public CA. Loopback unless told otherwise; a
 * socket that never finishes its TLS handshake, or never finishes its headers, is cut within
 * seconds (Node's defaults hold them for 120 s and up to 40 s); connections are capped in all and
 * per address; Node's own 400/408/431 answers are problem+json.
 */
import test from 'ava';
import { connect as tcpConnect } from 'node:net';
import { performance } from 'node:perf_hooks';
import { connect, type TLSSocket } from 'node:tls';
import Koa from 'koa';
import { startHttpsServer, type HttpsOptions, type RunningServer } from '../../src/coordinator/https.js';
import { makePki, type Pki } from '../helpers/transport.js';

let pki: Pki;
test.before(async () => {
  pki = await makePki();
});
test.after.always(() => pki.cleanup());

function handshake(
  port: number,
  ca: Buffer,
  versions: {
    minVersion?: 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3';
    maxVersion?: 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3';
  },
): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, ca, servername: 'localhost', ...versions }, () => {
      const protocol = socket.getProtocol() ?? '';
      socket.end();
      resolve(protocol);
    });
    socket.once('error', reject);
  });
}

function okApp(delayMs = 0): Koa {
  const app = new Koa();
  app.use(async (ctx) => {
    if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
    ctx.body = { ok: true };
  });
  return app;
}

async function start(options: Partial<HttpsOptions> = {}, app: Koa = okApp()): Promise<RunningServer> {
  const material = await pki.publicApiMaterial();
  return startHttpsServer(app, { cert: material.cert, key: material.key, port: 0, host: '127.0.0.1', ...options });
}

/** A TLS connection that completed its handshake, or the error that ended it first. */
function tlsOpen(port: number): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, ca: pki.publicCaPem, servername: 'localhost' });
    socket.once('secureConnect', () => resolve(socket));
    socket.once('error', reject);
    socket.once('close', () => reject(new Error('closed before the handshake finished')));
  });
}

interface Exchange {
  readonly text: string;
  readonly closed: boolean;
  readonly ms: number;
}

/** Sends `payload` over TLS and reads until the server closes, or gives up after `limitMs`. */
function exchange(port: number, payload: string, limitMs: number): Promise<Exchange> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    let text = '';
    const socket = connect({ host: '127.0.0.1', port, ca: pki.publicCaPem, servername: 'localhost' }, () => {
      if (payload !== '') socket.write(payload);
    });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ text, closed: false, ms: performance.now() - started });
    }, limitMs);
    socket.on('data', (b: Buffer) => (text += b.toString('utf8')));
    socket.once('error', (e: Error) => {
      clearTimeout(timer);
      reject(e);
    });
    socket.once('close', () => {
      clearTimeout(timer);
      resolve({ text, closed: true, ms: performance.now() - started });
    });
  });
}

/** The problem body of a raw HTTP answer, after checking its status line and content type. */
function problemOf(t: import('ava').ExecutionContext, raw: string, status: number, slug: string): void {
  const [head = '', body = ''] = raw.split('\r\n\r\n');
  t.regex(head, new RegExp(`^HTTP/1\\.1 ${status} `), raw);
  t.regex(head, /\r\ncontent-type: application\/problem\+json\r\n/i);
  t.like(JSON.parse(body), { type: `urn:mpc-engine:problem:${slug}`, status });
}

test('TLS 1.3 and 1.2 are accepted, 1.1 refused; requests are answered', async (t) => {
  const server = await start();
  t.teardown(() => server.close(100));
  t.is(await handshake(server.port, pki.publicCaPem, {}), 'TLSv1.3');
  t.is(await handshake(server.port, pki.publicCaPem, { maxVersion: 'TLSv1.2' }), 'TLSv1.2');
  await t.throwsAsync(handshake(server.port, pki.publicCaPem, { minVersion: 'TLSv1', maxVersion: 'TLSv1.1' }));
});

test('without a host it listens on loopback only', async (t) => {
  const material = await pki.publicApiMaterial();
  const server = await startHttpsServer(okApp(), { cert: material.cert, key: material.key, port: 0 });
  t.teardown(() => server.close(100));
  t.is((server.server.address() as { address: string }).address, '127.0.0.1');
});

test('a TCP connection that never starts TLS is closed within seconds (default handshake timeout)', async (t) => {
  const server = await start();
  t.teardown(() => server.close(100));
  const outcome = await new Promise<{ closed: boolean; ms: number }>((resolve) => {
    const started = performance.now();
    const socket = tcpConnect(server.port, '127.0.0.1');
    socket.on('error', () => undefined);
    // Node's default is 120 s: 30 s is far above the 5 s default and far below that
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ closed: false, ms: performance.now() - started });
    }, 30_000);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve({ closed: true, ms: performance.now() - started });
    });
  });
  t.true(outcome.closed, `still open after ${Math.round(outcome.ms)} ms`);
  t.true(outcome.ms >= 2_000, `closed after ${Math.round(outcome.ms)} ms: by the timeout, not at once`);
});

test('headers that never finish get 408 problem+json within seconds with the default limits', async (t) => {
  const server = await start();
  t.teardown(() => server.close(100));
  t.is(server.server.headersTimeout, 10_000);
  t.is(server.server.requestTimeout, 10_000);
  // 10 s limit checked every second; Node's default check interval (30 s) would answer at 30–40 s
  const slow = await exchange(server.port, 'GET / HTTP/1.1\r\nHost: localhost\r\nX-Slow: ', 25_000);
  t.true(slow.closed, `still open after ${Math.round(slow.ms)} ms`);
  problemOf(t, slow.text, 408, 'request-timeout');
});

test('a TLS connection that sends nothing is cut by the headers timeout', async (t) => {
  const server = await start({ headersTimeoutMs: 1_000, checkIntervalMs: 100 });
  t.teardown(() => server.close(100));
  const silent = await exchange(server.port, '', 15_000);
  t.true(silent.closed, `still open after ${Math.round(silent.ms)} ms`);
});

test('the request timeout bounds receiving a request, not the time to answer it', async (t) => {
  const server = await start({ requestTimeoutMs: 500, headersTimeoutMs: 500, checkIntervalMs: 100 }, okApp(1_500));
  t.teardown(() => server.close(100));
  const res = await exchange(server.port, 'GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n', 20_000);
  t.regex(res.text, /^HTTP\/1\.1 200 /);
  t.regex(res.text, /\{"ok":true\}/);
});

test('malformed HTTP is 400 and oversized headers 431, both problem+json', async (t) => {
  const server = await start();
  t.teardown(() => server.close(100));
  problemOf(t, (await exchange(server.port, 'NOT HTTP AT ALL\r\n\r\n', 15_000)).text, 400, 'bad-request');
  problemOf(
    t,
    (await exchange(server.port, 'GET / HTTP/1.1\r\nHost: localhost\r\nContent-Length: x\r\n\r\n', 15_000)).text,
    400,
    'bad-request',
  );
  const huge = `GET / HTTP/1.1\r\nHost: localhost\r\nX-Big: ${'a'.repeat(20 * 1024)}\r\n\r\n`;
  problemOf(t, (await exchange(server.port, huge, 15_000)).text, 431, 'headers-too-large');
});

async function closeAll(sockets: TLSSocket[]): Promise<void> {
  await Promise.all(
    sockets.map((s) => new Promise<void>((r) => (s.destroyed ? r() : (s.once('close', () => r()), s.destroy())))),
  );
}

/** Opens a connection, retrying while the server has not yet seen an earlier one close (bounded). */
async function openEventually(port: number): Promise<TLSSocket> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await tlsOpen(port);
    } catch (e) {
      if (attempt >= 50) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

test('connections from one address are capped; closing one makes room', async (t) => {
  const refused: string[] = [];
  const server = await start({ maxConnectionsPerIp: 3, onRefused: (cap) => refused.push(cap) });
  const open: TLSSocket[] = [];
  t.teardown(async () => {
    await closeAll(open);
    await server.close(100);
  });
  for (let n = 0; n < 3; n++) open.push(await tlsOpen(server.port));
  await t.throwsAsync(tlsOpen(server.port), undefined, 'the fourth is refused');
  await closeAll(open.splice(0, 1));
  open.push(await openEventually(server.port));
  await t.throwsAsync(tlsOpen(server.port), undefined, 'and the cap holds again');
  // two refusals at least (openEventually may have been refused while the server saw the close)
  t.true(
    refused.length >= 2 && refused.every((cap) => cap === 'per-ip'),
    `each refusal is counted: ${refused.join(', ')}`,
  );
});

test('an exempt address (a trusted proxy) is not capped per address', async (t) => {
  const server = await start({ maxConnectionsPerIp: 1, exemptFromPerIpCap: (ip) => ip === '127.0.0.1' });
  const open: TLSSocket[] = [];
  t.teardown(async () => {
    await closeAll(open);
    await server.close(100);
  });
  for (let n = 0; n < 3; n++) open.push(await tlsOpen(server.port));
  t.is(open.length, 3);
});

test('connections are capped in all', async (t) => {
  const refused: string[] = [];
  const server = await start({ maxConnections: 2, maxConnectionsPerIp: 100, onRefused: (cap) => refused.push(cap) });
  const open: TLSSocket[] = [];
  t.teardown(async () => {
    await closeAll(open);
    await server.close(100);
  });
  for (let n = 0; n < 2; n++) open.push(await tlsOpen(server.port));
  await t.throwsAsync(tlsOpen(server.port));
  t.deepEqual(refused, ['total']);
  await closeAll(open.splice(0, 1));
  open.push(await openEventually(server.port));
});
