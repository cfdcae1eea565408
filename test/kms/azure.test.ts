/**
 * The Azure Key Vault provider against loopback fakes of Entra ID and Key Vault (see
 * ../helpers/kms/azure-server.ts), through the real @azure/keyvault-keys SDK and a real
 * ClientSecretCredential: the bearer challenge and token flow, the blob and its context binding,
 * rotation, key checks at open, and bounded retries with their error codes.
 */
import test, { type ExecutionContext } from 'ava';
import { createHash, randomBytes } from 'node:crypto';
import { KmsError, encodeContext } from '../../src/kms/kms.js';
import { openAzureKms, type AzureKms, type AzureKmsOptions } from '../../src/kms/azure.js';
import type { RetryPolicy } from '../../src/kms/retry.js';
import { FakeAzure, VAULT_HOST } from '../helpers/kms/azure-server.js';
import { kmsConformance } from '../helpers/kms-conformance.js';

const ctx = { node: 'node_1', kind: 'keyshare', id: 'wallet-1' };
const RETRY: RetryPolicy = { attempts: 3, baseDelayMs: 5, maxDelayMs: 20 };

/** A fresh pair of fakes with key `node-1`, closed when the test ends. */
async function setup(
  t: ExecutionContext,
): Promise<{ fake: FakeAzure; open: (o?: Partial<AzureKmsOptions>) => Promise<AzureKms> }> {
  const fake = await FakeAzure.start();
  t.teardown(() => fake.close());
  await fake.vault.createKey('node-1');
  const credential = fake.credential();
  const open = (o: Partial<AzureKmsOptions> = {}): Promise<AzureKms> =>
    openAzureKms({
      keyId: fake.vault.keyUrl('node-1'),
      credential,
      agent: fake.agent,
      retry: RETRY,
      timeoutMs: 2_000,
      ...o,
    });
  return { fake, open };
}

async function code(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
    return undefined;
  } catch (e) {
    return e instanceof KmsError ? e.code : `not a KmsError: ${String(e)}`;
  }
}

/** A blob in the provider's format, for hand-made cases. */
function blob(kid: string, wrapped: Uint8Array): Uint8Array {
  const k = Buffer.from(kid, 'latin1');
  const h = Buffer.alloc(6);
  h.write('AZ', 0, 'latin1');
  h[2] = 1;
  h[3] = 1;
  h.writeUInt16BE(k.length, 4);
  const l = Buffer.alloc(2);
  l.writeUInt16BE(wrapped.length);
  return Buffer.concat([h, k, l, wrapped]);
}

test('the bearer challenge is answered with a token the client secret obtained; wrap and unwrap run in the vault', async (t) => {
  const { fake, open } = await setup(t);
  const kms = await open();
  t.regex(
    kms.keyId,
    new RegExp(`^https://${VAULT_HOST.replaceAll('.', '\\.')}:\\d+/keys/node-1/[0-9a-f]{32}$`),
    'the full versioned kid',
  );
  t.true(fake.vault.log.challenges >= 1, 'the first request went without a token and was challenged');
  t.deepEqual(
    fake.entra.log.issued,
    [{ clientId: fake.entra.clientId, scope: 'https://vault.azure.net/.default' }],
    'one token, for the vault scope the challenge named',
  );
  t.is(fake.entra.log.refused, 0);
  t.is(fake.vault.log.badTokens, 0);

  const dataKey = randomBytes(32);
  const wrapped = await kms.wrapKey(dataKey, ctx);
  t.deepEqual(fake.vault.log.wraps, [kms.keyId], 'RSA-OAEP-256 wrapping is a vault call');
  const b = Buffer.from(wrapped);
  t.is(b.toString('latin1', 0, 2), 'AZ');
  t.is(b[2], 1, 'version');
  t.is(b[3], 1, 'RSA-OAEP-256');
  t.is(b.toString('latin1', 6, 6 + b.readUInt16BE(4)), kms.keyId);
  t.is(b.length, 6 + kms.keyId.length + 2 + 256, 'an RSA-2048 wrapped key');
  t.is(kms.keyIdOf(wrapped), kms.keyId);
  t.deepEqual(Buffer.from(await kms.unwrapKey(wrapped, ctx)), dataKey);
  t.deepEqual(fake.vault.log.unwraps, [kms.keyId]);
  t.is(fake.entra.log.issued.length, 1, 'the token is reused');
});

