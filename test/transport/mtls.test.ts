/**
 * Mutual TLS on loopback with real certificates: both sides authenticate against the internal
 * CA, a node admits only the coordinator, and the coordinator admits only the node it expects at
 * an address. Foreign CAs, swapped identities, TLS 1.2 and certificate-less clients are refused;
 * so are certificates used outside their one role (OpenSSL checks the extended key usage in the
 * handshake), and the public API's certificate on the internal channel and vice versa.
 */
import test from 'ava';
import { readFile } from 'node:fs/promises';
import { request } from 'node:https';
import { connect as tlsConnect, createServer as createTlsServer, type TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { connect as rawConnect } from 'node:net';
import {
  createCertificateAuthority,
  issueCertificate,
  loadCertificateAuthority,
  type ExtendedKeyUsageName,
} from '../../src/transport/certs.js';
import { startHttpsServer } from '../../src/coordinator/https.js';
import Koa from 'koa';
import { COORDINATOR, nodeIdentity, sameIdentity, type PeerIdentity } from '../../src/transport/identity.js';
import type { TlsMaterial } from '../../src/transport/tls.js';
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

/** A certificate of this PKI's internal CA for `identity` with the given usages (a mis-issued one). */
async function misissued(identity: PeerIdentity, usages: ExtendedKeyUsageName[]): Promise<TlsMaterial> {
  const ca = await loadCertificateAuthority(
    pki.caPem.toString('utf8'),
    await readFile(pki.layout.internalCa.key, 'utf8'),
  );
  const leaf = await issueCertificate(ca, identity, { extendedKeyUsages: usages });
  return { ca: pki.caPem, cert: leaf.certPem, key: leaf.keyPem };
}

test('a node certificate cannot dial a node: refused in the handshake (serverAuth only)', async (t) => {
  const { server, port } = await startServer(pki, node1);
  t.teardown(() => server.close());
  const rejected = next<Rejection>(server, 'rejected');
  // node_2 dials node_1 with its own valid certificate of the same CA.
  await t.throwsAsync(dial(pki, node2, port, node1));
  const r = await rejected;
  t.is(r.stage, 'tls');
  t.is(server.connections.size, 0);
});

test('a node identity that could dial is still not the coordinator: refused by identity', async (t) => {
  const { server, port } = await startServer(pki, node1);
  t.teardown(() => server.close());
  const rejected = next<Rejection>(server, 'rejected');
  // Mis-issued with clientAuth, so the handshake passes; the identity check still refuses it.
  const e = await t.throwsAsync(dial(pki, node2, port, node1, { tls: await misissued(node2, ['clientAuth']) }));
  t.true(e instanceof ConnectionClosedError, String(e));
  const r = await rejected;
  t.is(r.stage, 'identity');
  t.regex(r.reason, /node node_2 may not connect/);
  t.is(server.connections.size, 0);
});

test('the extended key usage is checked by TLS itself: the coordinator identity without clientAuth cannot dial', async (t) => {
  const { server, port } = await startServer(pki, node1);
  t.teardown(() => server.close());
  const rejected = next<Rejection>(server, 'rejected');
  // Right CA, right identity, wrong usage: only the usage check can refuse it.
  await t.throwsAsync(dial(pki, COORDINATOR, port, node1, { tls: await misissued(COORDINATOR, ['serverAuth']) }));
  const r = await rejected;
  t.is(r.stage, 'tls');
  t.is(server.connections.size, 0);
  // The same identity with clientAuth is admitted (control).
  const ok = await dial(pki, COORDINATOR, port, node1, { tls: await misissued(COORDINATOR, ['clientAuth']) });
  t.true(ok.ready);
  ok.close();
});

test('the extended key usage is checked by TLS itself: a node identity without serverAuth cannot listen', async (t) => {
  const { server, port } = await startServer(pki, node1, { tls: await misissued(node1, ['clientAuth']) });
  t.teardown(() => server.close());
  const e = await t.throwsAsync(dial(pki, COORDINATOR, port, node1));
  t.regex(e.message, /unsuitable certificate purpose|unsupported certificate purpose/i);
  t.false(e instanceof IdentityError, 'refused by TLS, before any identity check');
  t.is(server.connections.size, 0);
});

test('the public API certificate is refused as a client on the internal channel', async (t) => {
  const { server, port } = await startServer(pki, node1);
  t.teardown(() => server.close());
  const rejected = next<Rejection>(server, 'rejected');
  const api = await pki.publicApiMaterial();
  // It trusts the internal CA (so it would accept the node), but presents the API's certificate.
  await t.throwsAsync(dial(pki, COORDINATOR, port, node1, { tls: { ...api, ca: pki.caPem } }));
  const r = await rejected;
  t.is(r.stage, 'tls');
  t.is(server.connections.size, 0);
});

test('the public API certificate is refused by the coordinator where a node listens', async (t) => {
  const api = await pki.publicApiMaterial();
  const { server, port } = await startServer(pki, node1, { tls: { ...api, ca: pki.caPem } });
  t.teardown(() => server.close());
  const e = await t.throwsAsync(dial(pki, COORDINATOR, port, node1));
  t.regex(e.message, /certificate|verify|issuer/i);
  t.is(server.connections.size, 0);
});

/** One HTTPS GET as a wallet client does it: trusting the public CA only, checking the host name. */
function apiGet(port: number, ca: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/', servername: 'localhost', ca, agent: false }, (res) => {
      res.resume();
      res.once('end', () => resolve(res.statusCode ?? 0));
    });
    req.once('error', reject);
    req.end();
  });
}

