import test, { type ExecutionContext } from 'ava';
import { randomBytes, randomUUID } from 'node:crypto';
import { inspect } from 'node:util';
import { encodeContext, KmsError, type Kms, type KmsErrorCode } from '../../src/kms/kms.js';
import { ibmContextAad, openIbmKms, type IbmKmsOptions } from '../../src/kms/ibm.js';
import { kmsConformance } from '../helpers/kms-conformance.js';
import { FakeIbmCloud } from '../helpers/kms/ibm-server.js';

const ctx = { node: 'node_1', kind: 'keyshare', id: 'wallet-1' };
const FAST = { attempts: 3, baseDelayMs: 5, maxDelayMs: 20 };
const WRONG_API_KEY = `kp-${'7'.repeat(48)}`;
const KEY_ACTION_TYPE = 'application/vnd.ibm.kms.key_action+json';

/** Every error the providers threw in this file, with the fake whose secrets it must not hold. */
const thrown: { error: unknown; fake: FakeIbmCloud }[] = [];

function optionsFor(fake: FakeIbmCloud, keyId: string, extra: Partial<IbmKmsOptions> = {}): IbmKmsOptions {
  return {
    keyId,
    instanceId: fake.instanceId,
    endpoint: fake.endpoint,
    apiKey: fake.apiKey,
    iamUrl: fake.iamUrl,
    retry: FAST,
    timeoutMs: 2_000,
    ...extra,
  };
}

async function setup(t: ExecutionContext): Promise<{ fake: FakeIbmCloud; keyId: string; options: IbmKmsOptions }> {
  const fake = await FakeIbmCloud.start();
  t.teardown(() => fake.close());
  const keyId = fake.addKey();
  return { fake, keyId, options: optionsFor(fake, keyId) };
}

/** All the text an error could show: message, stack, and every property down the cause chain. */
function errorText(e: unknown): string {
  return [
    String(e),
    e instanceof Error ? (e.stack ?? '') : '',
    inspect(e, { depth: Infinity, showHidden: true }),
    JSON.stringify(e) ?? '',
  ].join('\n');
}

function assertNoSecrets(t: ExecutionContext, fake: FakeIbmCloud, e: unknown): void {
  const text = errorText(e);
  t.false(text.includes(fake.apiKey), 'the API key appears in an error');
  t.false(text.includes(WRONG_API_KEY), 'the rejected API key appears in an error');
  for (const token of fake.issuedTokens) t.false(text.includes(token), 'an IAM token appears in an error');
}

async function expectError(
  t: ExecutionContext,
  fake: FakeIbmCloud,
  p: Promise<unknown>,
  code: KmsErrorCode,
): Promise<KmsError> {
  const e = await t.throwsAsync(p, { instanceOf: KmsError });
  thrown.push({ error: e, fake });
  t.is(e?.code, code, e?.message);
  assertNoSecrets(t, fake, e);
  return e;
}

/** The provider, with every error it throws recorded for the secrets check. */
function watched(kms: Kms, fake: FakeIbmCloud): Kms {
  const record = async <T>(p: Promise<T>): Promise<T> => {
    try {
      return await p;
    } catch (e) {
      thrown.push({ error: e, fake });
      throw e;
    }
  };
  return {
    name: kms.name,
    keyId: kms.keyId,
    wrapKey: (k, c) => record(kms.wrapKey(k, c)),
    unwrapKey: (w, c) => record(kms.unwrapKey(w, c)),
    keyIdOf: (w) => {
      try {
        return kms.keyIdOf(w);
      } catch (e) {
        thrown.push({ error: e, fake });
        throw e;
      }
    },
    close: () => kms.close(),
  };
}

/** Our blob: "IK" | 1 | instance | key | key version (u8 length + ASCII each) | u16 length | ciphertext. */
function parseBlob(blob: Uint8Array): { instanceId: string; keyId: string; version: string; ciphertext: Buffer } {
  const b = Buffer.from(blob);
  let at = 3;
  const s = (): string => {
    const n = b[at]!;
    const v = b.toString('latin1', at + 1, at + 1 + n);
    at += 1 + n;
    return v;
  };
  const instanceId = s();
  const keyId = s();
  const version = s();
  const n = b.readUInt16BE(at);
  return { instanceId, keyId, version, ciphertext: b.subarray(at + 2, at + 2 + n) };
}

let shared: Promise<FakeIbmCloud> | undefined;
test.after.always(async () => {
  if (shared !== undefined) await (await shared).close();
});

