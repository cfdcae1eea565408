/**
 * The shared wrapped-key formats (src/kms/blob.ts): they write the very bytes each provider wrote
 * before the formats were shared (the old encoders are kept in test/helpers/kms/legacy-blobs.ts),
 * accept and refuse exactly the blobs the old parsers did, and blobs sealed before the change still
 * open: a local and a PKCS#11 blob made then with known keys unwrap, and fixed AWS, Azure and IBM
 * blobs decode to their fields.
 */
import test from 'ava';
import fc from 'fast-check';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AWS_BLOB, AZURE_BLOB, IBM_BLOB, LOCAL_BLOB, PKCS11_BLOB } from '../../src/kms/blob.js';
import { KmsError } from '../../src/kms/kms.js';
import { openLocalKms } from '../../src/kms/local.js';
import { openPkcs11Kms, pkcs11Binding, withPkcs11Session } from '../../src/kms/pkcs11.js';
import * as legacy from '../helpers/kms/legacy-blobs.js';
import { createSoftHsmToken } from '../helpers/softhsm.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const seq = (n: number, start: number): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => (start + i) & 0xff));
const ctx = { node: 'node_1', kind: 'keyshare', id: 'wallet-1', format: '1' };
/** The data key wrapped in the local and PKCS#11 fixtures. */
const DATA_KEY = seq(32, 0xa0);

/** Whether `f` accepts `b`, and what it returns (compared as JSON with bytes in hex). */
function outcome(f: (b: Uint8Array) => unknown, b: Uint8Array): string {
  try {
    return JSON.stringify(f(b), (_k, v: unknown) =>
      v instanceof Uint8Array
        ? hex(v)
        : (v as { type?: string; data?: number[] })?.type === 'Buffer'
          ? hex(Buffer.from((v as { data: number[] }).data))
          : v,
    );
  } catch (e) {
    return e instanceof KmsError ? `refused (${e.code})` : 'refused';
  }
}

/** Variants of a blob: each byte flipped or set to 0 / 0xff, truncations, extensions. */
function variants(blob: Buffer): Buffer[] {
  const out: Buffer[] = [blob];
  for (let i = 0; i < blob.length; i++) {
    for (const v of [blob[i]! ^ 0x01, blob[i]! ^ 0x80, 0, 0xff]) {
      const b = Buffer.from(blob);
      b[i] = v;
      out.push(b);
    }
    out.push(blob.subarray(0, i));
  }
  out.push(Buffer.concat([blob, Buffer.of(0)]), Buffer.concat([blob, blob]));
  return out;
}

/** The new decoder accepts exactly the blobs the old one does, with the same fields. */
function sameAcceptance(
  t: import('ava').ExecutionContext,
  blob: Buffer,
  oldDecode: (b: Uint8Array) => unknown,
  newDecode: (b: Uint8Array) => unknown,
): void {
  for (const b of variants(blob)) {
    const was = outcome(oldDecode, b);
    const now = outcome(newDecode, b);
    if ((was === 'refused') !== now.startsWith('refused') || (now !== was && !now.startsWith('refused'))) {
      t.fail(`${hex(b)}: old ${was}, new ${now}`);
      return;
    }
    if (now.startsWith('refused') && now !== 'refused (malformed)') {
      t.fail(`${hex(b)}: refused with ${now}, not malformed`);
      return;
    }
  }
  t.pass();
}

test('every provider has its own magic', (t) => {
  const magics = [LOCAL_BLOB, AWS_BLOB, AZURE_BLOB, IBM_BLOB, PKCS11_BLOB].map((f) => f.magic);
  t.is(new Set(magics).size, magics.length);
});

