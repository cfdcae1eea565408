/**
 * The typed configuration, made once at start-up from `env/.env.<name>` with `process.env`
 * overriding it variable by variable. This is the only module that reads `process.env`; everything
 * else receives a `Config`. Relative paths are resolved against the project root.
 * @module
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { ConfigError, type ConfigIssue } from './errors.js';
import { envFilePath, readEnvFile } from './env-file.js';
import { kmsConfig, withSecret, type KmsConfig } from './kms-settings.js';
import { envSchema, kmsProviders, VARIABLE_NAMES, VARIABLES, type Platform } from './schema.js';
import type { AddressRange } from '../util/ip.js';
import type { LogLevel } from '../util/log.js';

export interface TlsFiles {
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
}

export type { KmsConfig } from './kms-settings.js';

export interface NodeEntry {
  readonly id: string;
  /** position in NODE_IDS, 0-based */
  readonly index: number;
  readonly host: string;
  readonly port: number;
  readonly platform: Platform;
  /** the NODE_<PLATFORM>_REGION of its platform; undefined for LOCAL */
  readonly region: string | undefined;
  readonly tls: TlsFiles;
  readonly dataDir: string;
  readonly kms: KmsConfig;
}

/** The public wallet HTTPS API: where it listens, its certificate, its limits. */
export interface ApiServerConfig {
  /** IP address to listen on (default 127.0.0.1) */
  readonly host: string;
  /** certificate and key files (default CERTS_DIR/public/api.crt/.key, from the development public CA) */
  readonly cert: string;
  readonly key: string;
  readonly maxConnections: number;
  readonly maxConnectionsPerIp: number;
  /** reverse proxies whose X-Forwarded-For is believed (empty: none) */
  readonly trustedProxies: readonly AddressRange[];
  /** `Bearer <token>` for GET /metrics (secret, non-enumerable); undefined: /metrics is off */
  readonly metricsAuthorization: string | undefined;
  /** `Bearer <token>` for the admin routes: refresh, rotation, jobs (secret, non-enumerable); undefined: they are off */
  readonly adminAuthorization: string | undefined;
}

/**
 * One coordinator identity's settings. `config.coordinator` is the first of COORDINATOR_IDS; a
 * coordinator process takes its own with `coordinatorEntry` (its `--id`).
 */
export interface CoordinatorEntry {
  /** this coordinator's identity (COORDINATOR_IDS): its certificate CERTS_DIR/<id>.crt, its state DATA_DIR/<id> */
  readonly id: string;
  /** every coordinator identity of the deployment (COORDINATOR_IDS), in order */
  readonly ids: readonly string[];
  readonly platform: Platform;
  readonly localKmsPath: string;
  readonly httpsPort: number;
  readonly tls: TlsFiles;
  readonly dataDir: string;
  readonly api: ApiServerConfig;
  /** COORDINATOR_DATABASE_URL (secret, non-enumerable: it may carry a password); undefined: state in files */
  readonly databaseUrl: string | undefined;
}

export interface WalletConfig {
  readonly url: string;
  /** the whole Authorization header value a wallet server presents: `Bearer <token>` (secret) */
  readonly authorization: string;
}

export interface FirewallConfig {
  /** ENABLE_KERNEL_FIREWALL: a node admits connections from `trustedCoordinatorIps` only (never empty then) */
  readonly enabled: boolean;
  /** TRUSTED_COORDINATOR_IP: the address of each coordinator as the nodes see it (empty when unset) */
  readonly trustedCoordinatorIps: readonly string[];
}