test('a wrong client secret gives denied, without retries and without reaching a key', async (t) => {
  const { fake, open } = await setup(t);
  fake.entra.rotateSecret(); // the credential's secret is now the wrong one
  t.is(await code(open()), 'denied');
  t.is(fake.entra.log.refused, 1, 'refused once, not retried');
  t.deepEqual(fake.entra.log.issued, []);
  t.deepEqual(fake.vault.log.gets, []);
});

test('a vault refusing the identity gives denied; an unknown key gives unknown-key', async (t) => {
  const { fake, open } = await setup(t);
  const kms = await open();
  const wrapped = await kms.wrapKey(randomBytes(32), ctx);
  fake.vault.forbidden = true;
  t.is(await code(kms.unwrapKey(wrapped, ctx)), 'denied');
  t.is(await code(open()), 'denied');
  fake.vault.forbidden = false;
  t.is(await code(open({ keyId: fake.vault.keyUrl('no-such-key') })), 'unknown-key');
  t.is(await code(open({ keyId: `${fake.vault.keyUrl('node-1')}/${'0'.repeat(32)}` })), 'unknown-key');
});

test('rotation: blobs under version 1 still unwrap after version 2 exists; new wraps use the version resolved at open', async (t) => {
  const { fake, open } = await setup(t);
  const v1 = await open();
  const dk1 = randomBytes(32);
  const blob1 = await v1.wrapKey(dk1, ctx);

  const v2kid = await fake.vault.rotateKey('node-1');
  const v2 = await open();
  t.is(v2.keyId, v2kid, 'a versionless key id resolves to the current version');
  t.not(v2.keyId, v1.keyId);
  t.is(v2.keyIdOf(blob1), v1.keyId, 'the old blob names its own version');
  t.deepEqual(Buffer.from(await v2.unwrapKey(blob1, ctx)), dk1);
  t.is(fake.vault.log.unwraps.at(-1), v1.keyId, 'unwrapped by version 1 in the vault');

  const dk2 = randomBytes(32);
  const blob2 = await v2.wrapKey(dk2, ctx);
  t.is(v2.keyIdOf(blob2), v2kid);
  t.is(
    v1.keyIdOf(await v1.wrapKey(randomBytes(32), ctx)),
    v1.keyId,
    'an instance opened before the rotation keeps its version',
  );
  t.deepEqual(Buffer.from(await v1.unwrapKey(blob2, ctx)), dk2, 'and unwraps blobs of the newer version');
  const pinned = await open({ keyId: v1.keyId });
  t.is(pinned.keyId, v1.keyId, 'a versioned key id is used as given');

  // Version 1 expires: no new wraps under it, but what it wrapped still unwraps.
  fake.vault.setExpiry(v1.keyId, new Date(Date.now() - 1_000));
  t.is(await code(open({ keyId: v1.keyId })), 'config');
  t.deepEqual(Buffer.from(await (await open()).unwrapKey(blob1, ctx)), dk1);
});

test('a key that cannot wrap and unwrap, is disabled or is not RSA is refused at open (config)', async (t) => {
  const { fake, open } = await setup(t);
  await fake.vault.createKey('sign-only', { ops: ['sign', 'verify'] });
  await fake.vault.createKey('wrap-only', { ops: ['wrapKey'] });
  await fake.vault.createKey('disabled', { enabled: false });
  await fake.vault.createKey('ec', { kty: 'EC' });
  for (const name of ['sign-only', 'wrap-only', 'disabled', 'ec']) {
    t.is(await code(open({ keyId: fake.vault.keyUrl(name) })), 'config', name);
  }
  const kms = await open();
  const wrapped = await kms.wrapKey(randomBytes(32), ctx);
  fake.vault.setEnabled('node-1', false);
  t.is(await code(open()), 'config', 'disabled after the first open');
  t.is(await code(kms.unwrapKey(wrapped, ctx)), 'unknown-key', 'a disabled key cannot unwrap');
  t.deepEqual(fake.vault.log.wraps, [kms.keyId]);
});

