/**
 * Configuration: env/.env.local and the example files load; overrides apply per variable; every
 * bad variable is reported by name with the reason (table); secrets are never echoed; unknown
 * variables in a file, a missing file and a path-like environment name are refused. The wallet
 * API's settings: loopback by default and in env/.env.local, the development token refused off
 * loopback (also by the real coordinator process, before it starts anything), its own
 * certificate, connection caps, trusted proxies and the metrics token.
 */
import test from 'ava';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  ConfigError,
  coordinatorEntry,
  defaultNodeWorkers,
  DEVELOPMENT_AUTH_TOKEN,
  loadConfig,
  nodeEntry,
  parseConfig,
  requireWallet,
  VARIABLES,
} from '../../src/config/index.js';

// dist/test/config → the project root
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

const VALID: Record<string, string> = {
  COORDINATOR_PLATFORM: 'LOCAL',
  NODE_IDS: 'node_1,node_2,node_3',
  NODE_HOSTS: '127.0.0.1:8081,127.0.0.1:8082,127.0.0.1:8083',
  NODE_PLATFORMS: 'LOCAL,LOCAL,LOCAL',
  MPC_THRESHOLD: '2',
  MPC_TOTAL_SHARDS: '3',
  WALLET_SERVER_URL: 'https://localhost:3000',
  WALLET_SERVER_AUTH_TOKEN: 'Bearer wallet_dev_token_12345',
};

function issuesOf(vars: Record<string, string | undefined>): string[] {
  try {
    parseConfig(vars, { rootDir: '/srv/mpc' });
  } catch (e) {
    if (e instanceof ConfigError) return e.issues.map((i) => `${i.variable}: ${i.message}`);
    throw e;
  }
  return [];
}

test('env/.env.local loads into the local 2-of-3 cluster', (t) => {
  const c = loadConfig({ env: 'local', rootDir: ROOT, processEnv: {} });
  t.is(c.envName, 'local');
  t.is(c.coordinator.platform, 'LOCAL');
  t.is(c.coordinator.httpsPort, 8443);
  t.is(c.coordinator.localKmsPath, join(ROOT, '.kmsNodes'));
  t.deepEqual(
    c.nodes.map((n) => [n.id, n.host, n.port, n.platform]),
    [
      ['node_1', '127.0.0.1', 8081, 'LOCAL'],
      ['node_2', '127.0.0.1', 8082, 'LOCAL'],
      ['node_3', '127.0.0.1', 8083, 'LOCAL'],
    ],
  );
  t.deepEqual(c.mpc, { threshold: 2, totalShards: 3 });
  t.deepEqual(c.wallet, { url: 'https://localhost:3000', authorization: 'Bearer wallet_dev_token_12345' });
  t.deepEqual(c.firewall, { enabled: false, trustedCoordinatorIps: ['127.0.0.1'] });
  t.is(c.coordinator.api.host, '127.0.0.1', 'the wallet API listens on loopback only');
  t.is(c.wallet?.authorization, DEVELOPMENT_AUTH_TOKEN, 'with the public development token');
  const n2 = nodeEntry(c, 'node_2');
  t.is(n2.index, 1);
  t.deepEqual(n2.tls, {
    ca: join(ROOT, 'certs/ca.crt'),
    cert: join(ROOT, 'certs/node_2.crt'),
    key: join(ROOT, 'certs/node_2.key'),
  });
  t.is(n2.dataDir, join(ROOT, 'data/node_2'));
  t.is(c.coordinator.tls.cert, join(ROOT, 'certs/coordinator.crt'));
  t.is(c.coordinator.dataDir, join(ROOT, 'data/coordinator'));
  t.deepEqual(c.transport, {
    maxFrameBytes: 4 * 1024 * 1024,
    heartbeatIntervalMs: 5000,
    heartbeatMisses: 3,
    handshakeTimeoutMs: 5000,
  });
  t.is(c.drainMs, 5000);
  t.is(c.logLevel, 'info');
});

test('the example environments load (with the token supplied from outside)', (t) => {
  const processEnv = {
    WALLET_SERVER_AUTH_TOKEN: 'Bearer 0123456789abcdefghij',
    NODE_KMS_IBM_API_KEY: 'ibm-api-key-from-a-secret-store',
  };
  const aws = loadConfig({ env: 'aws.example', rootDir: ROOT, processEnv });
  t.deepEqual(
    aws.nodes.map((n) => n.region),
    ['us-east-1', 'us-east-1', 'us-east-1'],
  );
  t.deepEqual(aws.firewall, { enabled: true, trustedCoordinatorIps: ['10.0.0.100'] });
  t.is(aws.nodes[0]!.tls.cert, '/etc/mpc-engine/certs/node_1.crt');
  const multi = loadConfig({ env: 'multicloud.example', rootDir: ROOT, processEnv });
  t.deepEqual(
    multi.nodes.map((n) => [n.platform, n.region]),
    [
      ['AWS', 'us-east-1'],
      ['AZURE', 'eastus'],
      ['IBM', 'us-south'],
    ],
  );
  // The file leaves the token empty on purpose: without it from outside, the error names it.
  t.deepEqual(
    multi.nodes.map((n) => ({ ...n.kms })),
    [
      {
        provider: 'aws',
        keyId: 'alias/mpc-engine-node_aws',
        retiredKeyIds: [],
        region: 'us-east-1',
        endpoint: undefined,
        retryAttempts: 4,
      },
      { provider: 'azure', keyId: 'https://mpc-engine-kv.vault.azure.net/keys/node_azure', retryAttempts: 4 },
      {
        provider: 'ibm',
        keyId: '6f1a2b3c-4d5e-4f60-8a9b-0c1d2e3f4a5b',
        retiredKeyIds: [],
        instanceId: '0d2e1f3a-1b2c-4d5e-8f90-123456789abc',
        endpoint: 'https://us-south.kms.cloud.ibm.com',
        iamUrl: undefined,
        retryAttempts: 4,
      },
    ],
    'the IBM API key is not an enumerable field (not logged or serialised)',
  );
  t.is((multi.nodes[2]!.kms as { apiKey: string }).apiKey, 'ibm-api-key-from-a-secret-store');
  t.false(JSON.stringify(multi).includes('ibm-api-key-from-a-secret-store'));
  // The file leaves the secrets empty on purpose: without them from outside, the errors name them.
  const e = t.throws(() => loadConfig({ env: 'multicloud.example', rootDir: ROOT, processEnv: {} }), {
    instanceOf: ConfigError,
  });
  t.deepEqual(e.issues, [
    { variable: 'NODE_KMS_IBM_API_KEY', message: 'required because a node uses the ibm KMS' },
    { variable: 'WALLET_SERVER_AUTH_TOKEN', message: 'required when WALLET_SERVER_URL is set' },
  ]);
});