export interface Config {
  /** the environment name (`local` for env/.env.local), undefined when built from variables alone */
  readonly envName: string | undefined;
  readonly envFile: string | undefined;
  readonly rootDir: string;
  readonly coordinator: CoordinatorEntry;
  /** in NODE_IDS order */
  readonly nodes: readonly NodeEntry[];
  readonly mpc: { readonly threshold: number; readonly totalShards: number };
  /** undefined when neither WALLET_SERVER_* is set (a node's machine need not hold the token); see `requireWallet` */
  readonly wallet: WalletConfig | undefined;
  readonly firewall: FirewallConfig;
  readonly certsDir: string;
  /** where `npm run certs` keeps the CA private keys (CERTS_CA_DIR); no service reads it */
  readonly certsCaDir: string;
  readonly transport: {
    readonly maxFrameBytes: number;
    readonly heartbeatIntervalMs: number;
    readonly heartbeatMisses: number;
    readonly handshakeTimeoutMs: number;
  };
  /** node: how long requests in flight may finish after SIGTERM */
  readonly drainMs: number;
  readonly logLevel: LogLevel;
  /** presignatures kept ready per wallet and signer pair */
  readonly presignPoolSize: number;
  /** PRESIGN_POOL_TARGET: ready presignatures per signer pair across all wallets */
  readonly presignPoolTarget: number;
  /** safe primes each node keeps ready for aux-info runs (4 per run) */
  readonly nodePrimePool: number;
  /** PRESIGN_MAX_AGE in ms: presignatures older than this are no longer used (nodes burn them) */
  readonly presignMaxAgeMs: number;
  /** protocol worker threads per node (NODE_WORKERS; default the available cores less one, 1–4) */
  readonly nodeWorkers: number;
  /** KEY_REFRESH_INTERVAL in ms: every wallet refreshed once per interval (undefined: off) */
  readonly keyRefreshIntervalMs: number | undefined;
  /** share backups (BACKUP_PUBLIC_KEY set): the key as hex or PEM text, and the directory */
  readonly backup: BackupConfig | undefined;
}

export interface BackupConfig {
  /** hex of the raw public key, or a PEM public key (checked: X25519 or P-256) */
  readonly publicKey: string;
  readonly dir: string;
}

/** BACKUP_PUBLIC_KEY as given (hex) or read from its PEM file; a key of another kind is refused. */
function backupPublicKey(value: string, at: (p: string) => string, envFile: string | undefined): string {
  const fail = (message: string): never => {
    throw new ConfigError([{ variable: 'BACKUP_PUBLIC_KEY', message }], envFile);
  };
  if (/^[0-9a-fA-F]{64}$/.test(value) || /^04[0-9a-fA-F]{128}$/.test(value)) return value.toLowerCase();
  let pem = '';
  try {
    pem = readFileSync(at(value), 'utf8');
  } catch {
    fail(`is neither a key in hex (64 digits for X25519, 130 for P-256) nor a readable PEM file (${at(value)})`);
  }
  let key: KeyObject | undefined;
  try {
    key = createPublicKey(pem);
  } catch {
    fail(`${at(value)} holds no PEM public key`);
  }
  const k = key as KeyObject;
  if (
    k.asymmetricKeyType !== 'x25519' &&
    !(k.asymmetricKeyType === 'ec' && k.asymmetricKeyDetails?.namedCurve === 'prime256v1')
  )
    fail(`${at(value)} is a ${k.asymmetricKeyType ?? 'unknown'} key; the backup key must be X25519 or P-256`);
  return pem;
}

export interface ParseOptions {
  /** base of relative paths (default the current directory) */
  rootDir?: string;
  envName?: string;
  envFile?: string;
}

function tlsFiles(certsDir: string, name: string): TlsFiles {
  return { ca: join(certsDir, 'ca.crt'), cert: join(certsDir, `${name}.crt`), key: join(certsDir, `${name}.key`) };
}