test('key ids that are not a Key Vault key URL are refused without a call', async (t) => {
  const { fake, open } = await setup(t);
  const base = fake.vault.keyUrl('node-1');
  for (const keyId of [
    base.replace('https:', 'http:'),
    base.replace('/keys/', '/secrets/'),
    `${base}?x=1`,
    `${base}/v1/extra`,
    `${base}/`,
    'node-1',
    `${base.replace('node-1', 'bad_name')}`,
  ]) {
    t.is(await code(open({ keyId })), 'config', keyId);
  }
  t.is(fake.vault.faults.requests, 0);
});

test('throttled twice, then the call succeeds', async (t) => {
  const { fake, open } = await setup(t);
  const kms = await open();
  const dataKey = randomBytes(32);
  const wrapped = await kms.wrapKey(dataKey, ctx); // the pipeline's challenge is done
  const before = fake.vault.faults.requests;
  fake.vault.faults.failNext(2, 429, 1);
  t.deepEqual(Buffer.from(await kms.unwrapKey(wrapped, ctx)), dataKey);
  t.is(fake.vault.faults.requests - before, 3);
  fake.vault.faults.resetNext(1);
  t.deepEqual(Buffer.from(await kms.unwrapKey(wrapped, ctx)), dataKey, 'a dropped connection is retried too');
});

test('a vault answering 503 every time gives unavailable after exactly the configured attempts', async (t) => {
  const { fake, open } = await setup(t);
  const kms = await open({ retry: { attempts: 4, baseDelayMs: 1, maxDelayMs: 5 } });
  const wrapped = await kms.wrapKey(randomBytes(32), ctx);
  fake.vault.faults.failAlways(503);
  let before = fake.vault.faults.requests;
  const e = await t.throwsAsync(kms.unwrapKey(wrapped, ctx), { instanceOf: KmsError });
  t.is(e?.code, 'unavailable');
  t.regex(e?.message ?? '', /after 4 attempts/);
  t.is(fake.vault.faults.requests - before, 4, 'no retries of the SDK on top of ours');
  before = fake.vault.faults.requests;
  t.is(await code(kms.wrapKey(randomBytes(32), ctx)), 'unavailable');
  t.is(fake.vault.faults.requests - before, 4);
});

test('a vault that is down or hangs, or a token endpoint that is down, gives unavailable quickly', async (t) => {
  const { fake, open } = await setup(t);
  await open(); // the shared credential holds its token now
  const kms = await open({ timeoutMs: 1_000, retry: { attempts: 2, baseDelayMs: 1, maxDelayMs: 5 } });
  const wrapped = await kms.wrapKey(randomBytes(32), ctx);

  fake.vault.faults.hang = true;
  const before = fake.vault.faults.requests;
  let t0 = Date.now();
  t.is(await code(kms.unwrapKey(wrapped, ctx)), 'unavailable', 'hung');
  const hung = Date.now() - t0;
  t.true(hung >= 1_990 && hung < 8_000, `${hung} ms for two attempts of 1 s`);
  t.is(fake.vault.faults.requests - before, 2);
  fake.vault.faults.clear();

  await fake.entra.close();
  t0 = Date.now();
  t.is(
    await code(
      openAzureKms({
        keyId: fake.vault.keyUrl('node-1'),
        credential: fake.credential(),
        agent: fake.agent,
        retry: RETRY,
        timeoutMs: 2_000,
      }),
    ),
    'unavailable',
    'token endpoint down',
  );
  t.true(Date.now() - t0 < 5_000, `${Date.now() - t0} ms`);

  await fake.vault.close();
  t0 = Date.now();
  t.is(await code(kms.unwrapKey(wrapped, ctx)), 'unavailable', 'vault down');
  t.is(await code(kms.wrapKey(randomBytes(32), ctx)), 'unavailable');
  t.is(await code(open()), 'unavailable');
  t.true(Date.now() - t0 < 5_000, `${Date.now() - t0} ms`);
});

