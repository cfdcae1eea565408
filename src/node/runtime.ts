/**
 * Opening a node's state from its configuration: config, pinned group identities, KMS, the
 * encrypted record store, the safe-prime source and the request handler. Used by the main thread
 * (signing) and by each protocol worker (sessions, info; workers.ts); all open the same store,
 * whose exclusive-create markers make them safe to share.
 * @module
 */
import { join } from 'node:path';
import { loadConfig, nodeEntry, type Config, type NodeEntry } from '../config/index.js';
import { openKms } from '../kms/open.js';
import { RecordStore } from './storage/store.js';
import { Presignatures } from './storage/presignatures.js';
import { createLogger, type Logger } from '../util/log.js';
import { loadGroup, loadPrivateKey } from './identity.js';
import { PrimeSource } from './primes.js';
import { NodeService, type NodeServiceOptions } from './service.js';
import { ShareBackup } from './backup.js';
import { parseBackupPublicKey } from '../backup/format.js';

export interface RuntimeOptions {
  env: string;
  id: string;
  rootDir?: string;
  /** development/tests only: pre-generated safe primes (see primes.ts) */
  devPrimes?: string | undefined;
  /** whether this runtime generates primes in the background (protocol worker 0 does) */
  fillPrimes?: boolean;
}

export interface NodeRuntime {
  config: Config;
  self: NodeEntry;
  service: NodeService;
  primes: PrimeSource;
  log: Logger;
  close(): Promise<void>;
}

/** What the opener passes that cannot travel in workerData as it is (functions, shared memory views). */
export interface RuntimeHooks extends Pick<
  NodeServiceOptions,
  'scopeLock' | 'auxGeneration' | 'workers' | 'runsAux' | 'onSessionClosed'
> {
  /** where the service's audit events go (the main thread owns the node's audit log) */
  readonly audit?: NodeServiceOptions['audit'];
}

export async function openNodeRuntime(o: RuntimeOptions, hooks: RuntimeHooks = {}): Promise<NodeRuntime> {
  const config = loadConfig({ env: o.env, ...(o.rootDir ? { rootDir: o.rootDir } : {}) });
  const self = nodeEntry(config, o.id);
  const log = createLogger({ level: config.logLevel, name: o.id });
  const kms = await openKms(self.kms, o.id);
  log.info({ kms: kms.name, keyId: kms.keyId }, 'KMS open');
  const store = await RecordStore.open({ dir: join(self.dataDir, 'records'), nodeId: o.id, kms });
  // secrets of presignatures marked used but not yet deleted (a crash or a failed deletion)
  const swept = await new Presignatures(store).sweep((presigId, err) =>
    log.error(
      { presigId, err: err.message },
      'the secret of a used presignature could not be deleted (it can never sign; retried at the next start)',
    ),
  );
  if (swept > 0) log.info({ swept }, 'removed used presignature secrets');
  // a thread that never runs aux-info (runsAux false) gets no copy of the node's secret primes
  const primes =
    hooks.runsAux === false
      ? PrimeSource.none(store, self.index)
      : await PrimeSource.open({
          store,
          index: self.index,
          devFile: o.devPrimes,
          poolSize: config.nodePrimePool,
          // the worker refills after every aux run, not only at start
          autoFill: o.fillPrimes ?? false,
          onProgress: (ready, needed) => log.info({ ready, needed }, 'safe primes for aux-info'),
          onError: (e) => log.error({ err: e.message }, 'safe-prime generation failed'),
        });
  if (o.fillPrimes && hooks.runsAux !== false)
    void primes.fill().catch((e: unknown) => log.error({ err: (e as Error).message }, 'safe-prime generation failed'));
  const service = new NodeService({
    nodeId: o.id,
    group: await loadGroup(config, self),
    privateKey: await loadPrivateKey(self),
    threshold: config.mpc.threshold,
    store,
    primes,
    log,
    retention: { presignatureMaxAgeMs: config.presignMaxAgeMs },
    ...(hooks.audit ? { audit: hooks.audit } : {}),
    ...(hooks.scopeLock ? { scopeLock: hooks.scopeLock } : {}),
    ...(hooks.auxGeneration ? { auxGeneration: hooks.auxGeneration } : {}),
    ...(hooks.workers === undefined ? {} : { workers: hooks.workers }),
    ...(hooks.runsAux === undefined ? {} : { runsAux: hooks.runsAux }),
    ...(hooks.onSessionClosed ? { onSessionClosed: hooks.onSessionClosed } : {}),
    ...(config.backup
      ? {
          backup: new ShareBackup({
            nodeId: o.id,
            dir: config.backup.dir,
            publicKey: parseBackupPublicKey(config.backup.publicKey),
          }),
        }
      : {}),
  });
  return { config, self, service, primes, log, close: () => kms.close() };
}