/** Nearest known name by edit distance, for "did you mean". */
function suggest(name: string): string | undefined {
  const distance = (a: string, b: string): number => {
    let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
    for (let i = 1; i <= a.length; i++) {
      const cur = [i];
      for (let j = 1; j <= b.length; j++)
        cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
    return prev[b.length]!;
  };
  let best: [string, number] | undefined;
  for (const known of VARIABLE_NAMES) {
    const d = distance(name.toUpperCase(), known);
    if (!best || d < best[1]) best = [known, d];
  }
  return best && best[1] <= 3 ? best[0] : undefined;
}

/**
 * NODE_WORKERS unset: every core but one (the main thread's: signing, the transport), at least
 * one and at most 4. The cap, because on Node 20 `availableParallelism()` counts the host's cores
 * and ignores a container's CPU quota: a node in a 2-CPU container on a 64-core host would start
 * 63 workers, each with its own copy of the runtime, and the coordinators would run 63 background
 * presigns at once against it. Set it explicitly in containers.
 */
export function defaultNodeWorkers(cores: number): number {
  return Math.min(4, Math.max(1, cores - 1));
}

/**
 * A config from variables (already merged). Empty values count as unset.
 * @throws ConfigError listing every variable that is missing or wrong
 */
export function parseConfig(vars: Readonly<Record<string, string | undefined>>, options: ParseOptions = {}): Config {
  const rootDir = resolve(options.rootDir ?? '.');
  const input: Record<string, string> = {};
  for (const name of VARIABLE_NAMES) {
    const v = vars[name]?.trim();
    if (v !== undefined && v !== '') input[name] = v;
  }
  const parsed = envSchema.safeParse(input);
  if (!parsed.success) {
    const issues: ConfigIssue[] = parsed.error.issues.map((i) => {
      const [variable, index] = i.path;
      const where = typeof index === 'number' ? `entry ${index + 1}: ` : '';
      return { variable: String(variable ?? '?'), message: where + i.message };
    });
    throw new ConfigError(issues, options.envFile);
  }
  const v = parsed.data;
  const at = (p: string): string => resolve(rootDir, p);
  const certsDir = at(v.CERTS_DIR);
  // A sibling by default: copying the services' directory to a server never carries a CA key along.
  const certsCaDir = v.CERTS_CA_DIR === undefined ? `${certsDir}-ca` : at(v.CERTS_CA_DIR);
  const rel = relative(certsDir, certsCaDir);
  if (rel === '' || (rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel))) {
    throw new ConfigError(
      [
        {
          variable: 'CERTS_CA_DIR',
          message: `${certsCaDir} is CERTS_DIR or inside it; CA private keys must stay out of the directory the services read`,
        },
      ],
      options.envFile,
    );
  }
  const dataDir = at(v.DATA_DIR);
  const regions: Record<Platform, string | undefined> = {
    LOCAL: undefined,
    AWS: v.NODE_AWS_REGION,
    AZURE: v.NODE_AZURE_REGION,
    IBM: v.NODE_IBM_REGION,
    GOOGLE: v.NODE_GOOGLE_REGION,
  };
  const providers = kmsProviders(v);
  const nodes = v.NODE_IDS.map((id, index): NodeEntry => {
    const { host, port } = v.NODE_HOSTS[index]!;
    const platform = v.NODE_PLATFORMS[index]!;
    const kms = kmsConfig(v, providers[index]!, { id, at });
    return {
      id,
      index,
      host,
      port,
      platform,
      region: regions[platform],
      tls: tlsFiles(certsDir, id),
      dataDir: join(dataDir, id),
      kms,
    };
  });
  const api = withSecret(
    withSecret(
      {
        host: v.COORDINATOR_HTTPS_HOST,
        // the public API's own certificate (development: from the public CA, never the internal one)
        cert:
          v.COORDINATOR_HTTPS_CERT === undefined ? join(certsDir, 'public', 'api.crt') : at(v.COORDINATOR_HTTPS_CERT),
        key: v.COORDINATOR_HTTPS_KEY === undefined ? join(certsDir, 'public', 'api.key') : at(v.COORDINATOR_HTTPS_KEY),
        maxConnections: v.COORDINATOR_HTTPS_MAX_CONNECTIONS,
        maxConnectionsPerIp: v.COORDINATOR_HTTPS_MAX_CONNECTIONS_PER_IP,
        trustedProxies: v.COORDINATOR_TRUSTED_PROXIES ?? [],
      } as unknown as ApiServerConfig,
      'metricsAuthorization',
      v.COORDINATOR_METRICS_TOKEN,
    ),
    'adminAuthorization',
    v.COORDINATOR_ADMIN_TOKEN,
  );
  const firewall: FirewallConfig = {
    enabled: v.ENABLE_KERNEL_FIREWALL,
    trustedCoordinatorIps: v.TRUSTED_COORDINATOR_IP ?? [],
  };
  return {
    envName: options.envName,
    envFile: options.envFile,
    rootDir,
    coordinator: withSecret(
      {
        id: v.COORDINATOR_IDS[0]!,
        ids: v.COORDINATOR_IDS,
        platform: v.COORDINATOR_PLATFORM,
        localKmsPath: at(v.COORDINATOR_LOCAL_KMS_PATH),
        httpsPort: v.COORDINATOR_HTTPS_PORT,
        // the default id `coordinator` keeps the names it had before coordinators had ids
        tls: tlsFiles(certsDir, v.COORDINATOR_IDS[0]!),
        dataDir: join(dataDir, v.COORDINATOR_IDS[0]!),
        api,
      } as unknown as CoordinatorEntry,
      'databaseUrl',
      v.COORDINATOR_DATABASE_URL,
    ),
    nodes,
    mpc: { threshold: v.MPC_THRESHOLD, totalShards: v.MPC_TOTAL_SHARDS },
    wallet:
      v.WALLET_SERVER_URL !== undefined && v.WALLET_SERVER_AUTH_TOKEN !== undefined
        ? { url: v.WALLET_SERVER_URL, authorization: v.WALLET_SERVER_AUTH_TOKEN }
        : undefined,
    firewall,
    certsDir,
    certsCaDir,
    transport: {
      maxFrameBytes: v.TRANSPORT_MAX_FRAME_BYTES,
      heartbeatIntervalMs: v.TRANSPORT_HEARTBEAT_INTERVAL_MS,
      heartbeatMisses: v.TRANSPORT_HEARTBEAT_MISSES,
      handshakeTimeoutMs: v.TRANSPORT_HANDSHAKE_TIMEOUT_MS,
    },
    drainMs: v.NODE_DRAIN_MS,
    logLevel: v.LOG_LEVEL,
    presignPoolSize: v.PRESIGN_POOL_SIZE,
    presignPoolTarget: v.PRESIGN_POOL_TARGET,
    nodePrimePool: v.NODE_PRIME_POOL,
    presignMaxAgeMs: v.PRESIGN_MAX_AGE,
    nodeWorkers: v.NODE_WORKERS ?? defaultNodeWorkers(availableParallelism()),
    keyRefreshIntervalMs: v.KEY_REFRESH_INTERVAL,
    backup:
      v.BACKUP_PUBLIC_KEY === undefined
        ? undefined
        : {
            publicKey: backupPublicKey(v.BACKUP_PUBLIC_KEY, at, options.envFile),
            dir: at(v.BACKUP_DIR ?? join(v.DATA_DIR, 'backup')),
          },
  };
}

