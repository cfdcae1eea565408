/**
 * A node's connection slots and its one link per identity, over real TLS on loopback: silent
 * sockets do not keep the coordinator out (a separate cap for unauthenticated sockets, the oldest
 * dropped for a new one, and a deadline), their refusals cost one log line per address; a second
 * connection with the coordinator's identity is refused while the first link is live, without
 * disturbing it, and admitted once the first link stops answering.
 */
import test from 'ava';
import { connect as rawConnect, type Socket } from 'node:net';
import { pino } from 'pino';
import { COORDINATOR, nodeIdentity } from '../../src/transport/identity.js';
import { TransportClient } from '../../src/transport/client.js';
import type { FrameConnection } from '../../src/transport/connection.js';
import type { Rejection } from '../../src/transport/server.js';
import { FAST, dial, makePki, next, rawTls, socketClosed, startServer, type Pki } from '../helpers/transport.js';

const node1 = nodeIdentity('node_1');

let pki: Pki;
test.before(async () => {
  pki = await makePki();
});
test.after.always(() => pki.cleanup());

/** A logger whose warn-and-above lines land in `lines`. */
function capture(): { logger: pino.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const logger = pino(
    { level: 'warn' },
    { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) },
  );
  return { logger, lines };
}

/** Opens a TCP socket to the port and says nothing; resolves once connected. */
function silentSocket(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = rawConnect(port, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
    s.on('error', () => undefined);
    s.resume();
  });
}

