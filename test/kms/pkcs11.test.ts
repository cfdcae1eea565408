/**
 * The PKCS#11 provider against SoftHSM2: throw-away tokens in a temporary directory, made before
 * the first test (SoftHSM2 sees only the tokens that exist when it is initialised). Every test uses
 * its own key labels, so the tests run concurrently in one process, sharing the module as a node
 * would. SoftHSM2 missing is a failure, not a skip.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { KmsError } from '../../src/kms/kms.js';
import {
  createPkcs11Key,
  openPkcs11Kms,
  pkcs11Binding,
  withPkcs11Session,
  type Pkcs11KmsOptions,
} from '../../src/kms/pkcs11.js';
import { kmsConformance } from '../helpers/kms-conformance.js';
import { createSoftHsmToken, provisionSoftHsmKey, softHsmKmsOptions, type SoftHsmToken } from '../helpers/softhsm.js';

const SCRIPT = fileURLToPath(new URL('../../scripts/hsm-key.js', import.meta.url));
const ctx = { node: 'node_1', kind: 'keyshare', id: 'wallet-1' };

interface Tokens {
  dir: string;
  /** Most tests: one key label each. */
  main: SoftHsmToken;
  /** Another node's token, for the conformance suite's "another master key". */
  other: SoftHsmToken;
  /** Wrong-PIN attempts stay away from the tokens other tests log in to. */
  pins: SoftHsmToken;
  /** Its sessions are closed under the provider's feet. */
  lost: SoftHsmToken;
}

let tokens: Tokens | undefined;
const tok = (): Tokens => {
  if (tokens === undefined) throw new Error('SoftHSM2 tokens were not created (see the failure of the before hook)');
  return tokens;
};

test.before(async () => {
  const dir = await mkdtemp(join(tmpdir(), 'mpc-softhsm-'));
  const made = async (label: string, pin: string) => createSoftHsmToken(dir, { label, pin });
  tokens = {
    dir,
    main: await made('mpc-main', '1234-main'),
    other: await made('mpc-other', '1234-other'),
    pins: await made('mpc-pins', '1234-pins'),
    lost: await made('mpc-lost', '1234-lost'),
  };
  await provisionSoftHsmKey(tokens.main, { label: 'conf-a' });
  await provisionSoftHsmKey(tokens.other, { label: 'conf-b' });
  await provisionSoftHsmKey(tokens.pins, { label: 'pin-key' });
  await provisionSoftHsmKey(tokens.lost, { label: 'lost-key' });
});

test.after.always(async () => {
  if (tokens !== undefined) await rm(tokens.dir, { recursive: true, force: true });
});

const opts = (token: SoftHsmToken, keyLabel: string): Pkcs11KmsOptions => softHsmKmsOptions(token, keyLabel);

async function code(t: import('ava').ExecutionContext, p: Promise<unknown>): Promise<string | undefined> {
  const e = await t.throwsAsync(p, { instanceOf: KmsError });
  return e?.code;
}

kmsConformance(test, 'pkcs11', async () => ({
  kms: await openPkcs11Kms(opts(tok().main, 'conf-a')),
  other: await openPkcs11Kms(opts(tok().other, 'conf-b')),
}));