test('another context is caught by the hash binding although the vault unwraps the key', async (t) => {
  const { fake, open } = await setup(t);
  const kms = await open();
  const wrapped = await kms.wrapKey(randomBytes(32), ctx);
  const e = await t.throwsAsync(kms.unwrapKey(wrapped, { ...ctx, id: 'wallet-2' }), { instanceOf: KmsError });
  t.is(e?.code, 'unwrap-failed');
  t.deepEqual(fake.vault.log.unwraps, [kms.keyId], 'the vault did unwrap');
  t.is(fake.vault.log.failedUnwraps, 0);

  // An unbound wrap (the data key alone, or bound without the domain tag and header) never opens.
  const version = kms.keyId.split('/').at(-1)!;
  const bare = randomBytes(32);
  t.is(
    await code(kms.unwrapKey(blob(kms.keyId, fake.vault.publicEncrypt('node-1', version, bare)), ctx)),
    'unwrap-failed',
  );
  const naive = Buffer.concat([bare, createHash('sha256').update(encodeContext(ctx)).digest()]);
  t.is(
    await code(kms.unwrapKey(blob(kms.keyId, fake.vault.publicEncrypt('node-1', version, naive)), ctx)),
    'unwrap-failed',
  );
  t.is(fake.vault.log.unwraps.length, 3);
});

test('a blob naming another vault or another key is refused without sending it anywhere', async (t) => {
  const { fake, open } = await setup(t);
  await fake.vault.createKey('node-2');
  const kms = await open();
  const wrapped = Buffer.from(await kms.wrapKey(randomBytes(32), ctx));
  const inner = wrapped.subarray(wrapped.length - 256);
  const version = kms.keyId.split('/').at(-1)!;
  const before = fake.vault.faults.requests;
  for (const kid of [
    kms.keyId.replace(VAULT_HOST, 'attacker.vault.azure.net'),
    kms.keyId.replace('/node-1/', '/node-2/'),
    `https://evil.example/keys/node-1/${version}`,
  ]) {
    const b = blob(kid, inner);
    t.is(kms.keyIdOf(b), kid);
    t.is(await code(kms.unwrapKey(b, ctx)), 'unknown-key', kid);
  }
  t.is(fake.vault.faults.requests, before);
  for (const bad of [
    blob(kms.keyId.replace('https:', 'http:'), inner),
    blob(`${kms.keyId}/`, inner),
    blob(kms.keyId.toUpperCase(), inner),
    blob(kms.keyId, inner.subarray(1)),
  ]) {
    t.throws(() => kms.keyIdOf(bad), { instanceOf: KmsError, message: /Azure-KMS/ });
  }
});

test('data keys of 16 to 64 bytes only; closed means closed', async (t) => {
  const { open } = await setup(t);
  const kms = await open();
  await t.throwsAsync(kms.wrapKey(randomBytes(15), ctx), { instanceOf: RangeError });
  await t.throwsAsync(kms.wrapKey(randomBytes(65), ctx), { instanceOf: RangeError });
  const dk = randomBytes(64);
  const wrapped = await kms.wrapKey(dk, ctx);
  t.deepEqual(Buffer.from(await kms.unwrapKey(wrapped, ctx)), dk);
  await kms.close();
  t.is(await code(kms.unwrapKey(wrapped, ctx)), 'closed');
  t.is(await code(kms.wrapKey(dk, ctx)), 'closed');
});

let shared: Promise<FakeAzure> | undefined;
test.after.always(async () => {
  if (shared !== undefined) await (await shared).close();
});

kmsConformance(test, 'azure', async () => {
  shared ??= FakeAzure.start().then(async (f) => {
    await f.vault.createKey('node-1');
    await f.vault.createKey('node-2');
    return f;
  });
  const fake = await shared;
  const open = (name: string): Promise<AzureKms> =>
    openAzureKms({
      keyId: fake.vault.keyUrl(name),
      credential: fake.credential(),
      agent: fake.agent,
      retry: RETRY,
      timeoutMs: 5_000,
    });
  return { kms: await open('node-1'), other: await open('node-2') };
});