function closed(s: Socket, ms: number): Promise<boolean> {
  if (s.destroyed) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    s.once('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

test('15 silent sockets and its own dead link do not keep a reconnecting coordinator out; their refusals are one log line for the address', async (t) => {
  const { logger, lines } = capture();
  // a long deadline: the coordinator must get in through the unauthenticated cap, not by waiting it out
  const { server, port } = await startServer(pki, node1, { handshakeTimeoutMs: 60_000, logger });
  t.teardown(() => server.close());
  const rejections: Rejection[] = [];
  server.on('rejected', (r) => rejections.push(r));
  // the coordinator's previous link, whose TCP connection died silently: admitted, never answers
  const stale = await rawTls(port, await pki.material(COORDINATOR));
  t.teardown(() => stale.destroy());
  const silent: Socket[] = [];
  t.teardown(() => silent.forEach((s) => s.destroy()));
  for (let k = 0; k < 15; k++) silent.push(await silentSocket(port));
  const coordinator = await dial(pki, COORDINATOR, port, node1, { connectTimeoutMs: 20_000 });
  t.teardown(() => coordinator.close());
  t.true(coordinator.ready);
  t.is(server.connections.size, 1);
  await socketClosed(stale, 20_000);
  // 15 + 1 sockets for 8 unauthenticated slots: at least 8 of the silent ones were dropped
  const capacity = rejections.filter((r) => r.stage === 'capacity');
  t.true(capacity.length >= 8, `${capacity.length} dropped`);
  const logged = lines.filter((l) => l.stage === 'capacity');
  t.is(logged.length, 1, JSON.stringify(logged));
  t.is(logged[0]?.remote, '127.0.0.1');
  // and the link works
  t.true(await coordinator.checkAlive(5_000));
});

test('a silent socket is closed at the pre-authentication deadline', async (t) => {
  const { server, port } = await startServer(pki, node1, { handshakeTimeoutMs: 1_000 });
  t.teardown(() => server.close());
  const s = await silentSocket(port);
  t.teardown(() => s.destroy());
  const rejected = next<Rejection>(server, 'rejected', 20_000);
  t.true(await closed(s, 20_000));
  t.like(await rejected, { stage: 'tls', reason: 'no completed handshake within 1000 ms' });
});

test('a second connection with the coordinator identity is refused with the reason while the first link is live; the first is untouched', async (t) => {
  const { logger, lines } = capture();
  const { server, port } = await startServer(pki, node1, { logger });
  t.teardown(() => server.close());
  const accepted = next<FrameConnection>(server, 'connection');
  const first = await dial(pki, COORDINATOR, port, node1);
  t.teardown(() => first.close());
  const firstOnNode = await accepted;
  firstOnNode.onRequest(() => Buffer.from('first'));
  let firstClosed = false;
  first.once('close', () => (firstClosed = true));
  for (let k = 0; k < 5; k++) {
    const e = await t.throwsAsync(dial(pki, COORDINATOR, port, node1));
    t.regex(e.message, /node_1 refused the connection: coordinator already has a live link here/);
  }
  t.false(firstClosed);
  t.false(firstOnNode.closed);
  t.deepEqual([...server.connections], [firstOnNode]);
  t.is((await first.request(Buffer.alloc(1))).toString(), 'first');
  t.is(lines.filter((l) => l.stage === 'duplicate').length, 1, 'one log line for five refusals');
});

test('two coordinator processes with one identity: the second never takes the first one’s link (no flapping)', async (t) => {
  const { server, port } = await startServer(pki, node1);
  t.teardown(() => server.close());
  const material = await pki.material(COORDINATOR);
  const client = (): TransportClient =>
    new TransportClient({
      host: '127.0.0.1',
      port,
      tls: material,
      expectedPeer: node1,
      ...FAST,
      backoff: { initialMs: 50, maxMs: 200 },
    });
  const a = client().start();
  t.teardown(() => a.stop());
  await a.waitForConnection(10_000);
  let aDropped = 0;
  a.on('disconnected', () => aDropped++);
  const b = client();
  t.teardown(() => b.stop());
  let bConnected = 0;
  b.on('connected', () => bConnected++);
  const failures: Error[] = [];
  const eightFailures = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () =>
        reject(
          new Error(`only ${failures.length} refusals; b connected ${bConnected} times, a dropped ${aDropped} times`),
        ),
      60_000,
    );
    b.on('attemptFailed', ({ error }) => {
      failures.push(error);
      if (failures.length === 8) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  b.start();
  await eightFailures;
  t.is(aDropped, 0);
  t.is(bConnected, 0);
  t.true(
    failures.every((e) => /already has a live link/.test(e.message)),
    failures.map((e) => e.message).join('\n'),
  );
  t.is(server.connections.size, 1);
  t.truthy(a.connection);
});

test('a link whose peer stopped answering is replaced by the identity’s new connection within the liveness check', async (t) => {
  const { server, port } = await startServer(pki, node1, { livenessCheckMs: 500 });
  t.teardown(() => server.close());
  // a coordinator that vanished without closing: authenticated, then never answers a ping
  const accepted = next<FrameConnection>(server, 'connection');
  const stale = await rawTls(port, await pki.material(COORDINATOR));
  t.teardown(() => stale.destroy());
  const staleOnNode = await accepted;
  const reason = next<Error>(staleOnNode, 'close', 20_000);
  const fresh = await dial(pki, COORDINATOR, port, node1, { connectTimeoutMs: 20_000 });
  t.teardown(() => fresh.close());
  t.true(fresh.ready);
  t.regex(
    (await reason).message,
    /no answer to a liveness check within 500 ms: replaced by a new connection from coordinator/,
  );
  await socketClosed(stale, 20_000);
  t.is(server.connections.size, 1);
});

test('authenticated slots are capped apart: connections past maxAuthenticated are refused with the reason', async (t) => {
  const { server, port } = await startServer(pki, node1, { singleLinkPerPeer: false, maxAuthenticated: 2 });
  t.teardown(() => server.close());
  const a = await dial(pki, COORDINATOR, port, node1);
  const b = await dial(pki, COORDINATOR, port, node1);
  t.teardown(() => {
    a.close();
    b.close();
  });
  const e = await t.throwsAsync(dial(pki, COORDINATOR, port, node1));
  t.regex(e.message, /refused the connection: 2 authenticated connections open/);
  t.is(server.connections.size, 2);
});