test('process.env overrides the file variable by variable; empty counts as unset', (t) => {
  const c = loadConfig({
    rootDir: ROOT,
    processEnv: { COORDINATOR_HTTPS_PORT: '9443', LOG_LEVEL: 'debug', PATH: '/bin', DATA_DIR: '' },
  });
  t.is(c.coordinator.httpsPort, 9443);
  t.is(c.logLevel, 'debug');
  t.is(c.nodes[0]!.dataDir, join(ROOT, 'data/node_1'), 'empty DATA_DIR falls back to the file');
  const e = t.throws(() => loadConfig({ rootDir: ROOT, processEnv: { MPC_THRESHOLD: '5' } }), {
    instanceOf: ConfigError,
  });
  t.deepEqual(e.issues, [{ variable: 'MPC_THRESHOLD', message: 'must be ≤ MPC_TOTAL_SHARDS (3), got 5' }]);
});

const BAD: [string, Record<string, string | undefined>, RegExp][] = [
  ['missing platform', { COORDINATOR_PLATFORM: undefined }, /^COORDINATOR_PLATFORM: required, not set$/],
  [
    'unknown platform',
    { COORDINATOR_PLATFORM: 'MARS' },
    /^COORDINATOR_PLATFORM: must be one of LOCAL, AWS, AZURE, IBM, GOOGLE, got "MARS"$/,
  ],
  ['missing ids', { NODE_IDS: '' }, /^NODE_IDS: required, not set$/],
  ['bad id', { NODE_IDS: 'node_1,node 2,node_3' }, /^NODE_IDS: entry 2: "node 2" is not a node id/],
  ['reserved id', { NODE_IDS: 'node_1,coordinator,node_3' }, /^NODE_IDS: entry 2: "coordinator" is reserved/],
  ['stray comma', { NODE_IDS: 'node_1,,node_3' }, /^NODE_IDS: entry 2: "" is not a node id/],
  ['duplicate id', { NODE_IDS: 'node_1,node_1,node_3' }, /^NODE_IDS: "node_1" is listed more than once$/],
  ['hosts count', { NODE_HOSTS: '127.0.0.1:8081,127.0.0.1:8082' }, /^NODE_HOSTS: 2 entries but NODE_IDS has 3$/],
  [
    'host without port',
    { NODE_HOSTS: '127.0.0.1:8081,127.0.0.1,127.0.0.1:8083' },
    /^NODE_HOSTS: entry 2: "127\.0\.0\.1" is not host:port$/,
  ],
  [
    'port out of range',
    { NODE_HOSTS: '127.0.0.1:8081,127.0.0.1:70000,127.0.0.1:8083' },
    /^NODE_HOSTS: entry 2: .*port must be 1–65535$/,
  ],
  [
    'bad host name',
    { NODE_HOSTS: 'a_b:1,127.0.0.1:8082,127.0.0.1:8083' },
    /^NODE_HOSTS: entry 1: .*neither an IPv4 address nor a host name$/,
  ],
  [
    'bad IPv6',
    { NODE_HOSTS: '[nope]:1,127.0.0.1:8082,127.0.0.1:8083' },
    /^NODE_HOSTS: entry 1: .*not an IPv6 address$/,
  ],
  [
    'duplicate host',
    { NODE_HOSTS: '127.0.0.1:8081,127.0.0.1:8081,127.0.0.1:8083' },
    /^NODE_HOSTS: 127\.0\.0\.1:8081 is listed more than once$/,
  ],
  ['platforms count', { NODE_PLATFORMS: 'LOCAL,LOCAL' }, /^NODE_PLATFORMS: 2 entries but NODE_IDS has 3$/],
  [
    'bad node platform',
    { NODE_PLATFORMS: 'LOCAL,LOCALMPC,LOCAL' },
    /^NODE_PLATFORMS: entry 2: must be one of .*got "LOCALMPC"$/,
  ],
  [
    'region needed',
    { NODE_PLATFORMS: 'LOCAL,AZURE,LOCAL' },
    /^NODE_AZURE_REGION: required because NODE_PLATFORMS has AZURE$/,
  ],
  [
    'bad region',
    { NODE_PLATFORMS: 'AWS,AWS,AWS', NODE_AWS_REGION: 'us east' },
    /^NODE_AWS_REGION: "us east" is not a region name$/,
  ],
  ['threshold above n', { MPC_THRESHOLD: '4' }, /^MPC_THRESHOLD: must be ≤ MPC_TOTAL_SHARDS \(3\), got 4$/],
  ['threshold 1', { MPC_THRESHOLD: '1' }, /^MPC_THRESHOLD: must be ≥ 2, got 1$/],
  ['threshold not a number', { MPC_THRESHOLD: 'two' }, /^MPC_THRESHOLD: must be an integer, got "two"$/],
  ['threshold missing', { MPC_THRESHOLD: undefined }, /^MPC_THRESHOLD: required, not set$/],
  ['shards vs ids', { MPC_TOTAL_SHARDS: '4' }, /^MPC_TOTAL_SHARDS: is 4 but NODE_IDS has 3 nodes$/],
  ['https port', { COORDINATOR_HTTPS_PORT: '0' }, /^COORDINATOR_HTTPS_PORT: must be ≥ 1, got 0$/],
  [
    'https host name',
    { COORDINATOR_HTTPS_HOST: 'localhost' },
    /^COORDINATOR_HTTPS_HOST: must be an IP address .*got "localhost"$/,
  ],
  [
    'dev token on every interface',
    { COORDINATOR_HTTPS_HOST: '0.0.0.0' },
    /^WALLET_SERVER_AUTH_TOKEN: is the development token from env\/\.env\.local.*0\.0\.0\.0 \(COORDINATOR_HTTPS_HOST\), which is not a loopback address/,
  ],
  ['dev token on ::', { COORDINATOR_HTTPS_HOST: '::' }, /^WALLET_SERVER_AUTH_TOKEN: is the development token/],
  [
    'dev token on a private address',
    { COORDINATOR_HTTPS_HOST: '10.0.0.10' },
    /^WALLET_SERVER_AUTH_TOKEN: is the development token/,
  ],
  [
    'dev token on a mapped address',
    { COORDINATOR_HTTPS_HOST: '::ffff:10.0.0.10' },
    /^WALLET_SERVER_AUTH_TOKEN: is the development token/,
  ],
  [
    'dev metrics token off loopback',
    {
      COORDINATOR_HTTPS_HOST: '10.0.0.10',
      WALLET_SERVER_AUTH_TOKEN: 'Bearer a_real_secret_token_0001',
      COORDINATOR_METRICS_TOKEN: DEVELOPMENT_AUTH_TOKEN,
    },
    /^COORDINATOR_METRICS_TOKEN: is the development token/,
  ],
  [
    'cert without key',
    { COORDINATOR_HTTPS_CERT: '/etc/tls/api.crt' },
    /^COORDINATOR_HTTPS_KEY: required when COORDINATOR_HTTPS_CERT is set$/,
  ],
  [
    'key without cert',
    { COORDINATOR_HTTPS_KEY: '/etc/tls/api.key' },
    /^COORDINATOR_HTTPS_CERT: required when COORDINATOR_HTTPS_KEY is set$/,
  ],
  [
    'connection cap 0',
    { COORDINATOR_HTTPS_MAX_CONNECTIONS: '0' },
    /^COORDINATOR_HTTPS_MAX_CONNECTIONS: must be ≥ 1, got 0$/,
  ],
  [
    'per-address cap',
    { COORDINATOR_HTTPS_MAX_CONNECTIONS_PER_IP: 'many' },
    /^COORDINATOR_HTTPS_MAX_CONNECTIONS_PER_IP: must be an integer/,
  ],
  [
    'proxy not an address',
    { COORDINATOR_TRUSTED_PROXIES: '10.0.0.1,proxy.example.com' },
    /^COORDINATOR_TRUSTED_PROXIES: entry 2: "proxy\.example\.com" is not an IP address or CIDR range/,
  ],
  [
    'proxy prefix too long',
    { COORDINATOR_TRUSTED_PROXIES: '10.0.0.0/33' },
    /^COORDINATOR_TRUSTED_PROXIES: entry 1: "10\.0\.0\.0\/33" is not/,
  ],
  [
    'metrics token short',
    { COORDINATOR_METRICS_TOKEN: 'Bearer short' },
    /^COORDINATOR_METRICS_TOKEN: must be "Bearer <token>"/,
  ],
  [
    'metrics token = wallet token',
    { COORDINATOR_METRICS_TOKEN: DEVELOPMENT_AUTH_TOKEN },
    /^COORDINATOR_METRICS_TOKEN: must differ from WALLET_SERVER_AUTH_TOKEN/,
  ],
  ['https port text', { COORDINATOR_HTTPS_PORT: '84a3' }, /^COORDINATOR_HTTPS_PORT: must be an integer, got "84a3"$/],
  [
    'wallet http',
    { WALLET_SERVER_URL: 'http://localhost:3000' },
    /^WALLET_SERVER_URL: must be an https:\/\/ URL, got "http:\/\/localhost:3000"$/,
  ],
  [
    'wallet url alone',
    { WALLET_SERVER_AUTH_TOKEN: undefined },
    /^WALLET_SERVER_AUTH_TOKEN: required when WALLET_SERVER_URL is set$/,
  ],
  [
    'token alone',
    { WALLET_SERVER_URL: undefined },
    /^WALLET_SERVER_URL: required when WALLET_SERVER_AUTH_TOKEN is set$/,
  ],
  [
    'token without Bearer',
    { WALLET_SERVER_AUTH_TOKEN: 'wallet_dev_token_12345' },
    /^WALLET_SERVER_AUTH_TOKEN: must be "Bearer <token>"/,
  ],
  [
    'token too short',
    { WALLET_SERVER_AUTH_TOKEN: 'Bearer short' },
    /^WALLET_SERVER_AUTH_TOKEN: must be "Bearer <token>" with a token of at least 16/,
  ],
  ['firewall flag', { ENABLE_KERNEL_FIREWALL: 'yes' }, /^ENABLE_KERNEL_FIREWALL: must be true or false, got "yes"$/],
  [
    'firewall without ip',
    { ENABLE_KERNEL_FIREWALL: 'true' },
    /^TRUSTED_COORDINATOR_IP: required when ENABLE_KERNEL_FIREWALL=true$/,
  ],
  [
    'bad coordinator ip',
    { TRUSTED_COORDINATOR_IP: '10.0.0' },
    /^TRUSTED_COORDINATOR_IP: entry 1: must be an IP address, got "10\.0\.0"$/,
  ],
  [
    'second coordinator ip',
    { TRUSTED_COORDINATOR_IP: '10.0.0.1,10.0.0' },
    /^TRUSTED_COORDINATOR_IP: entry 2: must be an IP address, got "10\.0\.0"$/,
  ],
  [
    'coordinator ip twice',
    { TRUSTED_COORDINATOR_IP: '10.0.0.1,10.0.0.1' },
    /^TRUSTED_COORDINATOR_IP: "10\.0\.0\.1" is listed more than once$/,
  ],
  [
    'coordinator id',
    { COORDINATOR_IDS: 'coordinator,coord 2' },
    /^COORDINATOR_IDS: entry 2: "coord 2" is not a coordinator id/,
  ],
  ['coordinator id ca', { COORDINATOR_IDS: 'coordinator,ca' }, /^COORDINATOR_IDS: entry 2: "ca" is reserved/],
  [
    'coordinator id twice',
    { COORDINATOR_IDS: 'coordinator,coordinator_2,coordinator' },
    /^COORDINATOR_IDS: "coordinator" is listed more than once$/,
  ],
  [
    'coordinator id is a node id',
    { COORDINATOR_IDS: 'coordinator,node_2' },
    /^COORDINATOR_IDS: "node_2" is also a node id \(NODE_IDS\)$/,
  ],
  [
    'database url scheme',
    { COORDINATOR_DATABASE_URL: 'mysql://db.example.com/mpc' },
    /^COORDINATOR_DATABASE_URL: must be a postgres:\/\/ or postgresql:\/\/ URL/,
  ],
  ['database url', { COORDINATOR_DATABASE_URL: 'db.example.com' }, /^COORDINATOR_DATABASE_URL: must be a postgres/],
  [
    'log level',
    { LOG_LEVEL: 'loud' },
    /^LOG_LEVEL: must be one of fatal, error, warn, info, debug, trace, silent, got "loud"$/,
  ],
  ['frame cap', { TRANSPORT_MAX_FRAME_BYTES: '10' }, /^TRANSPORT_MAX_FRAME_BYTES: must be ≥ 1024, got 10$/],
  ['heartbeat', { TRANSPORT_HEARTBEAT_MISSES: '0' }, /^TRANSPORT_HEARTBEAT_MISSES: must be ≥ 1, got 0$/],
];

