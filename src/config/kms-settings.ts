/**
 * The KMS settings, declared once: for each provider of src/kms/, its variables (name, one line of
 * documentation, zod parser, whether a node using the provider needs it), the rules between them,
 * and the mapping from the parsed values to the provider's `KmsConfig`. The variable table
 * (schema.ts `VARIABLES`), the env schema, the "required because a node uses …" checks and
 * `parseConfig`'s per-node KMS entry are all derived from here; test/config/kms-settings.test.ts
 * checks that the README's KMS table lists exactly these variables. To add a provider: declare it
 * below, add it to `KMS_PROVIDER_SETTINGS`, and give src/kms/open.ts its opener.
 * @module
 */
import { z } from 'zod';
import { anyUrl, httpsUrl, integer, kmsName, list, path, secret, show } from './parsers.js';

/** KMS providers a node can keep its secrets under (src/kms/), in declaration order. */
export const KMS_PROVIDERS = ['local', 'aws', 'azure', 'ibm', 'pkcs11'] as const;
export type KmsProvider = (typeof KMS_PROVIDERS)[number];

/** One variable: its documentation line and its parser (string in, typed value or undefined out). */
export interface KmsSetting<S extends z.ZodType = z.ZodType> {
  readonly description: string;
  readonly schema: S;
  /** A node using the provider cannot start without it. */
  readonly required?: true;
}

type Settings = Readonly<Record<string, KmsSetting>>;
type Out<S extends Settings, K extends keyof S> = z.output<S[K]['schema']>;
/** Parsed values, as zod gives them: a variable that may be unset is an optional key. */
type Values<S extends Settings> = { readonly [K in keyof S as undefined extends Out<S, K> ? never : K]: Out<S, K> } & {
  readonly [K in keyof S as undefined extends Out<S, K> ? K : never]?: Out<S, K>;
};

/** Values from outside the KMS settings that providers read (the schema has parsed them). */
export interface SharedValues {
  readonly COORDINATOR_LOCAL_KMS_PATH: string;
  readonly NODE_AWS_REGION?: string | undefined;
  readonly NODE_IBM_REGION?: string | undefined;
  readonly NODE_KMS_RETRY_ATTEMPTS: number;
}

/** The node a KMS entry is made for, and how relative paths resolve. */
export interface KmsNode {
  readonly id: string;
  readonly at: (path: string) => string;
}

export type Issue = (variable: string, message: string) => void;

export interface KmsProviderSettings<P extends KmsProvider, S extends Settings, C extends { readonly provider: P }> {
  readonly provider: P;
  readonly variables: S;
  /** Variables declared elsewhere that a node using this provider also needs. */
  readonly alsoRequires?: readonly (keyof SharedValues)[];
  /** Rules between variables, beyond "required" (run only when a node uses the provider). */
  readonly check?: (v: Values<S> & SharedValues, issue: Issue) => void;
  /** The provider's entry of one node; secrets go in non-enumerable properties. */
  readonly config: (v: Values<S> & SharedValues, node: KmsNode) => C;
}

const declare = <P extends KmsProvider, S extends Settings, C extends { readonly provider: P }>(
  p: KmsProviderSettings<P, S, C>,
): KmsProviderSettings<P, S, C> => p;

/** A value with `{node}` replaced by the node id (one key per node from one shared env file). */
export const perNode = (value: string, id: string): string => value.replaceAll('{node}', id);

/** `entry` with a non-enumerable `name`, so logging or serialising it never prints the secret. */
export function withSecret<T extends object>(entry: T, name: string, value: string | undefined): T {
  Object.defineProperty(entry, name, { value, enumerable: false });
  return entry;
}

// ---------------------------------------------------------------------------------------------
// Settings of every provider

const kmsProvider = z
  .string()
  .transform((s) => s.toLowerCase())
  .pipe(
    z.enum(KMS_PROVIDERS, { error: (iss) => `must be one of ${KMS_PROVIDERS.join(', ')}, got ${show(iss.input)}` }),
  );