test('pkcs11: the key createPkcs11Key makes is AES-256, sensitive and non-extractable; its value cannot be read', async (t) => {
  const { main } = tok();
  const { keyId } = await createPkcs11Key(opts(main, 'attr-key'));
  t.regex(keyId, /^[0-9a-f]{32}$/);
  const p = pkcs11Binding();
  await withPkcs11Session(main, (lib, session) => {
    lib.C_FindObjectsInit(session, [{ type: p.CKA_LABEL, value: 'attr-key' }]);
    const found = lib.C_FindObjects(session, 5);
    lib.C_FindObjectsFinal(session);
    t.is(found.length, 1);
    const key = found[0]!;
    const types = [
      p.CKA_CLASS,
      p.CKA_KEY_TYPE,
      p.CKA_VALUE_LEN,
      p.CKA_TOKEN,
      p.CKA_PRIVATE,
      p.CKA_SENSITIVE,
      p.CKA_EXTRACTABLE,
      p.CKA_ALWAYS_SENSITIVE,
      p.CKA_NEVER_EXTRACTABLE,
      p.CKA_ENCRYPT,
      p.CKA_DECRYPT,
      p.CKA_WRAP,
      p.CKA_DERIVE,
      p.CKA_ID,
    ];
    const attrs = lib.C_GetAttributeValue(
      session,
      key,
      types.map((type) => ({ type })),
    );
    const v = (type: number): Buffer => attrs.find((a) => a.type === type)!.value;
    const num = (type: number): number => v(type).readUInt32LE(0); // SoftHSM on a little-endian host
    t.is(num(p.CKA_CLASS), p.CKO_SECRET_KEY);
    t.is(num(p.CKA_KEY_TYPE), p.CKK_AES);
    t.is(num(p.CKA_VALUE_LEN), 32);
    for (const yes of [
      p.CKA_TOKEN,
      p.CKA_PRIVATE,
      p.CKA_SENSITIVE,
      p.CKA_ALWAYS_SENSITIVE,
      p.CKA_NEVER_EXTRACTABLE,
      p.CKA_ENCRYPT,
      p.CKA_DECRYPT,
    ])
      t.is(v(yes)[0], 1, `attribute ${yes}`);
    for (const no of [p.CKA_EXTRACTABLE, p.CKA_WRAP, p.CKA_DERIVE]) t.is(v(no)[0], 0, `attribute ${no}`);
    t.is(v(p.CKA_ID).toString('hex'), keyId);
    const e = t.throws(() => lib.C_GetAttributeValue(session, key, [{ type: p.CKA_VALUE }]));
    t.is((e as { code?: number } | undefined)?.code, p.CKR_ATTRIBUTE_SENSITIVE, 'the token refuses to reveal the key');
    // Nor can it be made extractable again.
    t.throws(() => lib.C_SetAttributeValue(session, key, [{ type: p.CKA_EXTRACTABLE, value: true }]));
  });
  const kms = await openPkcs11Kms(opts(main, 'attr-key'));
  t.teardown(() => kms.close());
  t.is(kms.keyId, keyId);
  t.is(kms.name, 'pkcs11');
});

test('pkcs11: a key that is extractable, not sensitive or not AES-256 is refused at open', async (t) => {
  const { main } = tok();
  await provisionSoftHsmKey(main, { label: 'bad-extractable', extractable: true });
  await provisionSoftHsmKey(main, { label: 'bad-readable', sensitive: false });
  await provisionSoftHsmKey(main, { label: 'bad-aes128', bytes: 16 });
  for (const label of ['bad-extractable', 'bad-readable']) {
    const e = await t.throwsAsync(openPkcs11Kms(opts(main, label)), { instanceOf: KmsError }, label);
    t.is(e?.code, 'config', label);
    t.regex(e?.message ?? '', /must never leave the HSM/);
  }
  const e = await t.throwsAsync(openPkcs11Kms(opts(main, 'bad-aes128')), { instanceOf: KmsError });
  t.is(e?.code, 'config');
  t.regex(e?.message ?? '', /not an AES-256 secret key/);
});

test('pkcs11: a wrong PIN is denied, whether or not the process is already logged in to the token', async (t) => {
  const { pins } = tok();
  const wrong = { ...opts(pins, 'pin-key'), pin: 'not-the-pin' };
  t.is(await code(t, openPkcs11Kms(wrong)), 'denied', 'token checks the PIN');
  const good = await openPkcs11Kms(opts(pins, 'pin-key'));
  t.is(await code(t, openPkcs11Kms(wrong)), 'denied', 'already logged in: the provider checks the PIN');
  const again = await openPkcs11Kms(opts(pins, 'pin-key'));
  await again.close();
  t.deepEqual(
    Buffer.from(await good.unwrapKey(await good.wrapKey(Buffer.alloc(32, 1), ctx), ctx)),
    Buffer.alloc(32, 1),
  );
  await good.close();
  const e = await t.throwsAsync(openPkcs11Kms(wrong), { instanceOf: KmsError });
  t.is(e?.code, 'denied');
  t.false(e.message.includes('not-the-pin'), 'the PIN is not in the message');
});