for (const [name, change, expected] of BAD) {
  test(`config error: ${name}`, (t) => {
    const issues = issuesOf({ ...VALID, ...change });
    t.true(
      issues.some((i) => expected.test(i)),
      `expected ${expected}, got:\n${issues.join('\n')}`,
    );
  });
}

test('the valid base of the table parses, with defaults filled in', (t) => {
  const c = parseConfig(VALID, { rootDir: '/srv/mpc' });
  t.is(c.certsDir, '/srv/mpc/certs');
  t.is(c.coordinator.localKmsPath, '/srv/mpc/.kmsNodes');
  t.false(c.firewall.enabled);
  t.deepEqual(
    parseConfig({
      ...VALID,
      NODE_HOSTS: 'node1.example.com:8081,[::1]:8082,10.0.0.3:8083',
      NODE_PLATFORMS: 'local,Local,LOCAL',
    }).nodes.map((n) => [n.host, n.port, n.platform]),
    [
      ['node1.example.com', 8081, 'LOCAL'],
      ['::1', 8082, 'LOCAL'],
      ['10.0.0.3', 8083, 'LOCAL'],
    ],
  );
  // Nodes need no wallet settings; the coordinator's entry point asks for them.
  const node = parseConfig({ ...VALID, WALLET_SERVER_URL: undefined, WALLET_SERVER_AUTH_TOKEN: undefined });
  t.is(node.wallet, undefined);
  const e = t.throws(() => requireWallet(node), { instanceOf: ConfigError });
  t.deepEqual(
    e.issues.map((i) => i.variable),
    ['WALLET_SERVER_URL', 'WALLET_SERVER_AUTH_TOKEN'],
  );
});