const COMMON_FIRST = {
  NODE_KMS_PROVIDERS: {
    description:
      "KMS of each node, in NODE_IDS order: local, aws, azure, ibm or pkcs11 (default: the platform's own — LOCAL local, AWS aws, AZURE azure, IBM ibm)",
    schema: list(kmsProvider).optional(),
  },
} as const satisfies Settings;

const COMMON_LAST = {
  NODE_KMS_RETRY_ATTEMPTS: {
    description: 'calls to a remote KMS before it is declared unavailable (1–20, default 4)',
    schema: integer(1, 20).default(4),
  },
} as const satisfies Settings;

// ---------------------------------------------------------------------------------------------
// The providers

/** The file-based KMS (src/kms/local.ts): its only setting is COORDINATOR_LOCAL_KMS_PATH, a product variable. */
export interface LocalKmsConfig {
  readonly provider: 'local';
  readonly root: string;
}

const LOCAL = declare({
  provider: 'local',
  variables: {},
  config: (v, node): LocalKmsConfig => ({ provider: 'local', root: node.at(v.COORDINATOR_LOCAL_KMS_PATH) }),
});

export interface AwsKmsConfig {
  readonly provider: 'aws';
  readonly keyId: string;
  /** keys replaced by a rotation, still trusted for unwrapping */
  readonly retiredKeyIds: readonly string[];
  readonly region: string;
  readonly endpoint: string | undefined;
  readonly retryAttempts: number;
}

const AWS = declare({
  provider: 'aws',
  variables: {
    NODE_KMS_AWS_KEY_ID: {
      description: 'AWS KMS key (ARN, id or alias/…) of the nodes using aws; {node} is replaced by the node id',
      schema: kmsName.optional(),
      required: true,
    },
    NODE_KMS_AWS_RETIRED_KEY_IDS: {
      description:
        'keys replaced by a rotation, comma-separated: their records still open until npm run kms:rewrap has moved them',
      schema: list(kmsName).optional(),
    },
    NODE_KMS_AWS_ENDPOINT: {
      description: "AWS KMS endpoint URL (default the region's public endpoint; e.g. a VPC endpoint)",
      schema: anyUrl.optional(),
    },
  },
  alsoRequires: ['NODE_AWS_REGION'],
  config: (v, node): AwsKmsConfig => ({
    provider: 'aws',
    keyId: perNode(v.NODE_KMS_AWS_KEY_ID!, node.id),
    retiredKeyIds: (v.NODE_KMS_AWS_RETIRED_KEY_IDS ?? []).map((k) => perNode(k, node.id)),
    region: v.NODE_AWS_REGION!,
    endpoint: v.NODE_KMS_AWS_ENDPOINT,
    retryAttempts: v.NODE_KMS_RETRY_ATTEMPTS,
  }),
});

export interface AzureKmsConfig {
  readonly provider: 'azure';
  readonly keyId: string;
  readonly retryAttempts: number;
}

const AZURE = declare({
  provider: 'azure',
  variables: {
    NODE_KMS_AZURE_KEY_ID: {
      description:
        'Key Vault RSA key URL https://<vault>.vault.azure.net/keys/<name>[/<version>] of the nodes using azure; {node} as above. Credentials: AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET or a managed identity',
      schema: httpsUrl.optional(),
      required: true,
    },
  },
  config: (v, node): AzureKmsConfig => ({
    provider: 'azure',
    keyId: perNode(v.NODE_KMS_AZURE_KEY_ID!, node.id),
    retryAttempts: v.NODE_KMS_RETRY_ATTEMPTS,
  }),
});

export interface IbmKmsConfig {
  readonly provider: 'ibm';
  readonly keyId: string;
  readonly retiredKeyIds: readonly string[];
  readonly instanceId: string;
  readonly endpoint: string;
  readonly iamUrl: string | undefined;
  /** secret, non-enumerable */
  readonly apiKey: string;
  readonly retryAttempts: number;
}