export interface LoadOptions {
  /** environment name: reads `<rootDir>/env/.env.<env>` (default `local`) */
  env?: string;
  /** project root (default the current directory) */
  rootDir?: string;
  /** overrides of the file's values, variable by variable (default `process.env`) */
  processEnv?: Readonly<Record<string, string | undefined>>;
}

/**
 * Loads `env/.env.<env>` and applies overrides. A variable in the file that the system does not
 * know is an error (a typo must not silently leave a default in force).
 * @throws ConfigError
 */
export function loadConfig(options: LoadOptions = {}): Config {
  const rootDir = resolve(options.rootDir ?? process.cwd());
  const envName = options.env ?? 'local';
  const envFile = envFilePath(rootDir, envName);
  const fromFile = readEnvFile(envFile);
  const unknown = Object.keys(fromFile).filter((k) => !(k in VARIABLES));
  if (unknown.length > 0) {
    throw new ConfigError(
      unknown.map((k) => {
        const hint = suggest(k);
        return { variable: k, message: `unknown variable${hint ? ` (did you mean ${hint}?)` : ''}` };
      }),
      envFile,
    );
  }
  const env = options.processEnv ?? process.env;
  const merged: Record<string, string | undefined> = { ...fromFile };
  for (const name of VARIABLE_NAMES) if (env[name] !== undefined) merged[name] = env[name];
  return parseConfig(merged, { rootDir, envName, envFile });
}

