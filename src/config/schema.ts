/**
 * The environment variables, each with its zod schema (string in, typed value out) and the rules
 * that relate them. Messages say why a value is wrong and repeat it — except for secrets.
 * Variable names and meanings follow the product contract (docs/product.md, "Environment variables"; `env/.env.local`); the rest are additions
 * documented in `env/.env.aws.example`.
 * @module
 */
import { isIP } from 'node:net';
import { z } from 'zod';
import { isLoopbackAddress, parseAddressRange, type AddressRange } from '../util/ip.js';
import { LOG_LEVELS } from '../util/log.js';
import {
  DEFAULT_COORDINATOR_ID,
  NODE_ID_PATTERN,
  RESERVED_COORDINATOR_IDS,
  RESERVED_NODE_IDS,
} from '../transport/identity.js';
import { checkKmsSettings, KMS_DESCRIPTIONS, KMS_SCHEMA, type KmsProvider } from './kms-settings.js';
import { duration, httpsUrl, integer, list, path, show } from './parsers.js';

/** PRESIGN_MAX_AGE's default: a day (the node burns older presignatures; src/node/storage/retention.ts). */
export const DEFAULT_PRESIGN_MAX_AGE_MS = 24 * 3_600_000;

export const PLATFORMS = ['LOCAL', 'AWS', 'AZURE', 'IBM', 'GOOGLE'] as const;
export type Platform = (typeof PLATFORMS)[number];
export type CloudPlatform = Exclude<Platform, 'LOCAL'>;

/** The region variable each cloud platform needs when a node runs there. */
export const REGION_VARIABLES: Readonly<Record<CloudPlatform, string>> = {
  AWS: 'NODE_AWS_REGION',
  AZURE: 'NODE_AZURE_REGION',
  IBM: 'NODE_IBM_REGION',
  GOOGLE: 'NODE_GOOGLE_REGION',
};

export type { KmsProvider };

/** The provider a node uses when NODE_KMS_PROVIDERS does not say: its platform's own KMS. */
export const DEFAULT_KMS_PROVIDER: Readonly<Record<Platform, KmsProvider | undefined>> = {
  LOCAL: 'local',
  AWS: 'aws',
  AZURE: 'azure',
  IBM: 'ibm',
  GOOGLE: undefined, // no Cloud KMS provider: set NODE_KMS_PROVIDERS (pkcs11 through Google's PKCS#11 library)
};