test('CERTS_CA_DIR: beside CERTS_DIR by default, anywhere but CERTS_DIR or inside it', (t) => {
  t.is(parseConfig(VALID, { rootDir: '/srv/mpc' }).certsCaDir, '/srv/mpc/certs-ca');
  t.is(parseConfig({ ...VALID, CERTS_DIR: '/etc/mpc/tls/' }, { rootDir: '/srv/mpc' }).certsCaDir, '/etc/mpc/tls-ca');
  t.is(
    parseConfig({ ...VALID, CERTS_CA_DIR: 'offline/ca' }, { rootDir: '/srv/mpc' }).certsCaDir,
    '/srv/mpc/offline/ca',
  );
  for (const inside of ['certs', 'certs/', 'certs/ca', 'certs/..ca', '/srv/mpc/certs/private/ca']) {
    t.throws(
      () => parseConfig({ ...VALID, CERTS_CA_DIR: inside }, { rootDir: '/srv/mpc' }),
      { instanceOf: ConfigError, message: /CERTS_CA_DIR: .* is CERTS_DIR or inside it/ },
      inside,
    );
  }
  t.is(
    parseConfig({ ...VALID, CERTS_CA_DIR: 'certs2' }, { rootDir: '/srv/mpc' }).certsCaDir,
    '/srv/mpc/certs2',
    'a name that merely starts alike',
  );
  t.is(
    parseConfig({ ...VALID, CERTS_CA_DIR: '..' }, { rootDir: '/srv/mpc' }).certsCaDir,
    '/srv',
    'a parent of CERTS_DIR is outside it',
  );
});