kmsConformance(test, 'ibm', async () => {
  const fake = await (shared ??= FakeIbmCloud.start());
  const kms = await openIbmKms(optionsFor(fake, fake.addKey()));
  const other = await openIbmKms(optionsFor(fake, fake.addKey()));
  return { kms: watched(kms, fake), other: watched(other, fake) };
});

test('the API key is exchanged at IAM once; Key Protect gets the token, the instance, the key-action type and the context as AAD', async (t) => {
  const { fake, keyId, options } = await setup(t);
  const kms = await openIbmKms(options);
  t.is(kms.name, 'ibm');
  t.is(kms.keyId, `${fake.instanceId}/${keyId}`);
  t.is(fake.count('iam', 'POST /identity/token'), 1);
  t.is(fake.count('kp', `GET /api/v2/keys/${keyId}/metadata`), 1);

  const dataKey = randomBytes(32);
  const wrapped = await kms.wrapKey(dataKey, ctx);
  t.deepEqual(Buffer.from(await kms.unwrapKey(wrapped, ctx)), dataKey);
  t.is(fake.count('iam'), 1, 'the token is reused while valid');
  t.is(fake.count('kp', `POST /api/v2/keys/${keyId}/actions/wrap`), 1);
  t.is(fake.count('kp', `POST /api/v2/keys/${keyId}/actions/unwrap`), 1);
  t.is(fake.rejectedTokens, 0);
  t.deepEqual(
    fake.actions.map((a) => a.action),
    ['wrap', 'unwrap'],
  );
  t.is(fake.issuedTokens.length, 1);
  for (const a of fake.actions) {
    t.is(a.token, fake.issuedTokens[0]!);
    t.is(a.instanceId, fake.instanceId);
    t.is(a.contentType, KEY_ACTION_TYPE);
    t.deepEqual(a.aad, ibmContextAad(ctx));
  }
  // One AAD string for a usual context: base64 of the canonical encoding.
  t.deepEqual(ibmContextAad(ctx), [Buffer.from(encodeContext(ctx)).toString('base64')]);

  // The blob names instance, key and the key version Key Protect reported.
  const b = parseBlob(wrapped);
  t.is(Buffer.from(wrapped).toString('latin1', 0, 2), 'IK');
  t.is(wrapped[2], 1);
  t.is(b.instanceId, fake.instanceId);
  t.is(b.keyId, keyId);
  t.is(b.version, fake.key(keyId).versions[0]!.id);
  t.is(kms.keyIdOf(wrapped), kms.keyId);
  await kms.close();
});

test('a wrong API key is denied at IAM, without retries', async (t) => {
  const { fake, options } = await setup(t);
  const e = await expectError(t, fake, openIbmKms({ ...options, apiKey: WRONG_API_KEY }), 'denied');
  t.regex(e.message, /IAM answered HTTP 400/);
  t.is(fake.count('iam'), 1, 'a refused API key is not retried');
  t.is(fake.count('kp'), 0);
});

test('tokens Key Protect refuses even when fresh: denied after one renewal', async (t) => {
  const { fake, options } = await setup(t);
  fake.tokenTtlSeconds = 0; // every token is already expired for Key Protect
  const e = await expectError(t, fake, openIbmKms(options), 'denied');
  t.regex(e.message, /Key Protect answered HTTP 401 UNAUTHORIZED_ERR/);
  t.is(fake.count('kp'), 2, 'one renewal, then denied');
  t.is(fake.count('iam'), 2);
});

test('an expiring token is renewed by the authenticator before use: Key Protect never sees an expired one', async (t) => {
  const { fake, options } = await setup(t);
  fake.tokenTtlSeconds = 10; // inside the SDK's 10 s expiry window: it renews before every call
  const kms = await openIbmKms(options);
  const dataKey = randomBytes(32);
  const wrapped = await kms.wrapKey(dataKey, ctx);
  fake.expireTokens(); // every token issued so far is now refused
  t.deepEqual(Buffer.from(await kms.unwrapKey(wrapped, ctx)), dataKey);
  t.is(fake.rejectedTokens, 0);
  t.is(fake.count('iam'), 3, 'a token for open, wrap and unwrap each');
  const [w, u] = fake.actions;
  t.not(w!.token, u!.token);
  t.is(u!.token, fake.issuedTokens[2]!);
});

test('a token revoked before its expiry: one 401, a fresh token, and the call succeeds', async (t) => {
  const { fake, options } = await setup(t);
  const kms = await openIbmKms(options);
  const dataKey = randomBytes(32);
  const wrapped = await kms.wrapKey(dataKey, ctx);
  fake.expireTokens();
  t.deepEqual(Buffer.from(await kms.unwrapKey(wrapped, ctx)), dataKey);
  t.is(fake.rejectedTokens, 1);
  t.is(fake.count('iam'), 2);
  t.is(fake.count('kp', '/actions/unwrap'), 2);
  // and the new token is kept
  await kms.wrapKey(dataKey, ctx);
  t.is(fake.count('iam'), 2);
});

