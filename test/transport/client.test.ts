/**
 * The coordinator's reconnecting client: backoff bounds, reconnect after the node restarts on the
 * same port, failed attempts reported with growing delays, and `stop` ending it all.
 */
import test from 'ava';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { backoffDelay } from '../../src/transport/backoff.js';
import { TransportClient } from '../../src/transport/client.js';
import { ConnectionClosedError } from '../../src/transport/errors.js';
import { COORDINATOR, nodeIdentity } from '../../src/transport/identity.js';
import type { FrameConnection } from '../../src/transport/connection.js';
import { FAST, makePki, next, startServer, type Pki } from '../helpers/transport.js';

const node1 = nodeIdentity('node_1');

let pki: Pki;
test.before(async () => {
  pki = await makePki();
});
test.after.always(() => pki.cleanup());

test('backoff grows exponentially to its cap, with jitter in the upper half', (t) => {
  const opts = { initialMs: 100, maxMs: 5_000 };
  t.is(
    backoffDelay(0, opts, () => 0),
    50,
  );
  t.is(
    backoffDelay(0, opts, () => 1),
    100,
  );
  t.is(
    backoffDelay(3, opts, () => 1),
    800,
  );
  t.is(
    backoffDelay(3, opts, () => 0),
    400,
  );
  t.is(
    backoffDelay(10, opts, () => 1),
    5_000,
  );
  t.is(
    backoffDelay(10_000, opts, () => 0.5),
    3_750,
  );
  for (let a = 0; a < 20; a++) {
    const d = backoffDelay(a, opts);
    const cap = Math.min(5_000, 100 * 2 ** a);
    t.true(d >= cap / 2 && d <= cap, `attempt ${a}: ${d}`);
  }
  t.throws(() => backoffDelay(-1), { instanceOf: RangeError });
  t.throws(() => backoffDelay(1.5), { instanceOf: RangeError });
});

test('the client reconnects after the node restarts, and requests work again', async (t) => {
  const first = await startServer(pki, node1);
  const { port } = first;
  const client = new TransportClient({
    host: '127.0.0.1',
    port,
    tls: await pki.material(COORDINATOR),
    expectedPeer: node1,
    ...FAST,
    backoff: { initialMs: 20, maxMs: 200 },
  }).start();
  t.teardown(() => client.stop());

  first.server.on('connection', (c) => c.onRequest(() => Buffer.from('first')));
  await client.waitForConnection(5_000);
  t.is((await client.request(Buffer.alloc(0))).toString(), 'first');

  const down = next<Error | undefined>(client, 'disconnected');
  const failed = next<{ attempt: number }>(client, 'attemptFailed');
  await first.server.close();
  t.true((await down) instanceof ConnectionClosedError);
  await failed; // at least one refused attempt while the node is down
  await t.throwsAsync(client.request(Buffer.alloc(0)), { instanceOf: ConnectionClosedError });

  // The node comes back on the same port.
  const up = next<FrameConnection>(client, 'connected', 5_000);
  const again = await startServer(pki, node1, {}, port);
  t.teardown(() => again.server.close());
  again.server.on('connection', (c) => c.onRequest(() => Buffer.from('second')));
  await up;
  t.is((await client.request(Buffer.alloc(0))).toString(), 'second');
});

test('failed attempts are reported with growing delays until stop()', async (t) => {
  // A port nobody listens on: take an ephemeral one and release it.
  const probe = await startServer(pki, node1);
  await probe.server.close();
  const client = new TransportClient({
    host: '127.0.0.1',
    port: probe.port,
    tls: await pki.material(COORDINATOR),
    expectedPeer: node1,
    backoff: { initialMs: 10, maxMs: 80 },
  });
  const attempts: { attempt: number; retryInMs: number }[] = [];
  const enough = new Promise<void>((resolve) =>
    client.on('attemptFailed', (a) => {
      attempts.push(a);
      if (attempts.length === 5) resolve();
    }),
  );
  client.start();
  await enough;
  await client.stop();
  const seen = attempts.length;
  t.deepEqual(
    attempts.slice(0, 5).map((a) => a.attempt),
    [0, 1, 2, 3, 4],
  );
  for (const a of attempts) t.true(a.retryInMs <= 80);
  t.true(attempts[4]!.retryInMs >= 40); // cap 80, lower half excluded
  await new Promise((r) => setTimeout(r, 200));
  t.is(attempts.length, seen, 'no attempts after stop()');
  await t.throwsAsync(client.request(Buffer.alloc(0)), { instanceOf: ConnectionClosedError });
});

test('waitForConnection times out when the node never comes', async (t) => {
  const probe = await startServer(pki, node1);
  await probe.server.close();
  const client = new TransportClient({
    host: '127.0.0.1',
    port: probe.port,
    tls: await pki.material(COORDINATOR),
    expectedPeer: node1,
  }).start();
  t.teardown(() => client.stop());
  await t.throwsAsync(client.waitForConnection(100), { instanceOf: ConnectionClosedError });
});

test('stop() abandons an attempt that hangs in the handshake', async (t) => {
  // Accepts TCP, never speaks TLS.
  const held: Socket[] = [];
  const mute = createServer((s) => held.push(s));
  await new Promise<void>((r) => mute.listen(0, '127.0.0.1', r));
  t.teardown(() => {
    for (const s of held) s.destroy();
    return new Promise<void>((r) => mute.close(() => r()));
  });
  const { port } = mute.address() as AddressInfo;
  const client = new TransportClient({
    host: '127.0.0.1',
    port,
    tls: await pki.material(COORDINATOR),
    expectedPeer: node1,
    connectTimeoutMs: 30_000,
  }).start();
  await new Promise((r) => setTimeout(r, 100));
  const started = Date.now();
  await client.stop();
  t.true(Date.now() - started < 5_000, 'stop did not wait for the connect timeout');
  t.is(client.connection, undefined);
});
