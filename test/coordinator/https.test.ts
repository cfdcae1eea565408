/**
 * The wallet API's HTTPS server: TLS 1.3 by default, TLS 1.2 accepted, anything older refused,
 * with the API's certificate from the development public CA.
 */
import test from 'ava';
import { connect } from 'node:tls';
import Koa from 'koa';
import { startHttpsServer } from '../../src/coordinator/https.js';
import { makePki, type Pki } from '../helpers/transport.js';

let pki: Pki;
test.before(async () => {
  pki = await makePki();
});
test.after.always(() => pki.cleanup());

function handshake(port: number, ca: Buffer, versions: { minVersion?: 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3'; maxVersion?: 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3' }): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, ca, servername: 'localhost', ...versions }, () => {
      const protocol = socket.getProtocol() ?? '';
      socket.end();
      resolve(protocol);
    });
    socket.once('error', reject);
  });
}

test('TLS 1.3 and 1.2 are accepted, 1.1 refused; requests are answered', async (t) => {
  const material = await pki.publicApiMaterial();
  const app = new Koa();
  app.use((ctx) => {
    ctx.body = { ok: true };
  });
  const server = await startHttpsServer(app, { cert: material.cert, key: material.key, port: 0, host: '127.0.0.1' });
  t.teardown(() => server.close(100));
  t.is(await handshake(server.port, pki.publicCaPem, {}), 'TLSv1.3');
  t.is(await handshake(server.port, pki.publicCaPem, { maxVersion: 'TLSv1.2' }), 'TLSv1.2');
  await t.throwsAsync(handshake(server.port, pki.publicCaPem, { minVersion: 'TLSv1', maxVersion: 'TLSv1.1' }));
});
