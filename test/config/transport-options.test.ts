/**
 * From configuration to a running 2-of-3 topology on loopback: three node servers and the
 * coordinator's three clients built by setup.ts from one Config (certificates from the real
 * generator), each client reaching the node it expects; the firewall setting becomes the
 * allow-list; a node holding another node's certificate, or any process finding a CA private key
 * among its TLS files, fails at start-up.
 */
import test from 'ava';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../src/config/index.js';
import { generateDevCertificates } from '../../src/transport/certs.js';
import { TransportClient } from '../../src/transport/client.js';
import { IdentityError } from '../../src/transport/errors.js';
import { TransportServer } from '../../src/transport/server.js';
import { coordinatorClientSetup, listenAddress, nodeServerSetup } from '../../src/config/transport-options.js';
import { CaKeyExposedError } from '../../src/transport/tls.js';

async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<ReturnType<typeof createServer>>((resolve) => {
          const s = createServer();
          s.listen(0, '127.0.0.1', () => resolve(s));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

test('a config becomes three node servers and three coordinator clients that find each other', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'mpc-setup-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  const dir = join(root, 'certs');
  await generateDevCertificates({ dir, caDir: join(root, 'certs-ca'), nodeIds: ['node_1', 'node_2', 'node_3'] });
  const ports = await freePorts(3);
  const config = parseConfig({
    COORDINATOR_PLATFORM: 'LOCAL',
    NODE_IDS: 'node_1,node_2,node_3',
    NODE_HOSTS: ports.map((p) => `127.0.0.1:${p}`).join(','),
    NODE_PLATFORMS: 'LOCAL,LOCAL,LOCAL',
    MPC_THRESHOLD: '2',
    MPC_TOTAL_SHARDS: '3',
    ENABLE_KERNEL_FIREWALL: 'true',
    TRUSTED_COORDINATOR_IP: '127.0.0.1',
    CERTS_DIR: dir,
    TRANSPORT_HEARTBEAT_INTERVAL_MS: '1000',
  });

  const servers: TransportServer[] = [];
  for (const node of config.nodes) {
    const { options, listen } = await nodeServerSetup(config, node.id);
    t.deepEqual(options.allowedAddresses, ['127.0.0.1']);
    t.is(options.heartbeatIntervalMs, 1000);
    const server = new TransportServer(options);
    server.on('connection', (c) => c.onRequest(() => Buffer.from(node.id)));
    await server.listen(listen.port, listen.host);
    servers.push(server);
  }
  t.teardown(() => Promise.all(servers.map((s) => s.close())));

  const clients = (await coordinatorClientSetup(config)).map((o) => new TransportClient(o).start());
  t.teardown(() => Promise.all(clients.map((c) => c.stop())));
  await Promise.all(clients.map((c) => c.waitForConnection(5_000)));
  const answers = await Promise.all(clients.map((c) => c.request(Buffer.alloc(0)).then((b) => b.toString())));
  t.deepEqual(answers, ['node_1', 'node_2', 'node_3']);

  // node_2 started with node_3's files is stopped before it listens.
  await copyFile(join(dir, 'node_3.crt'), join(dir, 'node_2.crt'));
  await copyFile(join(dir, 'node_3.key'), join(dir, 'node_2.key'));
  await t.throwsAsync(nodeServerSetup(config, 'node_2'), {
    instanceOf: IdentityError,
    message: /certificate of node node_3, not of node node_2/,
  });

  // A CA private key where the services read: neither a node nor the coordinator starts.
  await copyFile(join(root, 'certs-ca', 'internal-ca.key'), join(dir, 'issuer.pem'));
  await t.throwsAsync(nodeServerSetup(config, 'node_1'), { instanceOf: CaKeyExposedError });
  await t.throwsAsync(coordinatorClientSetup(config), { instanceOf: CaKeyExposedError });
});

test('listen addresses: loopback as configured, anything else on all interfaces', (t) => {
  t.deepEqual(listenAddress('127.0.0.1', 8081), { host: '127.0.0.1', port: 8081 });
  t.deepEqual(listenAddress('localhost', 8081), { host: '127.0.0.1', port: 8081 });
  t.deepEqual(listenAddress('::1', 8081), { host: '::1', port: 8081 });
  t.deepEqual(listenAddress('10.0.1.11', 8081), { host: '0.0.0.0', port: 8081 });
  t.deepEqual(listenAddress('node-aws.mpc.example.com', 8081), { host: '0.0.0.0', port: 8081 });
  t.deepEqual(listenAddress('2001:db8::1', 8081), { host: '::', port: 8081 });
});
