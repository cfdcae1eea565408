import test, { type ExecutionContext } from 'ava';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { DescribeKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { openAwsKms, type AwsKms, type AwsKmsOptions } from '../../src/kms/aws.js';
import { KmsError } from '../../src/kms/kms.js';
import type { RetryPolicy } from '../../src/kms/retry.js';
import { kmsConformance } from '../helpers/kms-conformance.js';
import { FakeAwsKms, type FakeCredentials } from '../helpers/kms/aws-server.js';

const ctx = { node: 'node_1', kind: 'keyshare', id: 'wallet-1' };
const FAST: RetryPolicy = { attempts: 3, baseDelayMs: 1, maxDelayMs: 5 };

/** A fake KMS of the test's own, so fault injection and request counts are not shared. */
async function fake(t: ExecutionContext): Promise<FakeAwsKms> {
  const server = await FakeAwsKms.start();
  t.teardown(() => server.close());
  return server;
}

function options(
  server: FakeAwsKms,
  keyId: string,
  more: Partial<AwsKmsOptions> = {},
  creds: FakeCredentials = server.credentials,
): AwsKmsOptions {
  return {
    keyId,
    region: server.region,
    endpoint: server.endpoint,
    credentials: {
      accessKeyId: creds.accessKeyId,
      secretAccessKey: creds.secretAccessKey,
      ...(creds.sessionToken === undefined ? {} : { sessionToken: creds.sessionToken }),
    },
    retry: FAST,
    timeoutMs: 2_000,
    ...more,
  };
}

async function open(t: ExecutionContext, opts: AwsKmsOptions): Promise<AwsKms> {
  const kms = await openAwsKms(opts);
  t.teardown(() => kms.close());
  return kms;
}

async function code(t: ExecutionContext, p: Promise<unknown>): Promise<string | undefined> {
  const e = await t.throwsAsync(p, { instanceOf: KmsError });
  return e?.code;
}

// The conformance suite shares one fake: it injects no faults.
let shared: Promise<FakeAwsKms> | undefined;
const opened: AwsKms[] = [];
test.after.always(async () => {
  await Promise.all(opened.map((k) => k.close()));
  await (await shared)?.close();
});

kmsConformance(test, 'aws', async () => {
  const server = await (shared ??= FakeAwsKms.start());
  const kms = await openAwsKms(options(server, server.createKey().arn));
  const other = await openAwsKms(options(server, server.createKey().arn));
  opened.push(kms, other);
  return { kms, other };
});

test('aws: a request signed with the wrong secret or an unknown access key is denied, not retried', async (t) => {
  const server = await fake(t);
  const key = server.createKey();
  const wrongSecret = { ...server.credentials, secretAccessKey: randomBytes(30).toString('base64') };
  t.is(await code(t, openAwsKms(options(server, key.arn, {}, wrongSecret))), 'denied');
  t.is(server.badSignatures, 1);
  t.is(server.requests, 1, 'a refused signature is not retried');

  const unknown = { accessKeyId: 'AKIAUNKNOWNUNKNOWN00', secretAccessKey: server.credentials.secretAccessKey };
  t.is(await code(t, openAwsKms(options(server, key.arn, {}, unknown))), 'denied');
  t.is(server.badSignatures, 2);
  t.deepEqual(server.seen, [], 'nothing got past authentication');

  t.is((await open(t, options(server, key.arn))).keyId, key.arn, 'the right secret verifies');
});

test('aws fake: a request altered after signing is refused (body and signed headers are covered)', async (t) => {
  const server = await fake(t);
  const mine = server.createKey();
  const theirs = server.createKey();
  /** A client whose requests `edit` changes after they are signed. */
  const alter = (edit: (req: { body: string; headers: Record<string, string> }) => void): KMSClient => {
    const client = new KMSClient({
      region: server.region,
      endpoint: server.endpoint,
      credentials: server.credentials,
      maxAttempts: 1,
    });
    t.teardown(() => client.destroy());
    type Args = { request: { body: string | Uint8Array; headers: Record<string, string> } };
    const middleware = (next: (a: Args) => Promise<unknown>) => async (args: Args) => {
      const body = args.request.body;
      const request = {
        body: typeof body === 'string' ? body : new TextDecoder().decode(body),
        headers: args.request.headers,
      };
      edit(request);
      args.request.body = request.body;
      return next(args);
    };
    client.middlewareStack.addRelativeTo(middleware as never, {
      relation: 'after',
      toMiddleware: 'httpSigningMiddleware',
      name: 'alterAfterSigning',
    });
    return client;
  };
  const ok = alter(() => {});
  t.is(
    (await ok.send(new DescribeKeyCommand({ KeyId: mine.arn }))).KeyMetadata?.Arn,
    mine.arn,
    'unaltered requests pass',
  );
  const body = alter((r) => void (r.body = r.body.replace(mine.arn, theirs.arn)));
  await t.throwsAsync(body.send(new DescribeKeyCommand({ KeyId: mine.arn })), { name: 'InvalidSignatureException' });
  const target = alter((r) => void (r.headers['x-amz-target'] = 'TrentService.ListKeys'));
  await t.throwsAsync(target.send(new DescribeKeyCommand({ KeyId: mine.arn })), { name: 'InvalidSignatureException' });
  t.is(server.badSignatures, 2);
});

test('aws: session tokens are checked; a principal without access to the key is denied', async (t) => {
  const server = await fake(t);
  const key = server.createKey();
  const temp = server.addCredentials({ sessionToken: 'FwoGZXIvYXdzEXAMPLETOKEN' });
  t.is((await open(t, options(server, key.arn, {}, temp))).keyId, key.arn);
  t.is(await code(t, openAwsKms(options(server, key.arn, {}, { ...temp, sessionToken: 'stale' }))), 'denied');

  const narrow = server.addCredentials({ keys: [server.createKey().arn] });
  t.is(await code(t, openAwsKms(options(server, key.arn, {}, narrow))), 'denied');
});

test('aws: an alias, key id or alias ARN resolves to the key ARN at open', async (t) => {
  const server = await fake(t);
  const key = server.createKey({ alias: 'mpc-node-1' });
  for (const id of [
    'alias/mpc-node-1',
    key.keyId,
    `arn:aws:kms:${server.region}:${server.account}:alias/mpc-node-1`,
    key.arn,
  ]) {
    const kms = await open(t, options(server, id));
    t.is(kms.keyId, key.arn, id);
    t.is(kms.keyIdOf(await kms.wrapKey(randomBytes(32), ctx)), key.arn, 'blobs name the ARN, never the alias');
  }
  // Re-pointing the alias affects new opens only: an open provider keeps the key it resolved.
  const kms = await open(t, options(server, 'alias/mpc-node-1'));
  const next = server.createKey();
  server.setAlias('mpc-node-1', next.keyId);
  t.is(kms.keyIdOf(await kms.wrapKey(randomBytes(32), ctx)), key.arn);
  t.is((await open(t, options(server, 'alias/mpc-node-1'))).keyId, next.arn);
});

test('aws: a disabled, asymmetric, signing or missing key is refused at open', async (t) => {
  const server = await fake(t);
  const cases = {
    disabled: server.createKey({ enabled: false }).arn,
    'RSA encryption key': server.createKey({ spec: 'RSA_2048' }).arn,
    'ECC signing key': server.createKey({ spec: 'ECC_NIST_P256', usage: 'SIGN_VERIFY' }).arn,
    'HMAC key': server.createKey({ spec: 'HMAC_256', usage: 'GENERATE_VERIFY_MAC' }).arn,
    missing: 'alias/nobody',
  };
  for (const [what, id] of Object.entries(cases)) {
    const e = await t.throwsAsync(openAwsKms(options(server, id)), { instanceOf: KmsError }, what);
    t.is(e?.code, 'config', what);
  }
  t.is(server.requests, Object.keys(cases).length, 'one DescribeKey each, none retried');
});

test('aws: a key disabled after open makes wrap and unwrap fail with unknown-key', async (t) => {
  const server = await fake(t);
  const key = server.createKey();
  const kms = await open(t, options(server, key.arn));
  const wrapped = await kms.wrapKey(randomBytes(32), ctx);
  key.enabled = false;
  t.is(await code(t, kms.wrapKey(randomBytes(32), ctx)), 'unknown-key');
  t.is(await code(t, kms.unwrapKey(wrapped, ctx)), 'unknown-key');
  key.enabled = true;
  t.is((await kms.unwrapKey(wrapped, ctx)).length, 32);
});

test('aws: throttled twice, then answered: three requests in all', async (t) => {
  const server = await fake(t);
  const kms = await open(
    t,
    options(server, server.createKey().arn, { retry: { attempts: 4, baseDelayMs: 1, maxDelayMs: 5 } }),
  );
  const dataKey = randomBytes(32);
  server.requests = 0;
  server.failNext(2, 'throttle');
  const wrapped = await kms.wrapKey(dataKey, ctx);
  t.is(server.requests, 3);

  server.requests = 0;
  server.failNext(1, 'internal');
  server.failNext(1, 'reset');
  t.deepEqual(
    Buffer.from(await kms.unwrapKey(wrapped, ctx)),
    dataKey,
    'a 500 and a dropped connection are retried too',
  );
  t.is(server.requests, 3);
});

test('aws: always throttled: unavailable after exactly `attempts` requests', async (t) => {
  const server = await fake(t);
  const kms = await open(t, options(server, server.createKey().arn));
  server.requests = 0;
  server.failNext(100, 'throttle');
  const e = await t.throwsAsync(kms.wrapKey(randomBytes(32), ctx), { instanceOf: KmsError });
  t.is(e?.code, 'unavailable');
  t.regex(e?.message ?? '', /after 3 attempts: ThrottlingException/);
  t.is(server.requests, FAST.attempts);
});

test('aws: nothing listening: unavailable quickly', async (t) => {
  const port = await new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
  const start = Date.now();
  const e = await t.throwsAsync(
    openAwsKms({
      keyId: 'alias/x',
      region: 'eu-west-1',
      endpoint: `http://127.0.0.1:${port}`,
      credentials: { accessKeyId: 'AKIAEXAMPLE', secretAccessKey: 'x' },
      retry: FAST,
    }),
    { instanceOf: KmsError },
  );
  t.is(e?.code, 'unavailable');
  t.regex(e?.message ?? '', /ECONNREFUSED/);
  t.true(Date.now() - start < 5_000, `${Date.now() - start} ms`);
});

test('aws: a hung server: unavailable within attempts × timeout', async (t) => {
  const server = await fake(t);
  const kms = await open(
    t,
    options(server, server.createKey().arn, {
      timeoutMs: 1_000,
      retry: { attempts: 2, baseDelayMs: 1, maxDelayMs: 5 },
    }),
  );
  server.requests = 0;
  server.hang = true;
  const start = Date.now();
  const e = await t.throwsAsync(kms.wrapKey(randomBytes(32), ctx), { instanceOf: KmsError });
  const took = Date.now() - start;
  t.is(e?.code, 'unavailable');
  t.regex(e?.message ?? '', /TimeoutError/);
  t.is(server.requests, 2);
  t.true(took >= 1_900 && took < 8_000, `${took} ms`); // the defaults would take 4 × 5 s

  server.hang = false;
  t.is(
    (await kms.unwrapKey(await kms.wrapKey(randomBytes(32), ctx), ctx)).length,
    32,
    'works again once the server answers',
  );
});

test('aws: the encryption context reaches the service as the native EncryptionContext', async (t) => {
  const server = await fake(t);
  const key = server.createKey();
  const kms = await open(t, options(server, key.arn));
  const wrapped = await kms.wrapKey(randomBytes(32), ctx);
  await kms.unwrapKey(wrapped, ctx);
  const [enc, dec] = server.seen.filter((r) => r.operation !== 'DescribeKey');
  t.deepEqual(enc, {
    operation: 'Encrypt',
    accessKeyId: server.credentials.accessKeyId,
    keyId: key.arn,
    encryptionContext: ctx,
  });
  t.deepEqual(dec, {
    operation: 'Decrypt',
    accessKeyId: server.credentials.accessKeyId,
    keyId: key.arn,
    encryptionContext: ctx,
  });
});

test('aws: blob format; another key ARN edited into a blob is refused', async (t) => {
  const server = await fake(t);
  const a = await open(t, options(server, server.createKey().arn));
  const b = await open(t, options(server, server.createKey().arn));
  const wrapped = Buffer.from(await a.wrapKey(randomBytes(32), ctx));
  t.is(wrapped.toString('latin1', 0, 2), 'AK');
  t.is(wrapped[2], 1);
  t.is(wrapped.readUInt16BE(3), a.keyId.length);
  t.is(wrapped.toString('latin1', 5, 5 + a.keyId.length), a.keyId);
  t.is(wrapped.readUInt16BE(5 + a.keyId.length), wrapped.length - 7 - a.keyId.length);

  // Both ARNs have the same length: B's ARN over A's.
  const edited = Buffer.from(wrapped);
  edited.write(b.keyId, 5, 'latin1');
  t.is(b.keyIdOf(edited), b.keyId);
  server.requests = 0;
  t.is(
    await code(t, b.unwrapKey(edited, ctx)),
    'unwrap-failed',
    'AWS refuses: the ciphertext is not under the named key',
  );
  t.is(server.requests, 1, 'IncorrectKeyException is not retried');
  t.is(await code(t, a.unwrapKey(edited, ctx)), 'unknown-key', 'a key this node does not use is not even asked');
  t.is(server.requests, 1);

  for (const bad of [
    new Uint8Array(0),
    Buffer.from('LK\x01'),
    wrapped.subarray(0, 40),
    Buffer.concat([wrapped.subarray(0, 5), Buffer.from('alias/x')]),
  ]) {
    t.throws(() => a.keyIdOf(bad), { instanceOf: KmsError, message: /aws-KMS/ });
    t.is(await code(t, a.unwrapKey(bad, ctx)), 'malformed');
  }
});

test('aws: a closed provider refuses with closed', async (t) => {
  const server = await fake(t);
  const kms = await openAwsKms(options(server, server.createKey().arn));
  const wrapped = await kms.wrapKey(randomBytes(32), ctx);
  await kms.close();
  t.is(await code(t, kms.wrapKey(randomBytes(32), ctx)), 'closed');
  t.is(await code(t, kms.unwrapKey(wrapped, ctx)), 'closed');
  t.is(kms.keyIdOf(wrapped), kms.keyId, 'reading a blob needs no call');
});

test('aws: bad options are refused before any call', async (t) => {
  const server = await fake(t);
  await t.throwsAsync(openAwsKms(options(server, '')), { instanceOf: RangeError });
  await t.throwsAsync(openAwsKms({ ...options(server, 'alias/x'), region: 'not a region' }), {
    instanceOf: RangeError,
  });
  await t.throwsAsync(
    openAwsKms(options(server, 'alias/x', { retry: { attempts: 0, baseDelayMs: 1, maxDelayMs: 1 } })),
    { instanceOf: RangeError },
  );
  await t.throwsAsync(openAwsKms(options(server, 'alias/x', { timeoutMs: 0 })), { instanceOf: RangeError });
  t.is(server.requests, 0);
});

test('aws: rotation: blobs under a retired key still unwrap, new wraps use the new key, and re-wrapping moves them', async (t) => {
  const server = await fake(t);
  const oldArn = server.createKey({ alias: 'alias/mpc-old' }).arn;
  const newArn = server.createKey().arn;
  const before = await open(t, options(server, oldArn));
  const dataKey = randomBytes(32);
  const wrapped = await before.wrapKey(dataKey, ctx);

  const without = await open(t, options(server, newArn));
  t.is(
    await code(t, without.unwrapKey(wrapped, ctx)),
    'unknown-key',
    'the old key is trusted only when named as retired',
  );

  const after = await open(t, options(server, newArn, { retiredKeyIds: ['alias/mpc-old'] }));
  t.is(after.keyId, newArn);
  t.is(after.keyIdOf(wrapped), oldArn);
  t.deepEqual(Buffer.from(await after.unwrapKey(wrapped, ctx)), dataKey);
  const rewrapped = await after.wrapKey(dataKey, ctx);
  t.is(after.keyIdOf(rewrapped), newArn);
});