test('local: the shared format writes the old bytes and accepts exactly the old blobs', (t) => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 8, maxLength: 8 }),
      fc.uint8Array({ minLength: 12, maxLength: 12 }),
      fc.uint8Array({ minLength: 16, maxLength: 64 }),
      fc.uint8Array({ minLength: 16, maxLength: 16 }),
      (keyId, iv, ct, tag) => {
        const old = legacy.localEncode(keyId, iv, ct, tag);
        const fields = { keyId, dataKeyLength: ct.length };
        t.is(hex(LOCAL_BLOB.encode({ ...fields, iv, sealed: Buffer.concat([ct, tag]) })), hex(old));
        t.is(hex(LOCAL_BLOB.header(fields)), hex(legacy.localDecode(old).header));
        t.is(hex(LOCAL_BLOB.decode(old).header), hex(legacy.localDecode(old).header));
      },
    ),
    { numRuns: 50 },
  );
  const blob = legacy.localEncode(seq(8, 1), seq(12, 9), seq(32, 20), seq(16, 60));
  sameAcceptance(
    t,
    blob,
    (b) => {
      const d = legacy.localDecode(b);
      return [d.keyId, d.header, d.iv, Buffer.concat([d.ct, d.tag])];
    },
    (b) => {
      const d = LOCAL_BLOB.decode(b);
      return [hex(d.keyId), d.header, d.iv, d.sealed];
    },
  );
});

test('aws: the shared format writes the old bytes and accepts exactly the old blobs', (t) => {
  const arn = fc
    .tuple(
      fc.constantFrom('aws', 'aws-cn', 'aws-us-gov'),
      fc.constantFrom('eu-west-1', 'us-east-2'),
      fc.stringMatching(/^\d{12}$/),
      fc.stringMatching(/^[A-Za-z0-9-]{1,128}$/),
    )
    .map(([p, r, a, k]) => `arn:${p}:kms:${r}:${a}:key/${k}`);
  fc.assert(
    fc.property(arn, fc.uint8Array({ minLength: 1, maxLength: 600 }), (a, ct) => {
      const old = legacy.awsEncode(a, ct);
      t.is(hex(AWS_BLOB.encode({ arn: a, ciphertext: ct })), hex(old));
      const d = AWS_BLOB.decode(old);
      t.is(d.arn, a);
      t.is(hex(d.ciphertext), hex(ct));
    }),
    { numRuns: 50 },
  );
  const blob = legacy.awsEncode('arn:aws:kms:eu-west-1:111122223333:key/d1425f6f', seq(20, 3));
  sameAcceptance(
    t,
    blob,
    (b) => {
      const d = legacy.awsDecode(b);
      return [d.arn, d.ciphertext];
    },
    (b) => {
      const d = AWS_BLOB.decode(b);
      return [d.arn, d.ciphertext];
    },
  );
});

test('azure: the shared format writes the old bytes and header and accepts exactly the old blobs', (t) => {
  const kid = fc
    .tuple(
      fc.stringMatching(/^[a-z0-9-]{1,24}$/),
      fc.stringMatching(/^[0-9A-Za-z-]{1,127}$/),
      fc.stringMatching(/^[0-9A-Za-z]{1,64}$/),
    )
    .map(([v, n, ver]) => `https://${v}.vault.azure.net/keys/${n}/${ver}`);
  fc.assert(
    fc.property(kid, fc.integer({ min: 256, max: 512 }), fc.integer(), (k, n, seed) => {
      const wrapped = seq(n, seed);
      const old = legacy.azureEncode(k, wrapped);
      t.is(hex(AZURE_BLOB.encode({ algorithm: 1, kid: k, wrapped })), hex(old));
      t.is(hex(AZURE_BLOB.header({ algorithm: 1, kid: k })), hex(legacy.azureHeader(k)));
      const d = AZURE_BLOB.decode(old);
      t.is(d.kid, k);
      t.is(hex(d.header), hex(legacy.azureHeader(k)));
      t.is(hex(d.wrapped), hex(wrapped));
    }),
    { numRuns: 30 },
  );
  const blob = legacy.azureEncode('https://v.vault.azure.net/keys/k/1', seq(256, 5));
  sameAcceptance(
    t,
    blob,
    (b) => {
      const d = legacy.azureDecode(b);
      return [d.kid, d.header, d.wrapped];
    },
    (b) => {
      const d = AZURE_BLOB.decode(b);
      return [d.kid, d.header, d.wrapped];
    },
  );
});