test('all errors are reported at once, and the token never appears in a message', (t) => {
  const secret = 'Bearer abc$def-not-valid-token';
  let error: unknown;
  try {
    parseConfig({ ...VALID, WALLET_SERVER_AUTH_TOKEN: secret, LOG_LEVEL: 'x', COORDINATOR_PLATFORM: 'y' });
  } catch (e) {
    error = e;
  }
  t.true(error instanceof ConfigError);
  const e = error as ConfigError;
  t.deepEqual(e.issues.map((i) => i.variable).sort(), [
    'COORDINATOR_PLATFORM',
    'LOG_LEVEL',
    'WALLET_SERVER_AUTH_TOKEN',
  ]);
  t.false(e.message.includes('abc$def'));
  t.regex(e.message, /^invalid configuration:\n {2}COORDINATOR_PLATFORM: /);
});

test('the wallet API settings: loopback and the public API certificate by default; host, certificate, caps, proxies and metrics token when set', (t) => {
  const d = parseConfig(VALID, { rootDir: '/srv/mpc' }).coordinator.api;
  t.deepEqual(
    { ...d },
    {
      host: '127.0.0.1',
      cert: '/srv/mpc/certs/public/api.crt',
      key: '/srv/mpc/certs/public/api.key',
      maxConnections: 1024,
      maxConnectionsPerIp: 128,
      trustedProxies: [],
    },
  );
  t.is(d.metricsAuthorization, undefined, 'no metrics token: /metrics is off');
  const set = parseConfig(
    {
      ...VALID,
      WALLET_SERVER_AUTH_TOKEN: 'Bearer a_real_secret_token_0001',
      COORDINATOR_HTTPS_HOST: '0.0.0.0',
      COORDINATOR_HTTPS_CERT: 'tls/api.crt',
      COORDINATOR_HTTPS_KEY: '/etc/tls/api.key',
      COORDINATOR_HTTPS_MAX_CONNECTIONS: '200',
      COORDINATOR_HTTPS_MAX_CONNECTIONS_PER_IP: '8',
      COORDINATOR_TRUSTED_PROXIES: '10.0.0.7, 192.168.0.0/16,fd00::/8',
      COORDINATOR_METRICS_TOKEN: 'Bearer scraper_secret_token_0002',
    },
    { rootDir: '/srv/mpc' },
  );
  const api = set.coordinator.api;
  t.like(api, {
    host: '0.0.0.0',
    cert: '/srv/mpc/tls/api.crt',
    key: '/etc/tls/api.key',
    maxConnections: 200,
    maxConnectionsPerIp: 8,
  });
  t.deepEqual(api.trustedProxies, [
    { address: '10.0.0.7', family: 'ipv4', prefix: 32 },
    { address: '192.168.0.0', family: 'ipv4', prefix: 16 },
    { address: 'fd00::', family: 'ipv6', prefix: 8 },
  ]);
  t.is(api.metricsAuthorization, 'Bearer scraper_secret_token_0002');
  t.false(
    JSON.stringify(set).includes('scraper_secret_token_0002'),
    'the metrics token is not serialised or logged with the config',
  );
  // loopback addresses keep the development token usable
  for (const host of ['127.0.0.1', '127.3.2.1', '::1', '::ffff:127.0.0.1'])
    t.deepEqual(issuesOf({ ...VALID, COORDINATOR_HTTPS_HOST: host }), [], host);
  const e = t.throws(
    () =>
      parseConfig({
        ...VALID,
        COORDINATOR_HTTPS_HOST: '0.0.0.0',
        COORDINATOR_METRICS_TOKEN: 'Bearer wallet_dev_token_12345',
      }),
    { instanceOf: ConfigError },
  );
  t.false(e.message.includes('wallet_dev_token_12345'), 'the token itself is not repeated');
});

test('the coordinator refuses to start with the development token on a non-loopback address', async (t) => {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    COORDINATOR_HTTPS_HOST: '0.0.0.0',
    WALLET_SERVER_AUTH_TOKEN: DEVELOPMENT_AUTH_TOKEN,
    LOG_LEVEL: 'silent',
  };
  const child = spawn(process.execPath, [join(ROOT, 'dist/src/coordinator/main.js'), 'local'], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  for (const s of [child.stdout, child.stderr]) s.on('data', (b: Buffer) => (out += b.toString('utf8')));
  // a coordinator that does start would run until stopped: give up on it after a generous bound
  const code = await new Promise<number | null | 'still running'>((resolve) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      resolve('still running');
    }, 30_000);
    child.once('exit', (c) => {
      clearTimeout(timer);
      resolve(c);
    });
  });
  t.is(code, 2, out);
  t.regex(out, /WALLET_SERVER_AUTH_TOKEN: is the development token/);
  t.notRegex(out, /listening/);
});