/** Every variable the system reads, with a line of documentation. Anything else in an env file is an error. */
export const VARIABLES = {
  COORDINATOR_PLATFORM: 'where the coordinator runs: LOCAL, AWS, AZURE, IBM or GOOGLE',
  COORDINATOR_IDS:
    'coordinator identities, comma-separated (letters, digits, _ and -; not a node id, not ca), default coordinator. Each has its certificate CERTS_DIR/<id>.crt and its state DATA_DIR/<id>; every node admits each with one link. More than one needs COORDINATOR_DATABASE_URL',
  COORDINATOR_DATABASE_URL:
    'postgres:// (or postgresql://) URL of the database the coordinators share (secret: it may carry a password). Required when COORDINATOR_IDS lists more than one identity; unset: the coordinator keeps its state in files',
  COORDINATOR_LOCAL_KMS_PATH: 'directory of the file-based (LOCAL) KMS (default .kmsNodes)',
  COORDINATOR_HTTPS_PORT: 'port of the wallet HTTPS API (default 8443)',
  COORDINATOR_HTTPS_HOST:
    'IP address the wallet HTTPS API listens on (default 127.0.0.1, loopback only; 0.0.0.0 or :: for every interface). Not loopback: WALLET_SERVER_AUTH_TOKEN must not be the development token of env/.env.local',
  COORDINATOR_HTTPS_CERT:
    'certificate (PEM, chain after it) of the wallet HTTPS API (default CERTS_DIR/public/api.crt); set with COORDINATOR_HTTPS_KEY',
  COORDINATOR_HTTPS_KEY: 'private key (PEM) of COORDINATOR_HTTPS_CERT (default CERTS_DIR/public/api.key)',
  COORDINATOR_HTTPS_MAX_CONNECTIONS: 'open connections to the wallet HTTPS API in all (1–100000, default 1024)',
  COORDINATOR_HTTPS_MAX_CONNECTIONS_PER_IP:
    'open connections to the wallet HTTPS API from one address (1–10000, default 128; trusted proxies exempt)',
  COORDINATOR_TRUSTED_PROXIES:
    'addresses or CIDR ranges of reverse proxies whose X-Forwarded-For is believed for the client address, comma-separated (default none: the TCP peer is the client)',
  COORDINATOR_METRICS_TOKEN:
    '"Bearer <token>" a Prometheus scraper presents for GET /metrics (secret; must differ from WALLET_SERVER_AUTH_TOKEN). Unset: /metrics is off',
  COORDINATOR_ADMIN_TOKEN:
    '"Bearer <token>" an operator presents for the admin routes: wallet refresh, key rotation and their jobs (secret; must differ from WALLET_SERVER_AUTH_TOKEN and COORDINATOR_METRICS_TOKEN). Unset: the admin routes are off',
  NODE_IDS: 'node ids, comma-separated (letters, digits, _ and -), e.g. node_1,node_2,node_3',
  NODE_HOSTS: 'host:port of each node, in NODE_IDS order ([v6-address]:port for IPv6)',
  NODE_PLATFORMS: 'platform of each node, in NODE_IDS order',
  NODE_AWS_REGION: 'AWS region of the nodes on AWS (required if NODE_PLATFORMS has AWS)',
  NODE_AZURE_REGION: 'Azure region of the nodes on AZURE (required if NODE_PLATFORMS has AZURE)',
  NODE_IBM_REGION: 'IBM Cloud region of the nodes on IBM (required if NODE_PLATFORMS has IBM)',
  NODE_GOOGLE_REGION: 'Google Cloud region of the nodes on GOOGLE (required if NODE_PLATFORMS has GOOGLE)',
  // NODE_KMS_*: declared with their providers in kms-settings.ts
  ...KMS_DESCRIPTIONS,
  MPC_THRESHOLD: 'signers needed (t of t-of-n), at least 2',
  MPC_TOTAL_SHARDS: 'number of shares n; must equal the number of NODE_IDS',
  WALLET_SERVER_URL: 'https:// URL of the wallet server (the coordinator requires it)',
  WALLET_SERVER_AUTH_TOKEN: '"Bearer <token>" the wallet server presents (secret; the coordinator requires it)',
  ENABLE_KERNEL_FIREWALL: 'true: a node accepts connections only from TRUSTED_COORDINATOR_IP (default false)',
  TRUSTED_COORDINATOR_IP:
    'IP address of each coordinator as the nodes see it, comma-separated (required if ENABLE_KERNEL_FIREWALL=true)',
  CERTS_DIR:
    'directory the services read: ca.crt (internal CA), <id>.crt/.key of each node and coordinator id, public/ (wallet API certificate and its CA) (default certs)',
  CERTS_CA_DIR:
    "directory of the development CAs' private keys, used by npm run certs only and never read by the services; must not be CERTS_DIR or inside it (default CERTS_DIR followed by -ca, e.g. certs-ca)",
  DATA_DIR: 'state directory; each node and each coordinator use DATA_DIR/<id> (default data)',
  LOG_LEVEL: 'fatal, error, warn, info, debug, trace or silent (default info)',
  TRANSPORT_MAX_FRAME_BYTES: 'largest coordinator↔node frame in bytes (default 4194304)',
  TRANSPORT_HEARTBEAT_INTERVAL_MS: 'heartbeat period in ms (default 5000)',
  TRANSPORT_HEARTBEAT_MISSES: 'missed heartbeats before a peer is declared dead (default 3)',
  TRANSPORT_HANDSHAKE_TIMEOUT_MS:
    'a node drops a connection that has not finished TLS and authentication within this many ms (default 5000)',
  NODE_DRAIN_MS:
    'on SIGTERM a node lets requests in flight finish for at most this many ms, then aborts them and exits (default 5000)',
  PRESIGN_POOL_SIZE:
    'the most presignatures the coordinators keep ready per wallet and signer pair, for wallets that have signed recently or whose creation asked for it (0–64, default 2; 0: on demand only)',
  PRESIGN_POOL_TARGET:
    'presignatures the coordinators keep ready per signer pair across all wallets, shared in proportion to their signing over the last hours, at most PRESIGN_POOL_SIZE each (0–100000, default 64)',
  PRESIGN_MAX_AGE:
    'a presignature not used within this long is dropped by the coordinators (10 minutes before) and burnt by the nodes, which also delete the ones nobody asked for (e.g. 24h; 1h–30d, default 24h)',
  NODE_WORKERS:
    'protocol worker threads per node: sessions (presign, keygen, refresh, aux-info) spread over them, signing stays on the main thread (1–256, default the available cores less one, at least 1 and at most 4; set it in containers, where the cores seen may ignore the CPU quota)',
  NODE_PRIME_POOL:
    'safe primes each node keeps ready, generated in the background (4–64, default 8: two aux-info runs; a run takes 4)',
  KEY_REFRESH_INTERVAL:
    "refresh every wallet's key shares once per interval, spread over it (e.g. 24h or 7d; 10m–365d). Unset: no scheduled refresh",
  BACKUP_PUBLIC_KEY:
    "the operator's backup key (HPKE, RFC 9180): an X25519 public key in hex (64 digits), a P-256 one uncompressed in hex (130 digits, 04…), or the path of either as a PEM public key. Set: every node writes each committed key share, encrypted to it, under BACKUP_DIR (npm run recovery). Unset: no backups",
  BACKUP_DIR:
    'directory the nodes write their encrypted share backups to, each under BACKUP_DIR/<id> (default DATA_DIR/backup); copy it off-site',
} as const satisfies Record<string, string>;