const IBM = declare({
  provider: 'ibm',
  variables: {
    NODE_KMS_IBM_INSTANCE_ID: {
      description: 'Key Protect instance GUID of the nodes using ibm',
      schema: kmsName.optional(),
      required: true,
    },
    NODE_KMS_IBM_KEY_ID: {
      description: 'Key Protect root key id of the nodes using ibm; {node} as above',
      schema: kmsName.optional(),
      required: true,
    },
    NODE_KMS_IBM_RETIRED_KEY_IDS: {
      description:
        'root keys replaced by a switch to a new one, comma-separated: their records still open until npm run kms:rewrap has moved them',
      schema: list(kmsName).optional(),
    },
    NODE_KMS_IBM_API_KEY: {
      description: 'IBM Cloud API key of the nodes using ibm (secret: better set in process.env)',
      schema: secret.optional(),
      required: true,
    },
    NODE_KMS_IBM_ENDPOINT: {
      description: 'Key Protect endpoint URL (default https://<NODE_IBM_REGION>.kms.cloud.ibm.com)',
      schema: anyUrl.optional(),
    },
    NODE_KMS_IBM_IAM_URL: { description: "IBM IAM token URL (default IBM Cloud's)", schema: anyUrl.optional() },
  },
  check: (v, issue) => {
    if (v.NODE_KMS_IBM_ENDPOINT === undefined && v.NODE_IBM_REGION === undefined)
      issue('NODE_KMS_IBM_ENDPOINT', 'required (or NODE_IBM_REGION) because a node uses the ibm KMS');
  },
  config: (v, node): IbmKmsConfig =>
    withSecret(
      {
        provider: 'ibm',
        keyId: perNode(v.NODE_KMS_IBM_KEY_ID!, node.id),
        retiredKeyIds: (v.NODE_KMS_IBM_RETIRED_KEY_IDS ?? []).map((k) => perNode(k, node.id)),
        instanceId: v.NODE_KMS_IBM_INSTANCE_ID!,
        endpoint: v.NODE_KMS_IBM_ENDPOINT ?? `https://${v.NODE_IBM_REGION}.kms.cloud.ibm.com`,
        iamUrl: v.NODE_KMS_IBM_IAM_URL,
        retryAttempts: v.NODE_KMS_RETRY_ATTEMPTS,
      } as unknown as IbmKmsConfig,
      'apiKey',
      v.NODE_KMS_IBM_API_KEY,
    ),
});

export interface Pkcs11KmsConfig {
  readonly provider: 'pkcs11';
  readonly module: string;
  readonly tokenLabel: string | undefined;
  readonly slot: number | undefined;
  readonly keyLabel: string;
  /** the PIN itself (secret, non-enumerable), or undefined when it is read from pinFile at open */
  readonly pin: string | undefined;
  readonly pinFile: string | undefined;
}

const PKCS11 = declare({
  provider: 'pkcs11',
  variables: {
    NODE_KMS_PKCS11_MODULE: {
      description: 'path of the PKCS#11 library of the nodes using pkcs11 (e.g. /usr/lib/softhsm/libsofthsm2.so)',
      schema: path.optional(),
      required: true,
    },
    NODE_KMS_PKCS11_TOKEN_LABEL: {
      description: 'label of the token holding the master key (or NODE_KMS_PKCS11_SLOT); {node} as above',
      schema: kmsName.optional(),
    },
    NODE_KMS_PKCS11_SLOT: {
      description: 'index of the slot holding the token, if no token label is given',
      schema: integer(0, 1 << 20).optional(),
    },
    NODE_KMS_PKCS11_KEY_LABEL: {
      description: 'label of the master key (AES-256, non-extractable; see npm run hsm-key); {node} as above',
      schema: kmsName.optional(),
      required: true,
    },
    NODE_KMS_PKCS11_PIN: {
      description: 'user PIN of the token (secret: better NODE_KMS_PKCS11_PIN_FILE or process.env)',
      schema: secret.optional(),
    },
    NODE_KMS_PKCS11_PIN_FILE: {
      description: 'file holding the user PIN (mode 0600), instead of NODE_KMS_PKCS11_PIN',
      schema: path.optional(),
    },
  },
  check: (v, issue) => {
    if ((v.NODE_KMS_PKCS11_TOKEN_LABEL === undefined) === (v.NODE_KMS_PKCS11_SLOT === undefined))
      issue('NODE_KMS_PKCS11_TOKEN_LABEL', 'set exactly one of NODE_KMS_PKCS11_TOKEN_LABEL and NODE_KMS_PKCS11_SLOT');
    if ((v.NODE_KMS_PKCS11_PIN === undefined) === (v.NODE_KMS_PKCS11_PIN_FILE === undefined))
      issue('NODE_KMS_PKCS11_PIN', 'set exactly one of NODE_KMS_PKCS11_PIN and NODE_KMS_PKCS11_PIN_FILE');
  },
  config: (v, node): Pkcs11KmsConfig =>
    withSecret(
      {
        provider: 'pkcs11',
        module: node.at(v.NODE_KMS_PKCS11_MODULE!),
        tokenLabel:
          v.NODE_KMS_PKCS11_TOKEN_LABEL === undefined ? undefined : perNode(v.NODE_KMS_PKCS11_TOKEN_LABEL, node.id),
        slot: v.NODE_KMS_PKCS11_SLOT,
        keyLabel: perNode(v.NODE_KMS_PKCS11_KEY_LABEL!, node.id),
        pinFile: v.NODE_KMS_PKCS11_PIN_FILE === undefined ? undefined : node.at(v.NODE_KMS_PKCS11_PIN_FILE),
      } as unknown as Pkcs11KmsConfig,
      'pin',
      v.NODE_KMS_PKCS11_PIN,
    ),
});