test('pkcs11: an unknown key label is unknown-key and says how to create it; a bad token or slot is config', async (t) => {
  const { main } = tok();
  const e = await t.throwsAsync(openPkcs11Kms(opts(main, 'no-such-key')), { instanceOf: KmsError });
  t.is(e?.code, 'unknown-key');
  t.regex(e?.message ?? '', /hsm-key\.js/);
  t.is(await code(t, openPkcs11Kms({ ...opts(main, 'conf-a'), tokenLabel: 'no-such-token' })), 'config');
  t.is(await code(t, openPkcs11Kms({ ...opts(main, 'conf-a'), tokenLabel: undefined, slot: 99 })), 'config');
  t.is(await code(t, openPkcs11Kms({ ...opts(main, 'conf-a'), slot: 0 })), 'config', 'token label and slot together');
  t.is(await code(t, openPkcs11Kms({ ...opts(main, 'conf-a'), module: join(tok().dir, 'missing.so') })), 'config');

  // The same token by slot index.
  const index = await withPkcs11Session(main, (lib) =>
    lib.C_GetSlotList(true).findIndex((s) => lib.C_GetTokenInfo(s).label.trimEnd() === main.tokenLabel),
  );
  t.true(index >= 0);
  const bySlot = await openPkcs11Kms({ ...opts(main, 'conf-a'), tokenLabel: undefined, slot: index });
  const byLabel = await openPkcs11Kms(opts(main, 'conf-a'));
  t.is(bySlot.keyId, byLabel.keyId);
  t.is(bySlot.tokenLabel, main.tokenLabel);
  await bySlot.close();
  await byLabel.close();
});

test('pkcs11: two instances in one process work; closing one leaves the other logged in and working', async (t) => {
  const { main } = tok();
  await provisionSoftHsmKey(main, { label: 'two-a' });
  await provisionSoftHsmKey(main, { label: 'two-b' });
  const a = await openPkcs11Kms(opts(main, 'two-a'));
  const b = await openPkcs11Kms(opts(main, 'two-b'));
  t.not(a.keyId, b.keyId);
  const dk = randomBytes(32);
  const fromA = await a.wrapKey(dk, ctx);
  const fromB = await b.wrapKey(dk, ctx);
  t.is(a.keyIdOf(fromA), a.keyId);
  t.is(b.keyIdOf(fromB), b.keyId);
  await a.close();
  t.is(await code(t, a.wrapKey(dk, ctx)), 'closed');
  t.is(await code(t, a.unwrapKey(fromA, ctx)), 'closed');
  t.deepEqual(Buffer.from(await b.unwrapKey(fromB, ctx)), dk, 'b is still logged in after a closed');
  // The token is the isolation boundary: a key of the same token unwraps by the id the blob names.
  t.deepEqual(Buffer.from(await b.unwrapKey(fromA, ctx)), dk);
  t.deepEqual(Buffer.from(await b.unwrapKey(await b.wrapKey(dk, ctx), ctx)), dk);
  const a2 = await openPkcs11Kms(opts(main, 'two-a'));
  t.deepEqual(Buffer.from(await a2.unwrapKey(fromA, ctx)), dk);
  await a2.close();
  await b.close();
  await t.notThrowsAsync(b.close(), 'close is idempotent');
});

test('pkcs11: 50 concurrent wraps and unwraps on one instance give the right results', async (t) => {
  const { main } = tok();
  await provisionSoftHsmKey(main, { label: 'busy' });
  const kms = await openPkcs11Kms(opts(main, 'busy'));
  t.teardown(() => kms.close());
  const keys = Array.from({ length: 50 }, (_, i) => randomBytes(16 + (i % 49)));
  const contexts = keys.map((_, i) => ({ node: 'node_1', kind: 'keyshare', id: `wallet-${i}` }));
  const blobs = await Promise.all(keys.map((k, i) => kms.wrapKey(k, contexts[i]!)));
  // Unwraps interleaved with more wraps.
  const [unwrapped] = await Promise.all([
    Promise.all(blobs.map((b, i) => kms.unwrapKey(b, contexts[i]!))),
    Promise.all(keys.map((k, i) => kms.wrapKey(k, contexts[i]!))),
  ]);
  for (let i = 0; i < keys.length; i++) t.deepEqual(Buffer.from(unwrapped[i]!), keys[i]!, `key ${i}`);
  const wrong = await Promise.allSettled(blobs.map((b, i) => kms.unwrapKey(b, contexts[(i + 1) % 50]!)));
  t.true(
    wrong.every((r) => r.status === 'rejected' && r.reason instanceof KmsError && r.reason.code === 'unwrap-failed'),
  );
  t.deepEqual(
    Buffer.from(await kms.unwrapKey(blobs[7]!, contexts[7]!)),
    keys[7]!,
    'failed unwraps leave the session usable',
  );
});