test('open refuses a key that is not an active root key, a missing key, or one of another instance (config)', async (t) => {
  const { fake } = await setup(t);
  const cases: [string, string, RegExp][] = [
    ['suspended', fake.addKey({ state: 'suspended' }), /not active \(suspended\)/],
    ['deactivated', fake.addKey({ state: 'deactivated' }), /not active \(deactivated\)/],
    ['destroyed', fake.addKey({ state: 'destroyed' }), /not active \(destroyed\)/],
    ['standard key', fake.addKey({ extractable: true }), /standard key, not a root key/],
    ['missing', randomUUID(), /KEY_NOT_FOUND_ERR/],
    ['other instance', fake.addKey({ instanceId: randomUUID() }), /KEY_NOT_FOUND_ERR/],
  ];
  for (const [label, id, why] of cases) {
    const e = await expectError(t, fake, openIbmKms(optionsFor(fake, id)), 'config');
    t.regex(e.message, why, label);
  }
  t.is(fake.count('iam'), cases.length, 'nothing retried');
  t.is(fake.count('kp'), cases.length);
});

test('a key suspended, deactivated or destroyed after open: unknown-key, not retried; a deactivated key still unwraps', async (t) => {
  const { fake, keyId, options } = await setup(t);
  const kms = await openIbmKms(options);
  const dataKey = randomBytes(32);
  const wrapped = await kms.wrapKey(dataKey, ctx);
  fake.setState(keyId, 'suspended');
  await expectError(t, fake, kms.wrapKey(dataKey, ctx), 'unknown-key');
  await expectError(t, fake, kms.unwrapKey(wrapped, ctx), 'unknown-key');
  fake.setState(keyId, 'deactivated');
  await expectError(t, fake, kms.wrapKey(dataKey, ctx), 'unknown-key');
  t.deepEqual(Buffer.from(await kms.unwrapKey(wrapped, ctx)), dataKey);
  fake.setState(keyId, 'destroyed');
  const e = await expectError(t, fake, kms.unwrapKey(wrapped, ctx), 'unknown-key');
  t.regex(e.message, /KEY_DELETED_ERR/);
  t.is(fake.count('kp', '/actions/'), 6, 'one request each');
});

test('rotation: a blob from version 1 unwraps after rotate, reporting version 1; new blobs name version 2', async (t) => {
  const { fake, keyId, options } = await setup(t);
  const kms = await openIbmKms(options);
  const v1 = fake.key(keyId).versions[0]!.id;
  const k1 = randomBytes(32);
  const old = await kms.wrapKey(k1, ctx);
  const v2 = fake.rotate(keyId);
  const k2 = randomBytes(32);
  const fresh = await kms.wrapKey(k2, ctx);
  t.is(parseBlob(old).version, v1);
  t.is(parseBlob(fresh).version, v2);
  t.is(kms.keyIdOf(old), kms.keyId, 'a rotated root key keeps its id: nothing to re-wrap');
  t.is(kms.keyIdOf(fresh), kms.keyId);
  t.deepEqual(Buffer.from(await kms.unwrapKey(old, ctx)), k1);
  t.deepEqual(Buffer.from(await kms.unwrapKey(fresh, ctx)), k2);
  // A blob whose recorded version was edited is refused: Key Protect reports the ciphertext's own.
  const edited = Buffer.from(old);
  const at = edited.indexOf(Buffer.from(v1, 'latin1'));
  edited.write(v2, at, 'latin1');
  const e = await expectError(t, fake, kms.unwrapKey(edited, ctx), 'unwrap-failed');
  t.regex(e.message, /reports key version/);
});

test('another context: unwrap-failed, not retried, and Key Protect saw another AAD', async (t) => {
  const { fake, options } = await setup(t);
  const kms = await openIbmKms(options);
  const wrapped = await kms.wrapKey(randomBytes(32), ctx);
  const moved = { ...ctx, id: 'wallet-2' };
  const e = await expectError(t, fake, kms.unwrapKey(wrapped, moved), 'unwrap-failed');
  t.regex(e.message, /HTTP 422 UNPROCESSABLE_CIPHERTEXT_ERR/);
  const [w, u] = fake.actions;
  t.deepEqual(w!.aad, ibmContextAad(ctx));
  t.deepEqual(u!.aad, ibmContextAad(moved));
  t.notDeepEqual(w!.aad, u!.aad);
  t.is(fake.count('kp', '/actions/unwrap'), 1);
});