export type VariableName = keyof typeof VARIABLES;
export const VARIABLE_NAMES = Object.keys(VARIABLES) as VariableName[];

/** A string that must be present (absent and empty are the same: the loader drops empty values). */
function required(what: string) {
  return z.string({ error: (iss) => (iss.input === undefined ? 'required, not set' : `must be ${what}`) });
}

const port = integer(1, 65535);

const platform = z
  .string()
  .transform((s) => s.toUpperCase())
  .pipe(z.enum(PLATFORMS, { error: (iss) => `must be one of ${PLATFORMS.join(', ')}, got ${show(iss.input)}` }));

const nodeId = z
  .string()
  .regex(NODE_ID_PATTERN, {
    error: (iss) =>
      `${show(iss.input)} is not a node id (letters, digits, _ and -, at most 64, not starting with _ or -)`,
  })
  .refine((s) => !RESERVED_NODE_IDS.includes(s), {
    error: (iss) => `${show(iss.input)} is reserved (${RESERVED_NODE_IDS.join(', ')})`,
  });

const coordinatorId = z
  .string()
  .regex(NODE_ID_PATTERN, {
    error: (iss) =>
      `${show(iss.input)} is not a coordinator id (letters, digits, _ and -, at most 64, not starting with _ or -)`,
  })
  .refine((s) => !RESERVED_COORDINATOR_IDS.includes(s), {
    error: (iss) => `${show(iss.input)} is reserved (${RESERVED_COORDINATOR_IDS.join(', ')})`,
  });

/**
 * A PostgreSQL connection URL. It may carry a password, so no message repeats any part of it.
 */
const databaseUrl = z.string().refine(
  (s) => {
    try {
      const u = new URL(s);
      return u.protocol === 'postgres:' || u.protocol === 'postgresql:';
    } catch {
      return false;
    }
  },
  { error: 'must be a postgres:// or postgresql:// URL (the value is not repeated: it may hold a password)' },
);

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

const DNS_NAME =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

const hostPort = z.string().transform((s, ctx): HostPort => {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(s);
  const host = m?.[1] ?? m?.[2];
  const p = Number(m?.[3]);
  if (!m || host === undefined) {
    ctx.addIssue({ code: 'custom', message: `${show(s)} is not host:port` });
  } else if (m[1] !== undefined && isIP(host) !== 6) {
    ctx.addIssue({ code: 'custom', message: `${show(s)}: ${show(host)} in brackets is not an IPv6 address` });
  } else if (m[2] !== undefined && isIP(host) !== 4 && !DNS_NAME.test(host)) {
    ctx.addIssue({ code: 'custom', message: `${show(s)}: ${show(host)} is neither an IPv4 address nor a host name` });
  } else if (!(p >= 1 && p <= 65535)) {
    ctx.addIssue({ code: 'custom', message: `${show(s)}: port must be 1–65535` });
  } else {
    return { host, port: p };
  }
  return z.NEVER;
});

const boolean = z
  .string()
  .regex(/^(true|false)$/i, { error: (iss) => `must be true or false, got ${show(iss.input)}` })
  .transform((s) => s.toLowerCase() === 'true');

