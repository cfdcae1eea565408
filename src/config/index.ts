/**
 * Configuration: `loadConfig` at start-up, then pass the `Config` along.
 * @module
 */
export { loadConfig, parseConfig, nodeEntry, requireWallet } from './config.js';
export type {
  Config,
  NodeEntry,
  CoordinatorEntry,
  ApiServerConfig,
  WalletConfig,
  FirewallConfig,
  TlsFiles,
  LoadOptions,
  ParseOptions,
} from './config.js';
export { ConfigError, type ConfigIssue } from './errors.js';
export { DEVELOPMENT_ENV, devPrimesRefusal } from './development.js';
export {
  DEVELOPMENT_AUTH_TOKEN,
  PLATFORMS,
  REGION_VARIABLES,
  VARIABLES,
  type Platform,
  type VariableName,
} from './schema.js';
