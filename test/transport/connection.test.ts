/**
 * Framed connections over real TLS: messages and requests round-trip (empty, many, 3 MiB), the
 * limits hold (oversized, garbage and stalled frames close that connection only), heartbeats find
 * a dead peer on either side and keep a quiet live one, and request errors come back typed.
 */
import test from 'ava';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { COORDINATOR, nodeIdentity } from '../../src/transport/identity.js';
import {
  ConnectionClosedError,
  FrameError,
  FrameTimeoutError,
  HeartbeatTimeoutError,
  RemoteError,
  RequestRejected,
  RequestTimeoutError,
} from '../../src/transport/errors.js';
import { FrameType, encodeFrame, encodeHeader } from '../../src/transport/frame.js';
import type { FrameConnection } from '../../src/transport/connection.js';
import { dial, makePki, next, rawTls, socketClosed, startServer, type Pki } from '../helpers/transport.js';

const node1 = nodeIdentity('node_1');

let pki: Pki;
test.before(async () => {
  pki = await makePki();
});
test.after.always(() => pki.cleanup());

/** A node server and a connected coordinator client; both closed at teardown. */
async function pair(t: { teardown: (f: () => unknown) => void }, options: Parameters<typeof startServer>[2] = {}) {
  const { server, port } = await startServer(pki, node1, options);
  t.teardown(() => server.close());
  const accepted = next<FrameConnection>(server, 'connection');
  const client = await dial(pki, COORDINATOR, port, node1, options);
  t.teardown(() => client.close());
  return { server, port, client, node: await accepted };
}

test('messages round-trip in order, including empty and 3 MiB payloads, both ways', async (t) => {
  const { client, node } = await pair(t);
  const big = Buffer.alloc(3 * 1024 * 1024);
  for (let i = 0; i < big.length; i += 4096) big[i] = i & 0xff;
  const sent = [Buffer.from('first'), Buffer.alloc(0), big, Buffer.from('last')];
  const received: Buffer[] = [];
  const done = new Promise<void>((resolve) =>
    node.on('message', (m) => {
      received.push(m);
      if (received.length === sent.length) resolve();
    }),
  );
  for (const m of sent) await client.send(m);
  await done;
  t.is(received.length, sent.length);
  for (const [k, m] of sent.entries()) t.true(received[k]!.equals(m), `message ${k}`);

  const back = next<Buffer>(client, 'message');
  await node.send(big);
  t.true((await back).equals(big));
});