test('pkcs11: rotation: blobs under the old key unwrap after a new key label is configured; new wraps use the new key', async (t) => {
  const { main } = tok();
  const { keyId: oldId } = await provisionSoftHsmKey(main, { label: 'rot-1' });
  const before = await openPkcs11Kms(opts(main, 'rot-1'));
  const dk = randomBytes(32);
  const old = await before.wrapKey(dk, ctx);
  await before.close();

  const { keyId: newId } = await provisionSoftHsmKey(main, { label: 'rot-2' });
  const kms = await openPkcs11Kms(opts(main, 'rot-2'));
  t.teardown(() => kms.close());
  t.is(kms.keyId, newId);
  t.not(newId, oldId);
  t.is(kms.keyIdOf(old), oldId, 'the re-wrap can tell the blob is under the retired key');
  t.deepEqual(Buffer.from(await kms.unwrapKey(old, ctx)), dk);
  const fresh = await kms.wrapKey(dk, ctx);
  t.is(kms.keyIdOf(fresh), newId);

  // Once the old key is destroyed, its blobs name an unknown key (the cached handle is dropped).
  await withPkcs11Session(main, (lib, session) => {
    const p = pkcs11Binding();
    lib.C_FindObjectsInit(session, [{ type: p.CKA_LABEL, value: 'rot-1' }]);
    const [key] = lib.C_FindObjects(session, 1);
    lib.C_FindObjectsFinal(session);
    lib.C_DestroyObject(session, key!);
  });
  t.is(await code(t, kms.unwrapKey(old, ctx)), 'unknown-key');
  t.deepEqual(Buffer.from(await kms.unwrapKey(fresh, ctx)), dk);
});

test('pkcs11: a lost session is reopened once, with a fresh login', async (t) => {
  const { lost } = tok();
  const kms = await openPkcs11Kms(opts(lost, 'lost-key'));
  t.teardown(() => kms.close());
  const dk = randomBytes(32);
  const blob = await kms.wrapKey(dk, ctx);
  const closeAll = () =>
    withPkcs11Session(lost, (lib, session) => {
      lib.C_CloseAllSessions(lib.C_GetSessionInfo(session).slotID); // every session of this process on the token, logged out
    });
  await closeAll();
  t.deepEqual(Buffer.from(await kms.unwrapKey(blob, ctx)), dk);
  await closeAll();
  t.deepEqual(Buffer.from(await kms.unwrapKey(await kms.wrapKey(dk, ctx), ctx)), dk);

  // The token is gone: the reopen fails too, so 'unavailable'; once it is back, the next call recovers.
  const p = pkcs11Binding();
  const [lib, slotId] = await withPkcs11Session(lost, (l, session) => [l, l.C_GetSessionInfo(session).slotID] as const);
  // eslint-disable-next-line @typescript-eslint/unbound-method -- put back as it was, and called with `this`
  const open = lib.C_OpenSession;
  await closeAll();
  lib.C_OpenSession = function (slot: Buffer, flags: number) {
    if (slot.equals(slotId))
      throw Object.assign(new Error('CKR_TOKEN_NOT_PRESENT'), { name: 'Pkcs11Error', code: p.CKR_TOKEN_NOT_PRESENT });
    return open.call(this, slot, flags);
  };
  try {
    t.is(await code(t, kms.unwrapKey(blob, ctx)), 'unavailable');
    t.is(await code(t, kms.wrapKey(dk, ctx)), 'unavailable');
  } finally {
    lib.C_OpenSession = open;
  }
  t.deepEqual(Buffer.from(await kms.unwrapKey(blob, ctx)), dk);
});

