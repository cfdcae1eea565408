/**
 * Opening a node's KMS from its configuration. Each cloud provider's module (and its SDK) is
 * loaded only when a node uses it, so a local node starts without loading any cloud SDK. There is
 * no fallback: if the configured provider cannot be opened, the node does not start.
 * @module
 */
import { readFile, stat } from 'node:fs/promises';
import type { KmsConfig, KmsProvider } from '../config/kms-settings.js';
import { KmsError, type Kms } from './kms.js';
import { DEFAULT_RETRY } from './retry.js';

type Opener<P extends KmsProvider> = (config: Extract<KmsConfig, { provider: P }>, nodeId: string) => Promise<Kms>;

/**
 * One opener per provider of src/config/kms-settings.ts (the typing refuses a missing one): it
 * loads the provider's module and hands it the node's settings.
 */
const OPENERS: { readonly [P in KmsProvider]: Opener<P> } = {
  local: async (config, nodeId) => (await import('./local.js')).openLocalKms({ root: config.root, nodeId }),
  aws: async (config) =>
    (await import('./aws.js')).openAwsKms({
      keyId: config.keyId,
      region: config.region,
      retiredKeyIds: config.retiredKeyIds,
      retry: retryPolicy(config.retryAttempts),
      ...(config.endpoint === undefined ? {} : { endpoint: config.endpoint }),
    }),
  azure: async (config) =>
    (await import('./azure.js')).openAzureKms({ keyId: config.keyId, retry: retryPolicy(config.retryAttempts) }),
  ibm: async (config) =>
    (await import('./ibm.js')).openIbmKms({
      keyId: config.keyId,
      instanceId: config.instanceId,
      endpoint: config.endpoint,
      apiKey: config.apiKey,
      retiredKeyIds: config.retiredKeyIds,
      retry: retryPolicy(config.retryAttempts),
      ...(config.iamUrl === undefined ? {} : { iamUrl: config.iamUrl }),
    }),
  pkcs11: async (config) =>
    (await import('./pkcs11.js')).openPkcs11Kms({
      module: config.module,
      tokenLabel: config.tokenLabel,
      slot: config.slot,
      keyLabel: config.keyLabel,
      pin: await readPin(config),
    }),
};

/** Open `nodeId`'s KMS as configured. */
export async function openKms(config: KmsConfig, nodeId: string): Promise<Kms> {
  const open = Object.hasOwn(OPENERS, config.provider) ? (OPENERS[config.provider] as Opener<KmsProvider>) : undefined;
  if (open === undefined)
    throw new KmsError('config', `unknown KMS provider ${String((config as { provider?: unknown }).provider)}`);
  return open(config, nodeId);
}

/** The PKCS#11 PIN from NODE_KMS_PKCS11_PIN, or from its file (which must not be group/world readable). */
export async function readPin(config: { pin: string | undefined; pinFile: string | undefined }): Promise<string> {
  if (config.pin !== undefined) return config.pin;
  if (config.pinFile === undefined)
    throw new KmsError('config', 'no PKCS#11 PIN: set NODE_KMS_PKCS11_PIN or NODE_KMS_PKCS11_PIN_FILE');
  const st = await stat(config.pinFile).catch(() => undefined);
  if (st === undefined || !st.isFile()) throw new KmsError('config', `PIN file ${config.pinFile} does not exist`);
  if (process.platform !== 'win32' && (st.mode & 0o077) !== 0)
    throw new KmsError('insecure-key-file', `PIN file ${config.pinFile} is readable by group or others; chmod 600 it`);
  const pin = (await readFile(config.pinFile, 'utf8')).replace(/\r?\n$/, '');
  if (pin.length === 0) throw new KmsError('config', `PIN file ${config.pinFile} is empty`);
  return pin;
}

export const retryPolicy = (attempts: number) => ({ ...DEFAULT_RETRY, attempts });