test('a node or coordinator certificate presented as the public API server certificate is refused by API clients', async (t) => {
  const app = new Koa();
  app.use((ctx) => {
    ctx.body = 'ok';
  });
  const api = await pki.publicApiMaterial();
  const good = await startHttpsServer(app, { cert: api.cert, key: api.key, port: 0, host: '127.0.0.1' });
  t.teardown(() => good.close(0));
  t.is(await apiGet(good.port, pki.publicCaPem), 200, 'control: the API certificate is accepted');
  for (const identity of [node1, COORDINATOR]) {
    const internal = await pki.material(identity);
    const wrong = await startHttpsServer(app, { cert: internal.cert, key: internal.key, port: 0, host: '127.0.0.1' });
    t.teardown(() => wrong.close(0));
    const e = await t.throwsAsync(apiGet(wrong.port, pki.publicCaPem));
    t.regex(e.message, /certificate|verify|issuer/i);
  }
});

test('the coordinator refuses a server at NODE_HOSTS[k] that is not NODE_IDS[k]', async (t) => {
  // node_2's certificate answering where node_1 is listed
  const wrongNode = await startServer(pki, node2);
  t.teardown(() => wrongNode.server.close());
  const e1 = await t.throwsAsync(dial(pki, COORDINATOR, wrongNode.port, node1));
  t.true(e1 instanceof IdentityError, String(e1));
  t.regex(e1.message, /expected node node_1, the server presented node node_2/);

  // the coordinator's certificate answering where a node is listed: it has no serverAuth
  const impostor = await startServer(pki, COORDINATOR);
  t.teardown(() => impostor.server.close());
  const e2 = await t.throwsAsync(dial(pki, COORDINATOR, impostor.port, node1));
  t.regex(e2.message, /unsuitable certificate purpose|unsupported certificate purpose/i);

  // the coordinator's identity mis-issued for serverAuth: the identity check refuses it
  const misnamed = await startServer(pki, COORDINATOR, { tls: await misissued(COORDINATOR, ['serverAuth']) });
  t.teardown(() => misnamed.server.close());
  const e3 = await t.throwsAsync(dial(pki, COORDINATOR, misnamed.port, node1));
  t.true(e3 instanceof IdentityError, String(e3));
  t.is(wrongNode.server.connections.size + impostor.server.connections.size + misnamed.server.connections.size, 0);
});

test('TLS 1.2 is refused', async (t) => {
  const { server, port } = await startServer(pki, node1);
  t.teardown(() => server.close());
  const m = await pki.material(COORDINATOR);
  const err = await new Promise<Error | undefined>((resolve) => {
    const s = tlsConnect({
      host: '127.0.0.1',
      port,
      ...m,
      maxVersion: 'TLSv1.2',
      checkServerIdentity: () => undefined,
    });
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
    const s = tlsConnect({
      host: '127.0.0.1',
      port,
      ca: pki.caPem,
      minVersion: 'TLSv1.3',
      checkServerIdentity: () => undefined,
    });
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

test('the public CA is for servers only: a client certificate it signed does not chain, even where that CA is trusted', async (t) => {
  const publicCa = await loadCertificateAuthority(
    pki.publicCaPem.toString('utf8'),
    await readFile(pki.layout.publicCa.key, 'utf8'),
  );
  const api = await pki.publicApiMaterial();
  const clientLeaf = await issueCertificate(publicCa, COORDINATOR, { extendedKeyUsages: ['clientAuth'] });
  // A server that trusts the public CA for client certificates (as nothing of ours does).
  const admitted: TLSSocket[] = [];
  const server = createTlsServer(
    { ca: pki.publicCaPem, cert: api.cert, key: api.key, requestCert: true, rejectUnauthorized: true },
    (s) => {
      admitted.push(s);
      s.end();
    },
  );
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const attempt = (port: number, cert: string | Buffer, key: string | Buffer): Promise<void> =>
    new Promise((resolve) => {
      const s = tlsConnect({ host: '127.0.0.1', port, ca: pki.publicCaPem, cert, key, servername: 'localhost' });
      s.on('error', () => undefined);
      s.resume();
      s.once('close', () => resolve());
    });
  await attempt((server.address() as AddressInfo).port, clientLeaf.certPem, clientLeaf.keyPem);
  t.is(admitted.length, 0, 'refused: the CA itself is limited to serverAuth');
  // Control: the same CA without that limit would have let it through.
  const unlimited = await createCertificateAuthority();
  const leaf2 = await issueCertificate(unlimited, COORDINATOR, { extendedKeyUsages: ['clientAuth'] });
  const server2 = createTlsServer(
    { ca: unlimited.certPem, cert: api.cert, key: api.key, requestCert: true, rejectUnauthorized: true },
    (s) => {
      admitted.push(s);
      s.end();
    },
  );
  server2.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve) => server2.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server2.close(() => resolve())));
  await attempt((server2.address() as AddressInfo).port, leaf2.certPem, leaf2.keyPem);
  t.is(admitted.length, 1);
});