test('coordinator identities: one by default under its old names; each other id its own certificate, directory and port', (t) => {
  const one = parseConfig(VALID, { rootDir: '/srv/mpc' });
  t.is(one.coordinator.id, 'coordinator');
  t.deepEqual(one.coordinator.ids, ['coordinator']);
  t.is(one.coordinator.databaseUrl, undefined);
  t.is(one.coordinator.tls.cert, '/srv/mpc/certs/coordinator.crt');
  t.is(one.coordinator.dataDir, '/srv/mpc/data/coordinator');
  t.is(coordinatorEntry(one, 'coordinator').dataDir, '/srv/mpc/data/coordinator');
  t.throws(() => coordinatorEntry(one, 'coordinator_2'), {
    instanceOf: ConfigError,
    message: /--id: "coordinator_2" is not in COORDINATOR_IDS \(coordinator\)/,
  });

  const url = 'postgres://mpc:pw_Zq81xT@db.example.com:5432/mpc';
  const two = parseConfig(
    { ...VALID, COORDINATOR_IDS: 'coordinator, coordinator_2', COORDINATOR_DATABASE_URL: url, DATA_DIR: '/var/mpc' },
    { rootDir: '/srv/mpc' },
  );
  t.deepEqual(two.coordinator.ids, ['coordinator', 'coordinator_2']);
  const second = coordinatorEntry(two, 'coordinator_2', { httpsPort: 9444 });
  t.is(second.id, 'coordinator_2');
  t.deepEqual(second.tls, {
    ca: '/srv/mpc/certs/ca.crt',
    cert: '/srv/mpc/certs/coordinator_2.crt',
    key: '/srv/mpc/certs/coordinator_2.key',
  });
  t.is(second.dataDir, '/var/mpc/coordinator_2');
  t.is(second.httpsPort, 9444);
  t.is(coordinatorEntry(two, 'coordinator').httpsPort, 8443, 'COORDINATOR_HTTPS_PORT unless overridden');
  t.is(coordinatorEntry(two, 'coordinator').dataDir, '/var/mpc/coordinator');
  // the URL is there for the code that opens the database, and nowhere a log or a dump reaches
  t.is(two.coordinator.databaseUrl, url);
  t.is(second.databaseUrl, url);
  t.false(JSON.stringify(two).includes('pw_Zq81xT'));
  t.false(JSON.stringify(second).includes('pw_Zq81xT'));
  t.throws(() => coordinatorEntry(two, 'coordinator', { httpsPort: 70000 }), {
    instanceOf: ConfigError,
    message: /--https-port: must be a port/,
  });

  // several identities without the database: every coordinator's start is refused, the nodes' config is not
  const noDb = parseConfig({ ...VALID, COORDINATOR_IDS: 'coordinator,coordinator_2' }, { rootDir: '/srv/mpc' });
  t.deepEqual(noDb.coordinator.ids, ['coordinator', 'coordinator_2']);
  for (const id of ['coordinator', 'coordinator_2']) {
    const e = t.throws(() => coordinatorEntry(noDb, id), { instanceOf: ConfigError });
    t.regex(e.message, /COORDINATOR_DATABASE_URL: required: .*several coordinators need PostgreSQL/);
  }

  // a wrong URL is refused without repeating any of it
  const e = t.throws(
    () => parseConfig({ ...VALID, COORDINATOR_DATABASE_URL: 'mysql://mpc:pw_Zq81xT@db.example.com/mpc' }),
    { instanceOf: ConfigError },
  );
  t.false(e.message.includes('pw_Zq81xT'));
  t.false(e.message.includes('db.example.com'));

  const ips = parseConfig({ ...VALID, ENABLE_KERNEL_FIREWALL: 'true', TRUSTED_COORDINATOR_IP: '10.0.0.1, fd00::2' });
  t.deepEqual(ips.firewall, { enabled: true, trustedCoordinatorIps: ['10.0.0.1', 'fd00::2'] });
});

