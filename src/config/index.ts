/**
 * Configuration: `loadConfig` at start-up, then pass the `Config` along.
 * @module
 */
export { loadConfig, parseConfig, nodeEntry, coordinatorEntry, requireWallet, defaultNodeWorkers } from './config.js';
export type { Config, NodeEntry } from './config.js';
/**
 * The types of Config's fields and of the loaders' options: no caller names them yet, but they
 * are part of what loadConfig and parseConfig take and return.
 * @public
 */
export type {
  CoordinatorEntry,
  ApiServerConfig,
  WalletConfig,
  FirewallConfig,
  TlsFiles,
  LoadOptions,
  ParseOptions,
} from './config.js';
export { ConfigError, /** @public (ConfigError.issues) */ type ConfigIssue } from './errors.js';
export { devPrimesRefusal } from './development.js';
export {
  DEFAULT_PRESIGN_MAX_AGE_MS,
  DEVELOPMENT_AUTH_TOKEN,
  VARIABLES,
  /** @public (NodeEntry.platform) */ type Platform,
} from './schema.js';