test('ibm: the shared format writes the old bytes and accepts exactly the old blobs', (t) => {
  const id = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9-]{0,99}$/);
  fc.assert(
    fc.property(
      id,
      id,
      id,
      fc.uint8Array({ minLength: 1, maxLength: 300 }),
      (instanceId, keyId, version, ciphertext) => {
        const old = legacy.ibmEncode({ instanceId, keyId, version, ciphertext });
        t.is(hex(IBM_BLOB.encode({ instanceId, keyId, version, ciphertext })), hex(old));
        const d = IBM_BLOB.decode(old);
        t.deepEqual(
          [d.instanceId, d.keyId, d.version, hex(d.ciphertext)],
          [instanceId, keyId, version, hex(ciphertext)],
        );
      },
    ),
    { numRuns: 50 },
  );
  const blob = legacy.ibmEncode({ instanceId: 'i-1', keyId: 'k', version: 'v2', ciphertext: seq(10, 1) });
  sameAcceptance(
    t,
    blob,
    (b) => {
      const d = legacy.ibmDecode(b);
      return [d.instanceId, d.keyId, d.version, d.ciphertext];
    },
    (b) => {
      const d = IBM_BLOB.decode(b);
      return [d.instanceId, d.keyId, d.version, d.ciphertext];
    },
  );
});

test('pkcs11: the shared format writes the old bytes and accepts exactly the old blobs', (t) => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 1, maxLength: 64 }),
      fc.uint8Array({ minLength: 12, maxLength: 12 }),
      fc.uint8Array({ minLength: 32, maxLength: 80 }),
      (id, iv, sealed) => {
        const old = legacy.pkcs11Encode(id, iv, sealed);
        const fields = { keyId: id, dataKeyLength: sealed.length - 16 };
        t.is(hex(PKCS11_BLOB.encode({ ...fields, iv, sealed })), hex(old));
        t.is(hex(PKCS11_BLOB.header(fields)), hex(legacy.pkcs11Decode(old).header));
        t.is(hex(PKCS11_BLOB.decode(old).keyId), hex(id));
      },
    ),
    { numRuns: 50 },
  );
  const blob = legacy.pkcs11Encode(seq(16, 1), seq(12, 30), seq(48, 50));
  sameAcceptance(
    t,
    blob,
    (b) => {
      const d = legacy.pkcs11Decode(b);
      return [d.id, d.header, d.iv, d.sealed];
    },
    (b) => {
      const d = PKCS11_BLOB.decode(b);
      return [d.keyId, d.header, d.iv, d.sealed];
    },
  );
});

test('the encoders refuse values the format cannot hold', (t) => {
  t.throws(() => AWS_BLOB.encode({ arn: 'alias/mine', ciphertext: seq(4, 0) }), { instanceOf: RangeError });
  t.throws(() => IBM_BLOB.encode({ instanceId: 'i', keyId: 'k', version: 'v', ciphertext: new Uint8Array(0) }), {
    instanceOf: RangeError,
  });
  t.throws(() => LOCAL_BLOB.encode({ keyId: seq(8, 0), dataKeyLength: 32, iv: seq(12, 0), sealed: seq(47, 0) }), {
    instanceOf: RangeError,
  });
  t.throws(() => PKCS11_BLOB.header({ keyId: new Uint8Array(65), dataKeyLength: 32 }), { instanceOf: RangeError });
  t.throws(() => AZURE_BLOB.encode({ algorithm: 2, kid: 'https://v.vault.azure.net/keys/k/1', wrapped: seq(256, 0) }), {
    instanceOf: RangeError,
  });
});

// Blobs sealed by the providers before the shared formats existed.
const LOCAL_FIXTURE = {
  master: '0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20',
  keyId: '95b3165a17a62fcc',
  blob: '4c4b0195b3165a17a62fcc20b87ec689ed8d07f7ae9f0704f61a239cfbbd759641d5c26b874a1e06f806518898c518f1d0dc223aff6da3ee6c03a2feeeb219785e5429a3cb8ea429',
};
const PKCS11_FIXTURE = {
  /** CKA_VALUE and CKA_ID of the master key the blob was made under. */
  key: '404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f',
  keyId: '00112233445566778899aabbccddeeff',
  blob: '5048011000112233445566778899aabbccddeeff20fce0df2c26ca1fbf75d5fa95e9730bbe47ea937c47696f3be572ddf5834f21e0bebac562e36c2a44de5966aff5cfaa3cd1acbe49df62d9739ab4270a',
};