const ipAddress = z
  .string()
  .refine((s) => isIP(s) !== 0, { error: (iss) => `must be an IP address, got ${show(iss.input)}` });

const region = z.string().regex(/^[A-Za-z0-9-]{2,40}$/, { error: (iss) => `${show(iss.input)} is not a region name` });

// RFC 6750 token characters; at least 16 so a placeholder like "Bearer x" is caught. The value is
// a secret: no message repeats it.
const bearer = z.string().regex(/^Bearer [A-Za-z0-9\-._~+/]{16,}=*$/, {
  error: 'must be "Bearer <token>" with a token of at least 16 characters (A–Z a–z 0–9 - . _ ~ + /)',
});

/**
 * The token env/.env.local ships with: known to anyone who has read the repository, so it may
 * only guard an API that nothing but this machine can reach.
 */
export const DEVELOPMENT_AUTH_TOKEN = 'Bearer wallet_dev_token_12345';

const listenAddress = z.string().refine((s) => isIP(s) !== 0, {
  error: (iss) => `must be an IP address (e.g. 127.0.0.1, 0.0.0.0, ::), got ${show(iss.input)}`,
});

const addressRange = z.string().transform((s, ctx): AddressRange => {
  const r = parseAddressRange(s);
  if (r === undefined) {
    ctx.addIssue({
      code: 'custom',
      message: `${show(s)} is not an IP address or CIDR range (e.g. 10.0.0.7, 10.0.0.0/8, fd00::/8)`,
    });
    return z.NEVER;
  }
  return r;
});

const logLevel = z.enum(LOG_LEVELS, {
  error: (iss) => `must be one of ${LOG_LEVELS.join(', ')}, got ${show(iss.input)}`,
});

function duplicates<T>(items: readonly T[], key: (t: T) => string): string[] {
  const seen = new Set<string>();
  const dup = new Set<string>();
  for (const k of items.map(key)) (seen.has(k) ? dup : seen).add(k);
  return [...dup];
}