test('pkcs11: the blob is "PH" | version | key id | data-key length | IV | ciphertext | tag; junk is malformed', async (t) => {
  const kms = await openPkcs11Kms(opts(tok().main, 'conf-a'));
  t.teardown(() => kms.close());
  const blob = Buffer.from(await kms.wrapKey(randomBytes(24), ctx));
  const idLength = kms.keyId.length / 2;
  t.is(blob.toString('latin1', 0, 2), 'PH');
  t.is(blob[2], 1);
  t.is(blob[3], idLength);
  t.is(blob.toString('hex', 4, 4 + idLength), kms.keyId);
  t.is(blob[4 + idLength], 24);
  t.is(blob.length, 5 + idLength + 12 + 24 + 16);
  for (const junk of [
    Buffer.from('PK\x01\x10'),
    Buffer.from('LK'),
    Buffer.concat([blob.subarray(0, 3), Buffer.of(0), blob.subarray(4)]),
    Buffer.concat([blob.subarray(0, 2), Buffer.of(2), blob.subarray(3)]),
  ]) {
    const e = t.throws(() => kms.keyIdOf(junk), { instanceOf: KmsError });
    t.is(e?.code, 'malformed');
    t.is(await code(t, kms.unwrapKey(junk, ctx)), 'malformed');
  }
  t.is(await code(t, kms.unwrapKey(blob.subarray(0, blob.length - 1), ctx)), 'malformed');
  await t.throwsAsync(kms.wrapKey(randomBytes(15), ctx), { instanceOf: RangeError });
  t.is(await code(t, kms.wrapKey(randomBytes(32), { Bad: 'x' })), 'bad-context');
});

async function hsmKey(
  token: SoftHsmToken,
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [SCRIPT, ...args], {
      env: { PATH: process.env['PATH'] ?? '', ...token.env, ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

test('pkcs11: the hsm-key command creates a master key and refuses a duplicate label', async (t) => {
  const { main, dir } = tok();
  const base = ['--module', main.module, '--token', main.tokenLabel];
  const made = await hsmKey(main, [...base, '--label', 'script-key'], { NODE_KMS_PKCS11_PIN: main.pin });
  t.is(made.code, 0, made.stderr);
  const id = /id ([0-9a-f]{32})/.exec(made.stdout)?.[1];
  t.truthy(id, made.stdout);
  t.regex(made.stdout, /NODE_KMS_PKCS11_KEY_LABEL=script-key/);
  t.false(made.stdout.includes(main.pin) || made.stderr.includes(main.pin), 'the PIN is not printed');
  // Opened by a fresh process, as a node would: SoftHSM2 does not always show this process an
  // object another process has just created in a token it already has open.
  const opener = `import { openPkcs11Kms } from ${JSON.stringify(pathToFileURL(join(dirname(SCRIPT), '..', 'src', 'kms', 'pkcs11.js')).href)};
const kms = await openPkcs11Kms(JSON.parse(process.env.OPTS));
process.stdout.write(kms.keyId);
await kms.close();`;
  const opened = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', opener], {
    env: { PATH: process.env['PATH'] ?? '', ...main.env, OPTS: JSON.stringify(opts(main, 'script-key')) },
  });
  t.is(opened.stdout, id ?? '', 'the new key opens as the master key, under the id the command printed');

  const pinFile = join(dir, 'pin');
  await writeFile(pinFile, `${main.pin}\n`, { mode: 0o600 });
  const dup = await hsmKey(main, [...base, '--label', 'script-key', '--pin-file', pinFile]);
  t.is(dup.code, 1);
  t.regex(dup.stderr, /already has an object labelled "script-key"/);
  const second = await hsmKey(main, [...base, '--label', 'script-key-2', '--pin-file', pinFile]);
  t.is(second.code, 0, second.stderr);

  const denied = await hsmKey(main, [...base, '--label', 'script-key-3'], { NODE_KMS_PKCS11_PIN: 'wrong' });
  t.is(denied.code, 1);
  t.regex(denied.stderr, /\[denied\]/);
  const usage = await hsmKey(main, base, { NODE_KMS_PKCS11_PIN: main.pin });
  t.is(usage.code, 2);
  t.regex(usage.stderr, /--label is required/);
});