test('a local blob sealed before the shared format still unwraps', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'kms-blob-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  await mkdir(join(root, 'node_1'), { mode: 0o700 });
  await writeFile(join(root, 'node_1', 'master.key'), Buffer.from(LOCAL_FIXTURE.master, 'hex'), { mode: 0o600 });
  await chmod(join(root, 'node_1', 'master.key'), 0o600);
  const kms = await openLocalKms({ root, nodeId: 'node_1' });
  t.teardown(() => kms.close());
  const blob = Buffer.from(LOCAL_FIXTURE.blob, 'hex');
  t.is(kms.keyId, LOCAL_FIXTURE.keyId);
  t.is(kms.keyIdOf(blob), LOCAL_FIXTURE.keyId);
  t.is(hex(await kms.unwrapKey(blob, ctx)), hex(DATA_KEY));
  t.is(hex(await kms.unwrapKey(await kms.wrapKey(DATA_KEY, ctx), ctx)), hex(DATA_KEY), 'and new blobs round-trip');
});

test('a PKCS#11 blob sealed before the shared format still unwraps', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'kms-blob-hsm-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const token = await createSoftHsmToken(dir, { label: 'blob-fixture', pin: '12345678' });
  const options = { module: token.module, tokenLabel: 'blob-fixture', pin: '12345678' };
  const p = pkcs11Binding();
  await withPkcs11Session(options, (lib, session) =>
    lib.C_CreateObject(session, [
      { type: p.CKA_CLASS, value: p.CKO_SECRET_KEY },
      { type: p.CKA_KEY_TYPE, value: p.CKK_AES },
      { type: p.CKA_VALUE, value: Buffer.from(PKCS11_FIXTURE.key, 'hex') },
      { type: p.CKA_TOKEN, value: true },
      { type: p.CKA_PRIVATE, value: true },
      { type: p.CKA_SENSITIVE, value: true },
      { type: p.CKA_EXTRACTABLE, value: false },
      { type: p.CKA_ENCRYPT, value: true },
      { type: p.CKA_DECRYPT, value: true },
      { type: p.CKA_LABEL, value: 'fixture-master' },
      { type: p.CKA_ID, value: Buffer.from(PKCS11_FIXTURE.keyId, 'hex') },
    ]),
  );
  const kms = await openPkcs11Kms({ ...options, keyLabel: 'fixture-master' });
  t.teardown(() => kms.close());
  const blob = Buffer.from(PKCS11_FIXTURE.blob, 'hex');
  t.is(kms.keyIdOf(blob), PKCS11_FIXTURE.keyId);
  t.is(hex(await kms.unwrapKey(blob, ctx)), hex(DATA_KEY));
});

test('AWS, Azure and IBM blobs written before the shared format decode to their fields', (t) => {
  const aws = AWS_BLOB.decode(
    Buffer.from(
      '414b01004b61726e3a6177733a6b6d733a65752d776573742d313a3131313132323232333333333a6b65792f64313432356636662d613737632d346161372d623832382d35313562626664363863343100280102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728',
      'hex',
    ),
  );
  t.deepEqual(
    [aws.arn, hex(aws.ciphertext)],
    ['arn:aws:kms:eu-west-1:111122223333:key/d1425f6f-a77c-4aa7-b828-515bbfd68c41', hex(seq(40, 1))],
  );

  const kid = 'https://mpc-test.vault.azure.net/keys/node-1/0123456789abcdef0123456789abcdef';
  const azureHeader =
    '415a0101004d68747470733a2f2f6d70632d746573742e7661756c742e617a7572652e6e65742f6b6579732f6e6f64652d312f3031323334353637383961626364656630313233343536373839616263646566';
  const azure = AZURE_BLOB.decode(Buffer.from(`${azureHeader}0100${hex(seq(256, 7))}`, 'hex'));
  t.deepEqual([azure.kid, hex(azure.header), hex(azure.wrapped)], [kid, azureHeader, hex(seq(256, 7))]);

  const ibm = IBM_BLOB.decode(
    Buffer.from(
      '494b012436333733333332362d373666362d346133362d383764302d3334323763623266663130352431653664323234642d333863612d346165372d393533622d3463333764663962353935622432613166336334642d303030302d343030302d383030302d3030303030303030303030310030090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f303132333435363738',
      'hex',
    ),
  );
  t.deepEqual(
    [ibm.instanceId, ibm.keyId, ibm.version, hex(ibm.ciphertext)],
    [
      '63733326-76f6-4a36-87d0-3427cb2ff105',
      '1e6d224d-38ca-4ae7-953b-4c37df9b595b',
      '2a1f3c4d-0000-4000-8000-000000000001',
      hex(seq(48, 9)),
    ],
  );
});
