/**
 * The KMS settings registry (src/config/kms-settings.ts) is the one place a KMS variable is
 * declared: the variable table and the env schema take it from there, each provider's variables
 * carry its name, and the README's KMS table lists exactly the registered variables of each
 * provider (and the shared ones appear in its section).
 */
import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfig, VARIABLES } from '../../src/config/index.js';
import { KMS_PROVIDER_SETTINGS, KMS_PROVIDERS, KMS_VARIABLES } from '../../src/config/kms-settings.js';

const ROOT = join(import.meta.dirname, '..', '..', '..');
const SHARED = ['NODE_KMS_PROVIDERS', 'NODE_KMS_RETRY_ATTEMPTS'];

test("every provider is registered, and each variable once, under its provider's name", (t) => {
  t.deepEqual(Object.keys(KMS_PROVIDER_SETTINGS), [...KMS_PROVIDERS]);
  const own = KMS_PROVIDERS.flatMap((p) => Object.keys(KMS_PROVIDER_SETTINGS[p].variables));
  t.deepEqual(new Set(own).size, own.length, 'no variable belongs to two providers');
  t.deepEqual([...own, ...SHARED].sort(), Object.keys(KMS_VARIABLES).sort());
  for (const p of KMS_PROVIDERS)
    for (const v of Object.keys(KMS_PROVIDER_SETTINGS[p].variables))
      t.true(v.startsWith(`NODE_KMS_${p.toUpperCase()}_`), v);
});

test('the variable table and the schema take the KMS variables from the registry', (t) => {
  const known = VARIABLES as Readonly<Record<string, string>>;
  for (const [name, setting] of Object.entries(KMS_VARIABLES)) t.is(known[name], setting.description, name);
  t.deepEqual(
    Object.keys(VARIABLES).filter((k) => k.startsWith('NODE_KMS_')),
    Object.keys(KMS_VARIABLES),
    'no KMS variable is declared outside the registry',
  );
  // A registered parser is the one the schema runs: the message is the registry's.
  const base = {
    COORDINATOR_PLATFORM: 'LOCAL',
    NODE_IDS: 'a,b',
    NODE_HOSTS: '127.0.0.1:1,127.0.0.1:2',
    NODE_PLATFORMS: 'LOCAL,LOCAL',
    MPC_THRESHOLD: '2',
    MPC_TOTAL_SHARDS: '2',
  };
  t.notThrows(() => parseConfig(base));
  const e = t.throws(() => parseConfig({ ...base, NODE_KMS_PKCS11_SLOT: 'x' }));
  t.regex(e?.message ?? '', /NODE_KMS_PKCS11_SLOT: must be an integer/);
});

/** The backquoted NODE_KMS_* names in a piece of text. */
const kmsNames = (text: string): string[] => [...text.matchAll(/`(NODE_KMS_[A-Z0-9_]+)`/g)].map((m) => m[1]!);

test("the README's KMS table lists exactly each provider's registered variables", (t) => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf('## Key management');
  const section = readme.slice(start, readme.indexOf('\n## ', start + 1));
  t.true(start >= 0, 'README has a Key management section');
  for (const p of KMS_PROVIDERS) {
    const row = section.split('\n').find((line) => line.startsWith(`| \`${p}\` |`));
    if (row === undefined) {
      t.fail(`no row for ${p}`);
      continue;
    }
    const settings = row.split('|').at(-2) ?? '';
    t.deepEqual(
      [...new Set(kmsNames(settings))].sort(),
      Object.keys(KMS_PROVIDER_SETTINGS[p].variables).sort(),
      `${p} row`,
    );
  }
  for (const name of SHARED) t.true(section.includes(`\`${name}\``), `${name} is described in Key management`);
  for (const name of kmsNames(section)) t.true(name in KMS_VARIABLES, `${name}, named in the README, is registered`);
});