/** All variables, parsed; then the rules between them (run only when every variable parsed). */
export const envSchema = z
  .object({
    COORDINATOR_PLATFORM: required(`one of ${PLATFORMS.join(', ')}`).pipe(platform),
    COORDINATOR_IDS: list(coordinatorId).default([DEFAULT_COORDINATOR_ID]),
    COORDINATOR_DATABASE_URL: databaseUrl.optional(),
    COORDINATOR_LOCAL_KMS_PATH: path.default('.kmsNodes'),
    COORDINATOR_HTTPS_PORT: port.default(8443),
    COORDINATOR_HTTPS_HOST: listenAddress.default('127.0.0.1'),
    COORDINATOR_HTTPS_CERT: path.optional(),
    COORDINATOR_HTTPS_KEY: path.optional(),
    COORDINATOR_HTTPS_MAX_CONNECTIONS: integer(1, 100_000).default(1024),
    COORDINATOR_HTTPS_MAX_CONNECTIONS_PER_IP: integer(1, 10_000).default(128),
    COORDINATOR_TRUSTED_PROXIES: list(addressRange).optional(),
    COORDINATOR_METRICS_TOKEN: bearer.optional(),
    COORDINATOR_ADMIN_TOKEN: bearer.optional(),
    NODE_IDS: required('a list of node ids').pipe(list(nodeId)),
    NODE_HOSTS: required('a list of host:port').pipe(list(hostPort)),
    NODE_PLATFORMS: required('a list of platforms').pipe(list(platform)),
    NODE_AWS_REGION: region.optional(),
    NODE_AZURE_REGION: region.optional(),
    NODE_IBM_REGION: region.optional(),
    NODE_GOOGLE_REGION: region.optional(),
    ...KMS_SCHEMA,
    MPC_THRESHOLD: required('an integer').pipe(integer(2, 255)),
    MPC_TOTAL_SHARDS: required('an integer').pipe(integer(2, 255)),
    WALLET_SERVER_URL: httpsUrl.optional(),
    WALLET_SERVER_AUTH_TOKEN: bearer.optional(),
    ENABLE_KERNEL_FIREWALL: boolean.default(false),
    TRUSTED_COORDINATOR_IP: list(ipAddress).optional(),
    CERTS_DIR: path.default('certs'),
    CERTS_CA_DIR: path.optional(),
    DATA_DIR: path.default('data'),
    LOG_LEVEL: logLevel.default('info'),
    TRANSPORT_MAX_FRAME_BYTES: integer(1024, 1 << 30).default(4 * 1024 * 1024),
    TRANSPORT_HEARTBEAT_INTERVAL_MS: integer(10, 600_000).default(5_000),
    TRANSPORT_HEARTBEAT_MISSES: integer(1, 100).default(3),
    TRANSPORT_HANDSHAKE_TIMEOUT_MS: integer(100, 600_000).default(5_000),
    NODE_DRAIN_MS: integer(0, 600_000).default(5_000),
    PRESIGN_POOL_SIZE: integer(0, 64).default(2),
    PRESIGN_POOL_TARGET: integer(0, 100_000).default(64),
    PRESIGN_MAX_AGE: duration(3_600_000, 30 * 86_400_000).default(DEFAULT_PRESIGN_MAX_AGE_MS),
    NODE_PRIME_POOL: integer(4, 64).default(8),
    NODE_WORKERS: integer(1, 256).optional(),
    KEY_REFRESH_INTERVAL: duration(10 * 60_000, 365 * 86_400_000).optional(),
    BACKUP_PUBLIC_KEY: z.string().max(4096).optional(),
    BACKUP_DIR: path.optional(),
  })
  .superRefine((v, ctx) => {
    const issue = (variable: VariableName, message: string): void =>
      ctx.addIssue({ code: 'custom', path: [variable], message });
    const n = v.NODE_IDS.length;
    for (const d of duplicates(v.NODE_IDS, (x) => x)) issue('NODE_IDS', `${show(d)} is listed more than once`);
    for (const d of duplicates(v.COORDINATOR_IDS, (x) => x))
      issue('COORDINATOR_IDS', `${show(d)} is listed more than once`);
    // a coordinator and a node of one name would share certificate files and a data directory
    for (const id of v.COORDINATOR_IDS.filter((c) => v.NODE_IDS.includes(c)))
      issue('COORDINATOR_IDS', `${show(id)} is also a node id (NODE_IDS)`);
    if (v.TRUSTED_COORDINATOR_IP !== undefined)
      for (const d of duplicates(v.TRUSTED_COORDINATOR_IP, (x) => x.toLowerCase()))
        issue('TRUSTED_COORDINATOR_IP', `${show(d)} is listed more than once`);
    for (const d of duplicates(v.NODE_HOSTS, (h) => `${h.host.toLowerCase()}:${h.port}`))
      issue('NODE_HOSTS', `${d} is listed more than once`);
    if (v.NODE_HOSTS.length !== n) issue('NODE_HOSTS', `${v.NODE_HOSTS.length} entries but NODE_IDS has ${n}`);
    if (v.NODE_PLATFORMS.length !== n)
      issue('NODE_PLATFORMS', `${v.NODE_PLATFORMS.length} entries but NODE_IDS has ${n}`);
    if (v.MPC_TOTAL_SHARDS !== n) issue('MPC_TOTAL_SHARDS', `is ${v.MPC_TOTAL_SHARDS} but NODE_IDS has ${n} nodes`);
    if (v.MPC_THRESHOLD > v.MPC_TOTAL_SHARDS)
      issue('MPC_THRESHOLD', `must be ≤ MPC_TOTAL_SHARDS (${v.MPC_TOTAL_SHARDS}), got ${v.MPC_THRESHOLD}`);
    for (const [cloud, variable] of Object.entries(REGION_VARIABLES) as [CloudPlatform, VariableName][]) {
      if (v.NODE_PLATFORMS.includes(cloud) && v[variable] === undefined)
        issue(variable, `required because NODE_PLATFORMS has ${cloud}`);
    }
    const providers = kmsProviders(v);
    if (v.NODE_KMS_PROVIDERS !== undefined && v.NODE_KMS_PROVIDERS.length !== n)
      issue('NODE_KMS_PROVIDERS', `${v.NODE_KMS_PROVIDERS.length} entries but NODE_IDS has ${n}`);
    providers.forEach((p, i) => {
      if (p === undefined && v.NODE_PLATFORMS[i] !== undefined)
        issue(
          'NODE_KMS_PROVIDERS',
          `required: node ${v.NODE_IDS[i]} runs on ${v.NODE_PLATFORMS[i]}, which has no KMS provider of its own (use pkcs11 through the cloud's PKCS#11 library)`,
        );
    });
    checkKmsSettings(v, providers, (variable, message) => issue(variable as VariableName, message));
    if (v.ENABLE_KERNEL_FIREWALL && v.TRUSTED_COORDINATOR_IP === undefined)
      issue('TRUSTED_COORDINATOR_IP', 'required when ENABLE_KERNEL_FIREWALL=true');
    if ((v.COORDINATOR_HTTPS_CERT === undefined) !== (v.COORDINATOR_HTTPS_KEY === undefined)) {
      const [set, unset] =
        v.COORDINATOR_HTTPS_CERT === undefined
          ? ['COORDINATOR_HTTPS_KEY', 'COORDINATOR_HTTPS_CERT']
          : ['COORDINATOR_HTTPS_CERT', 'COORDINATOR_HTTPS_KEY'];
      issue(unset as VariableName, `required when ${set} is set`);
    }
    if (!isLoopbackAddress(v.COORDINATOR_HTTPS_HOST)) {
      const reachable = `the wallet API listens on ${v.COORDINATOR_HTTPS_HOST} (COORDINATOR_HTTPS_HOST), which is not a loopback address`;
      if (v.WALLET_SERVER_AUTH_TOKEN === DEVELOPMENT_AUTH_TOKEN)
        issue(
          'WALLET_SERVER_AUTH_TOKEN',
          `is the development token from env/.env.local, which anyone can read, and ${reachable}: set a secret token of your own`,
        );
      if (v.COORDINATOR_METRICS_TOKEN === DEVELOPMENT_AUTH_TOKEN)
        issue(
          'COORDINATOR_METRICS_TOKEN',
          `is the development token from env/.env.local, and ${reachable}: set a secret token of your own`,
        );
      if (v.COORDINATOR_ADMIN_TOKEN === DEVELOPMENT_AUTH_TOKEN)
        issue(
          'COORDINATOR_ADMIN_TOKEN',
          `is the development token from env/.env.local, and ${reachable}: set a secret token of your own`,
        );
    }
    if (v.COORDINATOR_METRICS_TOKEN !== undefined && v.COORDINATOR_METRICS_TOKEN === v.WALLET_SERVER_AUTH_TOKEN) {
      issue(
        'COORDINATOR_METRICS_TOKEN',
        'must differ from WALLET_SERVER_AUTH_TOKEN (a scraper must not be able to create wallets or sign)',
      );
    }
    if (
      v.COORDINATOR_ADMIN_TOKEN !== undefined &&
      (v.COORDINATOR_ADMIN_TOKEN === v.WALLET_SERVER_AUTH_TOKEN ||
        v.COORDINATOR_ADMIN_TOKEN === v.COORDINATOR_METRICS_TOKEN)
    ) {
      issue(
        'COORDINATOR_ADMIN_TOKEN',
        'must differ from WALLET_SERVER_AUTH_TOKEN and COORDINATOR_METRICS_TOKEN (the wallet server and a scraper must not be able to rotate keys)',
      );
    }
    if (v.BACKUP_DIR !== undefined && v.BACKUP_PUBLIC_KEY === undefined)
      issue('BACKUP_DIR', 'is set but BACKUP_PUBLIC_KEY is not: no backup would be written');
    if ((v.WALLET_SERVER_URL === undefined) !== (v.WALLET_SERVER_AUTH_TOKEN === undefined)) {
      const [set, unset] =
        v.WALLET_SERVER_URL === undefined
          ? ['WALLET_SERVER_AUTH_TOKEN', 'WALLET_SERVER_URL']
          : ['WALLET_SERVER_URL', 'WALLET_SERVER_AUTH_TOKEN'];
      issue(unset as VariableName, `required when ${set} is set`);
    }
  });

export type EnvValues = z.output<typeof envSchema>;

/** Each node's KMS provider: NODE_KMS_PROVIDERS, else its platform's default (undefined: none). */
export function kmsProviders(v: Pick<EnvValues, 'NODE_KMS_PROVIDERS' | 'NODE_PLATFORMS'>): (KmsProvider | undefined)[] {
  return v.NODE_PLATFORMS.map((p, i) => v.NODE_KMS_PROVIDERS?.[i] ?? DEFAULT_KMS_PROVIDER[p]);
}