/** Runs the coordinator's entry point on env/.env.local with `vars` and `args`; it must exit by itself. */
async function coordinatorExit(
  t: { teardown: (f: () => void) => void },
  vars: Record<string, string>,
  args: string[] = [],
): Promise<{ code: number | null | 'still running'; out: string }> {
  const child = spawn(process.execPath, [join(ROOT, 'dist/src/coordinator/main.js'), 'local', ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'silent', ...vars },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.teardown(() => child.kill('SIGKILL'));
  let out = '';
  for (const s of [child.stdout, child.stderr]) s.on('data', (b: Buffer) => (out += b.toString('utf8')));
  const code = await new Promise<number | null | 'still running'>((resolve) => {
    const timer = setTimeout(() => resolve('still running'), 30_000);
    child.once('exit', (c) => {
      clearTimeout(timer);
      resolve(c);
    });
  });
  return { code, out };
}

test('a coordinator refuses to start when COORDINATOR_IDS lists several without COORDINATOR_DATABASE_URL', async (t) => {
  const refused = await coordinatorExit(t, { COORDINATOR_IDS: 'coordinator,coordinator_2' }, ['--id', 'coordinator_2']);
  t.is(refused.code, 2, refused.out);
  t.regex(refused.out, /COORDINATOR_DATABASE_URL: required: .*several coordinators need PostgreSQL/);
  t.notRegex(refused.out, /listening/);

  const unlisted = await coordinatorExit(t, {}, ['--id', 'coordinator_2']);
  t.is(unlisted.code, 2, unlisted.out);
  t.regex(unlisted.out, /--id: "coordinator_2" is not in COORDINATOR_IDS/);

  const badUrl = await coordinatorExit(t, {
    COORDINATOR_IDS: 'coordinator,coordinator_2',
    COORDINATOR_DATABASE_URL: 'mysql://mpc:pw_Zq81xT@db.example.com/mpc',
  });
  t.is(badUrl.code, 2, badUrl.out);
  t.regex(badUrl.out, /COORDINATOR_DATABASE_URL: must be a postgres/);
  t.false(badUrl.out.includes('pw_Zq81xT'), 'the URL (and its password) is not repeated');
});

test('env files: unknown variables, a missing file and path-like names are refused', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'mpc-config-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  await mkdir(join(root, 'env'));
  const lines = Object.entries(VALID).map(([k, v]) => `${k}="${v}"`);
  await writeFile(join(root, 'env', '.env.typo'), [...lines, 'MPC_TRESHOLD=2', 'SOMETHING_ELSE=1', ''].join('\n'));
  const e = t.throws(() => loadConfig({ env: 'typo', rootDir: root, processEnv: {} }), { instanceOf: ConfigError });
  t.deepEqual(e.issues, [
    { variable: 'MPC_TRESHOLD', message: 'unknown variable (did you mean MPC_THRESHOLD?)' },
    { variable: 'SOMETHING_ELSE', message: 'unknown variable' },
  ]);
  t.regex(e.message, /\.env\.typo/);

  await writeFile(
    join(root, 'env', '.env.ok'),
    [
      '# comment',
      ...lines,
      'ENABLE_KERNEL_FIREWALL=TRUE # inline comment',
      'TRUSTED_COORDINATOR_IP=10.0.0.100',
      '',
    ].join('\n'),
  );
  const ok = loadConfig({ env: 'ok', rootDir: root, processEnv: {} });
  t.deepEqual(ok.firewall, { enabled: true, trustedCoordinatorIps: ['10.0.0.100'] });
  t.is(ok.wallet?.authorization, 'Bearer wallet_dev_token_12345');

  t.throws(() => loadConfig({ env: 'absent', rootDir: root }), {
    instanceOf: ConfigError,
    message: /--env: .*\.env\.absent: file not found/,
  });
  t.throws(() => loadConfig({ env: '../../etc/passwd', rootDir: root }), {
    instanceOf: ConfigError,
    message: /--env: .*not an environment name/,
  });
  t.throws(() => nodeEntry(ok, 'node_9'), {
    instanceOf: ConfigError,
    message: /--id: "node_9" is not in NODE_IDS \(node_1, node_2, node_3\)/,
  });
});

test('every documented variable is known to the schema and documented in env/.env.aws.example', async (t) => {
  const { readFile } = await import('node:fs/promises');
  const example = await readFile(join(ROOT, 'env', '.env.aws.example'), 'utf8');
  const multicloud = await readFile(join(ROOT, 'env', '.env.multicloud.example'), 'utf8');
  for (const name of Object.keys(VARIABLES)) {
    // The other clouds' regions are shown where they are used, in the multi-cloud example.
    const where = /^NODE_(AZURE|IBM|GOOGLE)_REGION$|^NODE_KMS_(AZURE|IBM|PKCS11)_/.test(name) ? multicloud : example;
    t.true(where.includes(name), `${name} is documented in an example`);
  }
});

test("KMS settings: provider per node (default from the platform), {node} per node, each provider's variables required, PIN never echoed", (t) => {
  const local = parseConfig(VALID, { rootDir: '/srv/mpc' });
  t.deepEqual(
    local.nodes.map((n) => n.kms),
    [0, 1, 2].map(() => ({ provider: 'local', root: '/srv/mpc/.kmsNodes' })),
  );

  const hsm = parseConfig(
    {
      ...VALID,
      NODE_KMS_PROVIDERS: 'pkcs11,PKCS11,local',
      NODE_KMS_PKCS11_MODULE: '/usr/lib/softhsm/libsofthsm2.so',
      NODE_KMS_PKCS11_TOKEN_LABEL: 'mpc-{node}',
      NODE_KMS_PKCS11_KEY_LABEL: 'master-{node}',
      NODE_KMS_PKCS11_PIN: '98765432',
    },
    { rootDir: '/srv/mpc' },
  );
  t.deepEqual(
    { ...hsm.nodes[1]!.kms },
    {
      provider: 'pkcs11',
      module: '/usr/lib/softhsm/libsofthsm2.so',
      tokenLabel: 'mpc-node_2',
      slot: undefined,
      keyLabel: 'master-node_2',
      pinFile: undefined,
    },
  );
  t.is((hsm.nodes[1]!.kms as { pin: string }).pin, '98765432');
  t.false(JSON.stringify(hsm).includes('98765432'));
  t.is(hsm.nodes[2]!.kms.provider, 'local');

  t.deepEqual(issuesOf({ ...VALID, NODE_KMS_PROVIDERS: 'local,local' }), [
    'NODE_KMS_PROVIDERS: 2 entries but NODE_IDS has 3',
  ]);
  t.deepEqual(issuesOf({ ...VALID, NODE_KMS_PROVIDERS: 'local,vault,local' }), [
    'NODE_KMS_PROVIDERS: entry 2: must be one of local, aws, azure, ibm, pkcs11, got "vault"',
  ]);
  t.deepEqual(issuesOf({ ...VALID, NODE_KMS_PROVIDERS: 'local,aws,local' }), [
    'NODE_KMS_AWS_KEY_ID: required because a node uses the aws KMS',
    'NODE_AWS_REGION: required because a node uses the aws KMS',
  ]);
  t.deepEqual(issuesOf({ ...VALID, NODE_PLATFORMS: 'LOCAL,GOOGLE,LOCAL', NODE_GOOGLE_REGION: 'europe-west1' }), [
    "NODE_KMS_PROVIDERS: required: node node_2 runs on GOOGLE, which has no KMS provider of its own (use pkcs11 through the cloud's PKCS#11 library)",
  ]);
  t.deepEqual(
    issuesOf({
      ...VALID,
      NODE_KMS_PROVIDERS: 'pkcs11,local,local',
      NODE_KMS_PKCS11_MODULE: '/lib/p11.so',
      NODE_KMS_PKCS11_KEY_LABEL: 'k',
    }),
    [
      'NODE_KMS_PKCS11_TOKEN_LABEL: set exactly one of NODE_KMS_PKCS11_TOKEN_LABEL and NODE_KMS_PKCS11_SLOT',
      'NODE_KMS_PKCS11_PIN: set exactly one of NODE_KMS_PKCS11_PIN and NODE_KMS_PKCS11_PIN_FILE',
    ],
  );
  t.deepEqual(
    issuesOf({
      ...VALID,
      NODE_KMS_PROVIDERS: 'ibm,local,local',
      NODE_KMS_IBM_INSTANCE_ID: 'i',
      NODE_KMS_IBM_KEY_ID: 'k',
      NODE_KMS_IBM_API_KEY: 's3cr3t-api-key',
    }),
    ['NODE_KMS_IBM_ENDPOINT: required (or NODE_IBM_REGION) because a node uses the ibm KMS'],
  );
  const bad = issuesOf({ ...VALID, NODE_KMS_PKCS11_PIN: '', NODE_KMS_IBM_API_KEY: 'x y' });
  t.false(bad.join('\n').includes('x y'), 'a secret is never repeated in a message');
  t.deepEqual(issuesOf({ ...VALID, NODE_KMS_AZURE_KEY_ID: 'http://vault/keys/k' }), [
    'NODE_KMS_AZURE_KEY_ID: must be an https:// URL, got "http://vault/keys/k"',
  ]);
  t.deepEqual(issuesOf({ ...VALID, NODE_KMS_RETRY_ATTEMPTS: '0' }), ['NODE_KMS_RETRY_ATTEMPTS: must be ≥ 1, got 0']);
});