test('concurrent requests are matched to their responses by id', async (t) => {
  const { client, node } = await pair(t);
  // Answers in reverse order of arrival: later requests resolve first.
  node.onRequest(async (body) => {
    await new Promise((r) => setTimeout(r, 100 - body[0]! * 10));
    return Buffer.from([body[0]! * 2]);
  });
  const replies = await Promise.all([0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map((i) => client.request(Buffer.from([i]))));
  t.deepEqual(
    replies.map((r) => r[0]),
    [0, 2, 4, 6, 8, 10, 12, 14, 16, 18],
  );
  // A large request and a large response.
  node.onRequest((body) => Buffer.alloc(2 * 1024 * 1024, body[0]));
  const r = await client.request(Buffer.alloc(1024 * 1024, 7));
  t.is(r.length, 2 * 1024 * 1024);
  t.is(r[r.length - 1], 7);
});

test('request failures come back typed and leave the connection open', async (t) => {
  const { client, node } = await pair(t);
  node.onRequest((body) => {
    const cmd = body.toString();
    if (cmd === 'reject') throw new RequestRejected('unknown session');
    if (cmd === 'crash') throw new Error('secret detail that must not travel');
    if (cmd === 'hang') return new Promise<Uint8Array>(() => undefined);
    return Buffer.from('ok');
  });
  const rejected = await t.throwsAsync(client.request(Buffer.from('reject')), { instanceOf: RemoteError });
  t.regex(rejected.message, /unknown session/);
  const crashed = await t.throwsAsync(client.request(Buffer.from('crash')), { instanceOf: RemoteError });
  t.regex(crashed.message, /internal error/);
  t.notRegex(crashed.message, /secret/);
  await t.throwsAsync(client.request(Buffer.from('hang'), { timeoutMs: 150 }), { instanceOf: RequestTimeoutError });
  t.is(client.pendingRequests, 0);
  t.is((await client.request(Buffer.from('fine'))).toString(), 'ok');
  t.false(client.closed);
});

test('a payload over the cap is refused at send without touching the connection', async (t) => {
  const { client, node } = await pair(t, { maxFrameBytes: 64 * 1024 });
  await t.throwsAsync(client.send(Buffer.alloc(64 * 1024 + 1)), { instanceOf: RangeError });
  await t.throwsAsync(client.request(Buffer.alloc(64 * 1024)), { instanceOf: RangeError }); // id makes it 4 bytes over
  const got = next<Buffer>(node, 'message');
  await client.send(Buffer.alloc(64 * 1024));
  t.is((await got).length, 64 * 1024);
});

test('an oversized length prefix closes that connection only; the server goes on serving', async (t) => {
  const { server, client, node, port } = await pair(t, { maxFrameBytes: 64 * 1024, singleLinkPerPeer: false });
  const rawAccepted = next<FrameConnection>(server, 'connection');
  const raw = await rawTls(port, await pki.material(COORDINATOR));
  const rawConn = await rawAccepted;
  const why = next<Error>(rawConn, 'close');
  raw.write(encodeHeader(FrameType.Message, 64 * 1024 + 1)); // header only: refused before any payload
  t.true((await why) instanceof FrameError);
  await socketClosed(raw);

  // The first connection is untouched, and new ones are still accepted.
  node.onRequest(() => Buffer.from('still here'));
  t.is((await client.request(Buffer.alloc(1))).toString(), 'still here');
  const again = await dial(pki, COORDINATOR, port, node1);
  t.teardown(() => again.close());
  t.true(again.ready);
  t.is(server.connections.size, 2);
});

test('garbage bytes close the connection', async (t) => {
  const { server, port } = await startServer(pki, node1);
  t.teardown(() => server.close());
  for (const garbage of [
    Buffer.from('GET / HTTP/1.1\r\n\r\n'),
    Buffer.from([1, 0x7f, 0, 0, 0, 0]),
    Buffer.from([1, FrameType.Ping, 0, 0, 0, 9]),
  ]) {
    const accepted = next<FrameConnection>(server, 'connection');
    const raw = await rawTls(port, await pki.material(COORDINATOR));
    const conn = await accepted;
    const why = next<Error>(conn, 'close');
    raw.write(garbage);
    t.true((await why) instanceof FrameError, garbage.toString('hex'));
    await socketClosed(raw);
  }
});

test('a frame that stalls half-way is timed out', async (t) => {
  const { server, port } = await startServer(pki, node1, { frameTimeoutMs: 300 });
  t.teardown(() => server.close());
  const accepted = next<FrameConnection>(server, 'connection');
  const raw = await rawTls(port, await pki.material(COORDINATOR));
  const conn = await accepted;
  const why = next<Error>(conn, 'close');
  const frame = encodeFrame(FrameType.Message, Buffer.alloc(1000));
  raw.write(frame.subarray(0, 500));
  // A trickle of bytes does not extend the deadline.
  const trickle = setInterval(() => raw.writable && raw.write(frame.subarray(500, 501)), 50);
  t.teardown(() => clearInterval(trickle));
  const started = Date.now();
  t.true((await why) instanceof FrameTimeoutError);
  t.true(Date.now() - started < 5_000, `${Date.now() - started} ms`);
  await socketClosed(raw);
});

test('heartbeat: the node detects a coordinator that stopped answering', async (t) => {
  const { server, port } = await startServer(pki, node1, { heartbeatIntervalMs: 50, heartbeatMisses: 3 });
  t.teardown(() => server.close());
  const accepted = next<FrameConnection>(server, 'connection');
  const raw = await rawTls(port, await pki.material(COORDINATOR)); // reads pings, never answers
  const conn = await accepted;
  const why = await next<Error>(conn, 'close');
  t.true(why instanceof HeartbeatTimeoutError, String(why));
  await socketClosed(raw);
});

test('heartbeat: the coordinator detects a node that went silent after READY', async (t) => {
  // A fake node: real TLS and credentials, sends READY, then discards everything and answers nothing.
  const m = await pki.material(node1);
  const sockets: TLSSocket[] = [];
  const fake = createTlsServer(
    { ...m, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.3' },
    (s: TLSSocket) => {
      sockets.push(s);
      s.on('error', () => undefined);
      s.resume();
      s.write(encodeFrame(FrameType.Ready, Buffer.alloc(0)));
    },
  );
  await new Promise<void>((r) => fake.listen(0, '127.0.0.1', r));
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((r) => fake.close(() => r()));
  });
  const { port } = fake.address() as AddressInfo;
  const client = await dial(pki, COORDINATOR, port, node1, { heartbeatIntervalMs: 50, heartbeatMisses: 3 });
  const pending = client.request(Buffer.from('anyone?'), { timeoutMs: 5_000 });
  const why = await next<Error>(client, 'close');
  t.true(why instanceof HeartbeatTimeoutError, String(why));
  // What was waiting fails with the reason rather than waiting out its own timeout.
  const e = await t.throwsAsync(pending, { instanceOf: ConnectionClosedError });
  t.regex(e.message, /heartbeat/);
});

test('heartbeat: a quiet but live connection stays up across many intervals', async (t) => {
  // 7 intervals; a loaded machine may delay one pong, hence 3 misses allowed.
  const { client, node } = await pair(t, { heartbeatIntervalMs: 100, heartbeatMisses: 3 });
  await new Promise((r) => setTimeout(r, 700));
  t.false(client.closed);
  t.false(node.closed);
});

test('closing fails pending requests and further sends', async (t) => {
  const { client, node } = await pair(t);
  node.onRequest(() => new Promise<Uint8Array>(() => undefined));
  const pending = client.request(Buffer.from('x'));
  const nodeClosed = next<Error | undefined>(node, 'close');
  client.close();
  await t.throwsAsync(pending, { instanceOf: ConnectionClosedError });
  await t.throwsAsync(client.send(Buffer.from('y')), { instanceOf: ConnectionClosedError });
  t.true((await nodeClosed) instanceof ConnectionClosedError);
});