test('a large context is cut into AAD strings of at most 255 characters, all bound', async (t) => {
  const { fake, options } = await setup(t);
  const kms = await openIbmKms(options);
  const big = Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`k${i}`, 'v'.repeat(256)]));
  const aad = ibmContextAad(big);
  t.true(aad.length > 1);
  t.true(aad.every((s) => s.length > 0 && s.length <= 255));
  t.deepEqual(Buffer.from(aad.join(''), 'base64'), Buffer.from(encodeContext(big)));
  const dataKey = randomBytes(32);
  const wrapped = await kms.wrapKey(dataKey, big);
  t.deepEqual(fake.actions[0]!.aad, aad);
  t.deepEqual(Buffer.from(await kms.unwrapKey(wrapped, big)), dataKey);
  await expectError(t, fake, kms.unwrapKey(wrapped, { ...big, k15: `${'v'.repeat(255)}w` }), 'unwrap-failed');
});

test('throttled twice, then success; IAM and Key Protect faults at open are retried too', async (t) => {
  const { fake, options } = await setup(t);
  fake.inject('iam', 'throttle', 1);
  fake.inject('kp', 'unavailable', 1);
  const kms = await openIbmKms(options);
  t.is(fake.count('iam'), 2);
  t.is(fake.count('kp', '/metadata'), 2);
  fake.inject('kp', 'throttle', 2);
  const dataKey = randomBytes(32);
  const wrapped = await kms.wrapKey(dataKey, ctx);
  t.is(fake.count('kp', '/actions/wrap'), 3);
  fake.inject('kp', 'reset', 2);
  t.deepEqual(Buffer.from(await kms.unwrapKey(wrapped, ctx)), dataKey);
  t.is(fake.count('kp', '/actions/unwrap'), 3, 'destroyed sockets are retried');
});

test('always 503: unavailable after exactly `attempts` requests', async (t) => {
  const { fake, options } = await setup(t);
  const kms = await openIbmKms(options);
  fake.inject('kp', 'unavailable', Infinity);
  const e = await expectError(t, fake, kms.wrapKey(randomBytes(32), ctx), 'unavailable');
  t.is(fake.count('kp', '/actions/wrap'), FAST.attempts);
  t.regex(e.message, new RegExp(`after ${FAST.attempts} attempts`));
  t.regex(e.message, /HTTP 503/);
});

test('service down: unavailable quickly, for Key Protect after open and for IAM at open', async (t) => {
  const { fake, options } = await setup(t);
  const kms = await openIbmKms(options);
  await fake.stop('kp');
  let start = Date.now();
  const e = await expectError(t, fake, kms.wrapKey(randomBytes(32), ctx), 'unavailable');
  t.true(Date.now() - start < 5_000, `${Date.now() - start} ms`);
  t.regex(e.message, /ECONNREFUSED|ECONNRESET/);
  await fake.stop('iam');
  start = Date.now();
  await expectError(t, fake, openIbmKms(options), 'unavailable');
  t.true(Date.now() - start < 5_000, `${Date.now() - start} ms`);
});

test('hung service: unavailable within attempts × timeout', async (t) => {
  const { fake, options } = await setup(t);
  // 1 s per attempt: long enough that a loaded machine still opens the key in time, far below
  // the defaults (4 attempts × 10 s), so the bounds below show the options are what applies.
  const quick = { ...options, timeoutMs: 1_000, retry: { attempts: 2, baseDelayMs: 5, maxDelayMs: 10 } };
  const kms = await openIbmKms(quick);
  fake.inject('kp', 'hang', Infinity);
  let start = Date.now();
  await expectError(t, fake, kms.wrapKey(randomBytes(32), ctx), 'unavailable');
  let elapsed = Date.now() - start;
  t.true(elapsed >= 1_900 && elapsed < 8_000, `${elapsed} ms`);
  t.is(fake.count('kp', '/actions/wrap'), 2);
  fake.clearFaults();
  fake.inject('iam', 'hang', Infinity);
  start = Date.now();
  await expectError(t, fake, openIbmKms(quick), 'unavailable');
  elapsed = Date.now() - start;
  t.true(elapsed >= 1_900 && elapsed < 8_000, `${elapsed} ms`);
  fake.clearFaults();
});