test('KEY_REFRESH_INTERVAL: a duration from 10 minutes to a year; unset is off', (t) => {
  t.is(parseConfig(VALID).keyRefreshIntervalMs, undefined);
  t.is(parseConfig({ ...VALID, KEY_REFRESH_INTERVAL: '24h' }).keyRefreshIntervalMs, 86_400_000);
  t.is(parseConfig({ ...VALID, KEY_REFRESH_INTERVAL: '7d' }).keyRefreshIntervalMs, 7 * 86_400_000);
  t.throws(() => parseConfig({ ...VALID, KEY_REFRESH_INTERVAL: '5m' }), {
    message: /KEY_REFRESH_INTERVAL: must be at least 10m/,
  });
  t.throws(() => parseConfig({ ...VALID, KEY_REFRESH_INTERVAL: '1 day' }), {
    message: /KEY_REFRESH_INTERVAL: must be a duration/,
  });
});

test('BACKUP_PUBLIC_KEY: hex of an X25519 or P-256 key, or a PEM file of either; BACKUP_DIR defaults under DATA_DIR', async (t) => {
  const { generateKeyPairSync } = await import('node:crypto');
  const dir = await mkdtemp(join(tmpdir(), 'mpc-backup-config-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  t.is(parseConfig(VALID).backup, undefined);
  const hex = 'ab'.repeat(32);
  t.deepEqual(parseConfig({ ...VALID, BACKUP_PUBLIC_KEY: hex }, { rootDir: '/srv/mpc' }).backup, {
    publicKey: hex,
    dir: '/srv/mpc/data/backup',
  });
  const p256 = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({
    format: 'pem',
    type: 'spki',
  }) as string;
  await writeFile(join(dir, 'backup.pub'), p256);
  const c = parseConfig({ ...VALID, BACKUP_PUBLIC_KEY: 'backup.pub', BACKUP_DIR: '/mnt/offsite' }, { rootDir: dir });
  t.is(c.backup?.publicKey, p256);
  t.is(c.backup?.dir, '/mnt/offsite');
  const ed = generateKeyPairSync('ed25519').publicKey.export({ format: 'pem', type: 'spki' });
  await writeFile(join(dir, 'ed.pub'), ed);
  t.throws(() => parseConfig({ ...VALID, BACKUP_PUBLIC_KEY: 'ed.pub' }, { rootDir: dir }), {
    message: /BACKUP_PUBLIC_KEY: .*ed25519 key; the backup key must be X25519 or P-256/,
  });
  t.throws(() => parseConfig({ ...VALID, BACKUP_PUBLIC_KEY: 'missing.pem' }, { rootDir: dir }), {
    message: /BACKUP_PUBLIC_KEY: is neither a key in hex/,
  });
  t.throws(() => parseConfig({ ...VALID, BACKUP_DIR: '/mnt/offsite' }), {
    message: /BACKUP_DIR: is set but BACKUP_PUBLIC_KEY is not/,
  });
});

test('NODE_WORKERS: default the available cores less one (at least 1, at most 4), 1–256, anything else names the variable', (t) => {
  const workers = (v: string | undefined) =>
    parseConfig({ ...VALID, ...(v === undefined ? {} : { NODE_WORKERS: v }) }, { rootDir: '/srv/mpc' }).nodeWorkers;
  t.is(workers(undefined), defaultNodeWorkers(availableParallelism()));
  // the cores seen may be the host's, not the container's quota: capped
  t.deepEqual([1, 2, 3, 5, 6, 64].map(defaultNodeWorkers), [1, 1, 2, 4, 4, 4]);
  t.is(workers('1'), 1);
  t.is(workers('256'), 256);
  for (const bad of ['0', '257', 'all', '-2', '1.5'])
    t.throws(() => workers(bad), { instanceOf: ConfigError, message: /NODE_WORKERS/ });
});