/**
 * The entry of node `id` (`--id` of the node command).
 * @throws ConfigError if NODE_IDS does not list it
 */
export function nodeEntry(config: Config, id: string): NodeEntry {
  const entry = config.nodes.find((n) => n.id === id);
  if (!entry) {
    throw new ConfigError(
      [
        {
          variable: '--id',
          message: `${JSON.stringify(id)} is not in NODE_IDS (${config.nodes.map((n) => n.id).join(', ')})`,
        },
      ],
      config.envFile,
    );
  }
  return entry;
}

/**
 * The entry of coordinator `id` (`--id` of the coordinator command; its HTTPS port `httpsPort`
 * when given, else COORDINATOR_HTTPS_PORT). Several coordinators share wallets, presignatures and
 * audit only through the database, so without COORDINATOR_DATABASE_URL a deployment of more than
 * one coordinator identity is refused here, before the coordinator touches anything.
 * @throws ConfigError if COORDINATOR_IDS does not list `id`, or lists several without a database
 */
export function coordinatorEntry(config: Config, id: string, o: { httpsPort?: number } = {}): CoordinatorEntry {
  const c = config.coordinator;
  const issues: ConfigIssue[] = [];
  if (!c.ids.includes(id))
    issues.push({
      variable: '--id',
      message: `${JSON.stringify(id)} is not in COORDINATOR_IDS (${c.ids.join(', ')})`,
    });
  if (c.ids.length > 1 && c.databaseUrl === undefined)
    issues.push({
      variable: 'COORDINATOR_DATABASE_URL',
      message: `required: COORDINATOR_IDS lists ${c.ids.length} coordinators (${c.ids.join(', ')}), and several coordinators need PostgreSQL to share their state; set COORDINATOR_DATABASE_URL or list one coordinator`,
    });
  if (o.httpsPort !== undefined && !(Number.isInteger(o.httpsPort) && o.httpsPort >= 1 && o.httpsPort <= 65535))
    issues.push({ variable: '--https-port', message: `must be a port 1–65535, got ${String(o.httpsPort)}` });
  if (issues.length > 0) throw new ConfigError(issues, config.envFile);
  const dataRoot = dirname(c.dataDir); // DATA_DIR: every entry's directory is DATA_DIR/<id>
  // the spread leaves out the non-enumerable secret: set again below
  return withSecret(
    {
      ...c,
      id,
      httpsPort: o.httpsPort ?? c.httpsPort,
      tls: tlsFiles(config.certsDir, id),
      dataDir: join(dataRoot, id),
    },
    'databaseUrl',
    c.databaseUrl,
  );
}

/**
 * The wallet server settings, which the coordinator cannot run without.
 * @throws ConfigError naming WALLET_SERVER_URL and WALLET_SERVER_AUTH_TOKEN
 */
export function requireWallet(config: Config): WalletConfig {
  if (config.wallet) return config.wallet;
  throw new ConfigError(
    [
      { variable: 'WALLET_SERVER_URL', message: 'required by the coordinator' },
      { variable: 'WALLET_SERVER_AUTH_TOKEN', message: 'required by the coordinator' },
    ],
    config.envFile,
  );
}
