/**
 * Opening a node's KMS from its configuration. Each cloud provider's module (and its SDK) is
 * loaded only when a node uses it, so a local node starts without loading any cloud SDK. There is
 * no fallback: if the configured provider cannot be opened, the node does not start.
 * @module
 */
import { readFile, stat } from 'node:fs/promises';
import type { KmsConfig } from '../config/config.js';
import { KmsError, type Kms } from './kms.js';
import { DEFAULT_RETRY } from './retry.js';

/** Open `nodeId`'s KMS as configured. */
export async function openKms(config: KmsConfig, nodeId: string): Promise<Kms> {
  switch (config.provider) {
    case 'local': {
      const { openLocalKms } = await import('./local.js');
      return openLocalKms({ root: config.root, nodeId });
    }
    case 'aws': {
      const { openAwsKms } = await import('./aws.js');
      return openAwsKms({
        keyId: config.keyId,
        region: config.region,
        retiredKeyIds: config.retiredKeyIds,
        retry: retryPolicy(config.retryAttempts),
        ...(config.endpoint === undefined ? {} : { endpoint: config.endpoint }),
      });
    }
    case 'azure': {
      const { openAzureKms } = await import('./azure.js');
      return openAzureKms({ keyId: config.keyId, retry: retryPolicy(config.retryAttempts) });
    }
    case 'ibm': {
      const { openIbmKms } = await import('./ibm.js');
      return openIbmKms({
        keyId: config.keyId,
        instanceId: config.instanceId,
        endpoint: config.endpoint,
        apiKey: config.apiKey,
        retiredKeyIds: config.retiredKeyIds,
        retry: retryPolicy(config.retryAttempts),
        ...(config.iamUrl === undefined ? {} : { iamUrl: config.iamUrl }),
      });
    }
    case 'pkcs11': {
      const { openPkcs11Kms } = await import('./pkcs11.js');
      return openPkcs11Kms({
        module: config.module,
        tokenLabel: config.tokenLabel,
        slot: config.slot,
        keyLabel: config.keyLabel,
        pin: await readPin(config),
      });
    }
    default: {
      const unknown: never = config;
      throw new KmsError('config', `unknown KMS provider ${String((unknown as { provider?: unknown }).provider)}`);
    }
  }
}

/** The PKCS#11 PIN from NODE_KMS_PKCS11_PIN, or from its file (which must not be group/world readable). */
export async function readPin(config: { pin: string | undefined; pinFile: string | undefined }): Promise<string> {
  if (config.pin !== undefined) return config.pin;
  if (config.pinFile === undefined) throw new KmsError('config', 'no PKCS#11 PIN: set NODE_KMS_PKCS11_PIN or NODE_KMS_PKCS11_PIN_FILE');
  const st = await stat(config.pinFile).catch(() => undefined);
  if (st === undefined || !st.isFile()) throw new KmsError('config', `PIN file ${config.pinFile} does not exist`);
  if (process.platform !== 'win32' && (st.mode & 0o077) !== 0) throw new KmsError('insecure-key-file', `PIN file ${config.pinFile} is readable by group or others; chmod 600 it`);
  const pin = (await readFile(config.pinFile, 'utf8')).replace(/\r?\n$/, '');
  if (pin.length === 0) throw new KmsError('config', `PIN file ${config.pinFile} is empty`);
  return pin;
}

export const retryPolicy = (attempts: number) => ({ ...DEFAULT_RETRY, attempts });