test('blobs: keyIdOf works offline; a blob under another key is refused without a request; junk is malformed', async (t) => {
  const { fake, options } = await setup(t);
  const kms = await openIbmKms(options);
  const other = await openIbmKms(optionsFor(fake, fake.addKey()));
  const wrapped = await kms.wrapKey(randomBytes(32), ctx);
  t.is(other.keyIdOf(wrapped), kms.keyId);
  const before = fake.count('kp');
  const e = await expectError(t, fake, other.unwrapKey(wrapped, ctx), 'unknown-key');
  t.regex(e.message, new RegExp(kms.keyId));
  t.is(fake.count('kp'), before);
  for (const junk of [new Uint8Array(0), Buffer.from('IK'), Buffer.from([0x49, 0x4b, 2]), Buffer.from('LK\x01')]) {
    const err = t.throws(() => kms.keyIdOf(junk), { instanceOf: KmsError });
    t.is(err?.code, 'malformed');
    await expectError(t, fake, kms.unwrapKey(junk, ctx), 'malformed');
  }
});

test('close: later calls throw closed; keyIdOf still reads blobs', async (t) => {
  const { fake, options } = await setup(t);
  const kms = await openIbmKms(options);
  const wrapped = await kms.wrapKey(randomBytes(32), ctx);
  await kms.close();
  await expectError(t, fake, kms.wrapKey(randomBytes(32), ctx), 'closed');
  await expectError(t, fake, kms.unwrapKey(wrapped, ctx), 'closed');
  t.is(kms.keyIdOf(wrapped), kms.keyId);
  await kms.close();
});

test('a server that echoes credentials in its errors: none reaches our errors', async (t) => {
  const { fake, keyId, options } = await setup(t);
  fake.echoCredentials = true;
  await expectError(t, fake, openIbmKms({ ...options, apiKey: WRONG_API_KEY }), 'denied');
  const kms = await openIbmKms(options);
  const wrapped = await kms.wrapKey(randomBytes(32), ctx);
  await expectError(t, fake, kms.unwrapKey(wrapped, { ...ctx, kind: 'aux' }), 'unwrap-failed'); // 422 with the token echoed
  fake.inject('kp', 'unavailable', Infinity);
  await expectError(t, fake, kms.wrapKey(randomBytes(32), ctx), 'unavailable');
  fake.clearFaults();
  fake.setState(keyId, 'suspended');
  await expectError(t, fake, kms.wrapKey(randomBytes(32), ctx), 'unknown-key');
  fake.tokenTtlSeconds = 0;
  await expectError(t, fake, openIbmKms(options), 'denied'); // 401 with the token echoed
});

test('settings are checked before any request, and the API key is never echoed', async (t) => {
  const { fake, options } = await setup(t);
  const bad: [string, Partial<IbmKmsOptions>][] = [
    ['plain http off loopback', { endpoint: 'http://kms.example.com' }],
    ['IAM over plain http', { iamUrl: 'http://iam.example.com' }],
    ['credentials in the URL', { endpoint: `https://user:${fake.apiKey}@kms.example.com` }],
    ['instance id', { instanceId: '../x' }],
    ['key id', { keyId: 'a/b' }],
    ['API key with a space', { apiKey: `${fake.apiKey} x` }],
    ['API key in quotes', { apiKey: `"${fake.apiKey}"` }],
    ['timeout', { timeoutMs: 0 }],
  ];
  for (const [label, patch] of bad) {
    const e = await t.throwsAsync(openIbmKms({ ...options, ...patch }), { instanceOf: RangeError }, label);
    t.false(errorText(e).includes(fake.apiKey), label);
  }
  t.is(fake.count('iam') + fake.count('kp'), 0);
});

test.after.always('no error thrown in this file carries the API key or an IAM token', (t) => {
  t.true(thrown.length > 40, `${thrown.length} errors recorded`);
  for (const { error, fake } of thrown) assertNoSecrets(t, fake, error);
});

test('switch to a new root key: blobs under the retired key unwrap only when it is named retired; new wraps use the new key', async (t) => {
  const { fake, keyId, options } = await setup(t);
  const before = await openIbmKms(options);
  const dataKey = randomBytes(32);
  const old = await before.wrapKey(dataKey, ctx);
  await before.close();
  const newKey = fake.addKey();
  const without = await openIbmKms(optionsFor(fake, newKey));
  await expectError(t, fake, without.unwrapKey(old, ctx), 'unknown-key');
  const after = await openIbmKms(optionsFor(fake, newKey, { retiredKeyIds: [keyId] }));
  t.not(after.keyIdOf(old), after.keyId);
  t.deepEqual(Buffer.from(await after.unwrapKey(old, ctx)), dataKey);
  t.is(after.keyIdOf(await after.wrapKey(dataKey, ctx)), after.keyId);
  await without.close();
  await after.close();
});