// ---------------------------------------------------------------------------------------------
// The registry, and what is derived from it

/** Every provider's settings, by provider name. */
export const KMS_PROVIDER_SETTINGS = { local: LOCAL, aws: AWS, azure: AZURE, ibm: IBM, pkcs11: PKCS11 } as const;

/**
 * Where a node keeps its master key (src/kms/open.ts opens it). `{node}` in key ids and labels is
 * already replaced by the node's id. Secrets (IBM API key, PKCS#11 PIN) are non-enumerable, so
 * logging or serialising a config never prints them.
 */
export type KmsConfig = ReturnType<(typeof KMS_PROVIDER_SETTINGS)[KmsProvider]['config']>;

/** Every KMS variable, in documentation order: the shared ones around each provider's own. */
export const KMS_VARIABLES = {
  ...COMMON_FIRST,
  ...AWS.variables,
  ...AZURE.variables,
  ...IBM.variables,
  ...PKCS11.variables,
  ...COMMON_LAST,
} as const satisfies Settings;

type KmsVariables = typeof KMS_VARIABLES;
export type KmsVariableName = keyof KmsVariables;

/** The variables' documentation lines, for schema.ts `VARIABLES`. */
export const KMS_DESCRIPTIONS = Object.fromEntries(
  Object.entries(KMS_VARIABLES).map(([k, s]) => [k, s.description]),
) as { readonly [K in KmsVariableName]: string };

/** The variables' parsers, for the env schema. */
export const KMS_SCHEMA = Object.fromEntries(Object.entries(KMS_VARIABLES).map(([k, s]) => [k, s.schema])) as {
  readonly [K in KmsVariableName]: KmsVariables[K]['schema'];
};

type KmsValues = Values<KmsVariables> & SharedValues;

/** The rules of the providers that `providers` (one per node) use. */
export function checkKmsSettings(v: KmsValues, providers: readonly (KmsProvider | undefined)[], issue: Issue): void {
  for (const name of KMS_PROVIDERS) {
    if (!providers.includes(name)) continue;
    const p: KmsProviderSettings<KmsProvider, Settings, KmsConfig> = KMS_PROVIDER_SETTINGS[name];
    const values = v as unknown as Record<string, unknown>;
    for (const [variable, setting] of Object.entries(p.variables))
      if (setting.required === true && values[variable] === undefined)
        issue(variable, `required because a node uses the ${name} KMS`);
    for (const variable of p.alsoRequires ?? [])
      if (values[variable] === undefined) issue(variable, `required because a node uses the ${name} KMS`);
    p.check?.(v as never, issue);
  }
}

/** The KMS entry of one node (checkKmsSettings has passed for its provider). */
export function kmsConfig(v: KmsValues, provider: KmsProvider, node: KmsNode): KmsConfig {
  const p = KMS_PROVIDER_SETTINGS[provider] as unknown as KmsProviderSettings<KmsProvider, Settings, KmsConfig>;
  return p.config(v as never, node);
}
