/**
 * Mutual TLS on loopback with real certificates: both sides authenticate against the deployment
 * CA, a node admits only the coordinator, and the coordinator admits only the node it expects at
 * an address. Foreign CAs, swapped identities, TLS 1.2 and certificate-less clients are refused.
 */
import test from 'ava';
import { connect as tlsConnect } from 'node:tls';
import { connect as rawConnect } from 'node:net';
import { COORDINATOR, nodeIdentity, sameIdentity } from '../../src/transport/identity.js';
import { ConnectionClosedError, IdentityError } from '../../src/transport/errors.js';
import type { FrameConnection } from '../../src/transport/connection.js';
import type { Rejection } from '../../src/transport/server.js';
import { dial, makePki, next, startServer, type Pki } from '../helpers/transport.js';

const node1 = nodeIdentity('node_1');
const node2 = nodeIdentity('node_2');

let pki: Pki;
let foreign: Pki;

test.before(async () => {
  [pki, foreign] = await Promise.all([makePki(), makePki()]);
});

test.after.always(async () => {
  await Promise.all([pki.cleanup(), foreign.cleanup()]);
});

test('mutual authentication: coordinator and node see each other’s identity, requests round-trip', async (t) => {
  const { server, port } = await startServer(pki, node1);
  t.teardown(() => server.close());
  const accepted = next<FrameConnection>(server, 'connection');
  const client = await dial(pki, COORDINATOR, port, node1);
  const serverSide = await accepted;
  t.true(sameIdentity(client.peer, node1));
  t.true(sameIdentity(serverSide.peer, COORDINATOR));
  t.true(client.ready);
  serverSide.onRequest((body) => Buffer.concat([Buffer.from('echo:'), body]));
  t.is((await client.request(Buffer.from('hello'))).toString(), 'echo:hello');
  client.close();
});

test('a client certificate from another CA is refused during the handshake', async (t) => {
  const { server, port } = await startServer(pki, node1);
  t.teardown(() => server.close());
  const rejected = next<Rejection>(server, 'rejected');
  const material = await foreign.material(COORDINATOR);
  // It trusts our CA (so it would accept the node), but its own certificate is foreign.
  await t.throwsAsync(dial(pki, COORDINATOR, port, node1, { tls: { ...material, ca: pki.caPem } }));
  const r = await rejected;
  t.is(r.stage, 'tls');
  t.is(server.connections.size, 0);
});

test('a server certificate from another CA is refused by the client', async (t) => {
  const { server, port } = await startServer(foreign, node1);
  t.teardown(() => server.close());
  const e = await t.throwsAsync(dial(pki, COORDINATOR, port, node1));
  t.regex(e.message, /certificate|verify|issuer/i);
});

test('a node certificate where the coordinator is expected is refused by the node', async (t) => {
  const { server, port } = await startServer(pki, node1);
  t.teardown(() => server.close());
  const rejected = next<Rejection>(server, 'rejected');
  // node_2 dials node_1 with a valid certificate of the same CA: authenticated, but not the coordinator.
  const e = await t.throwsAsync(dial(pki, node2, port, node1));
  t.true(e instanceof ConnectionClosedError, String(e));
  const r = await rejected;
  t.is(r.stage, 'identity');
  t.regex(r.reason, /node node_2 may not connect/);
  t.is(server.connections.size, 0);
});

test('the coordinator refuses a server at NODE_HOSTS[k] that is not NODE_IDS[k]', async (t) => {
  // node_2's certificate answering where node_1 is listed
  const wrongNode = await startServer(pki, node2);
  t.teardown(() => wrongNode.server.close());
  const e1 = await t.throwsAsync(dial(pki, COORDINATOR, wrongNode.port, node1));
  t.true(e1 instanceof IdentityError, String(e1));
  t.regex(e1.message, /expected node node_1, the server presented node node_2/);

  // the coordinator's certificate answering where a node is listed
  const impostor = await startServer(pki, COORDINATOR);
  t.teardown(() => impostor.server.close());
  const e2 = await t.throwsAsync(dial(pki, COORDINATOR, impostor.port, node1));
  t.true(e2 instanceof IdentityError, String(e2));
  t.is(wrongNode.server.connections.size + impostor.server.connections.size, 0);
});

test('TLS 1.2 is refused', async (t) => {
  const { server, port } = await startServer(pki, node1);
  t.teardown(() => server.close());
  const m = await pki.material(COORDINATOR);
  const err = await new Promise<Error | undefined>((resolve) => {
    const s = tlsConnect({ host: '127.0.0.1', port, ...m, maxVersion: 'TLSv1.2', checkServerIdentity: () => undefined });
    s.once('secureConnect', () => {
      s.destroy();
      resolve(undefined);
    });
    s.once('error', resolve);
  });
  t.truthy(err);
  t.regex(String(err?.message), /version|protocol/i);
});

test('a client without a certificate is refused', async (t) => {
  const { server, port } = await startServer(pki, node1);
  t.teardown(() => server.close());
  const rejected = next<Rejection>(server, 'rejected');
  await new Promise<void>((resolve) => {
    const s = tlsConnect({ host: '127.0.0.1', port, ca: pki.caPem, minVersion: 'TLSv1.3', checkServerIdentity: () => undefined });
    s.on('error', () => undefined);
    s.resume();
    s.once('close', () => resolve());
  });
  t.is((await rejected).stage, 'tls');
  t.is(server.connections.size, 0);
});

test('a peer that stalls inside its first TLS record is dropped at the handshake deadline; admitted links stay', async (t) => {
  const { server, port } = await startServer(pki, node1, { handshakeTimeoutMs: 1_500 });
  t.teardown(() => server.close());
  const coordinator = await dial(pki, COORDINATOR, port, node1);
  t.teardown(() => coordinator.close());
  const t0 = Date.now();
  const closedAfter = await new Promise<number>((resolve) => {
    // a record header announcing 256 bytes, then one byte and silence
    const s = rawConnect(port, '127.0.0.1', () => s.write(Buffer.from([0x16, 0x03, 0x01, 0x01, 0x00, 0x01])));
    s.on('error', () => undefined);
    s.resume();
    s.once('close', () => resolve(Date.now() - t0));
  });
  t.true(closedAfter >= 1_400 && closedAfter < 5_000, `closed after ${closedAfter} ms`);
  await new Promise((r) => setTimeout(r, 300));
  t.is(server.connections.size, 1, 'the coordinator’s admitted link is untouched');
});
