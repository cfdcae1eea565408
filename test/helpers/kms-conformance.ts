/**
 * What every KMS provider must do, as one set of ava tests each provider's test file runs against
 * its own instance: round trip, a fresh blob per wrap, the blob names its key, another context or
 * another node's key refuses to unwrap, any tampered byte is detected, a record sealed by the
 * provider opens only where it belongs, and a closed provider refuses work.
 * @module
 */
import type { TestFn } from 'ava';
import { randomBytes } from 'node:crypto';
import { KmsError, type Kms } from '../../src/kms/kms.js';
import { openRecord, sealRecord } from '../../src/node/storage/envelope.js';
import { StorageError } from '../../src/node/storage/errors.js';

export interface ConformanceSubject {
  /** A provider under test, open. */
  kms: Kms;
  /** The same provider configured with another master key (another node's), if it has one. */
  other?: Kms;
}

const ctx = { node: 'node_1', kind: 'keyshare', id: 'wallet-1' };

/** Register the conformance tests, titled with `name`. `open` is called once per test. */
export function kmsConformance(test: TestFn, name: string, open: () => Promise<ConformanceSubject>): void {
  test(`${name}: wrap then unwrap returns the data key; each wrap is a fresh blob naming the current key`, async (t) => {
    const { kms } = await open();
    const dataKey = randomBytes(32);
    const a = await kms.wrapKey(dataKey, ctx);
    const b = await kms.wrapKey(dataKey, ctx);
    t.notDeepEqual(Buffer.from(a), Buffer.from(b), 'randomised wrapping');
    t.is(kms.keyIdOf(a), kms.keyId);
    t.false(Buffer.from(a).includes(dataKey), 'the data key does not appear in the blob');
    t.deepEqual(Buffer.from(await kms.unwrapKey(a, ctx)), dataKey);
    t.deepEqual(
      Buffer.from(await kms.unwrapKey(b, { id: 'wallet-1', kind: 'keyshare', node: 'node_1' })),
      dataKey,
      'context key order does not matter',
    );
  });

  test(`${name}: another context does not unwrap (node, kind, id, a missing or an extra entry)`, async (t) => {
    const { kms } = await open();
    const wrapped = await kms.wrapKey(randomBytes(32), ctx);
    for (const other of [
      { ...ctx, node: 'node_2' },
      { ...ctx, id: 'wallet-2' },
      { ...ctx, kind: 'aux' },
      { node: 'node_1', kind: 'keyshare' },
      { ...ctx, extra: '' },
    ]) {
      const e = await t.throwsAsync(kms.unwrapKey(wrapped, other), { instanceOf: KmsError }, JSON.stringify(other));
      t.is(e?.code, 'unwrap-failed', JSON.stringify(other));
    }
  });

  test(`${name}: a tampered, truncated or extended blob is refused`, async (t) => {
    const { kms } = await open();
    const wrapped = await kms.wrapKey(randomBytes(32), ctx);
    // Every byte for short blobs; a spread of positions for long ones (RSA-wrapped keys are 300+ bytes).
    const step = Math.max(1, Math.floor(wrapped.length / 48));
    for (let i = 0; i < wrapped.length; i += step) {
      const bad = Uint8Array.from(wrapped);
      bad[i]! ^= 0x01;
      await t.throwsAsync(kms.unwrapKey(bad, ctx), { instanceOf: KmsError }, `byte ${i}`);
    }
    await t.throwsAsync(kms.unwrapKey(wrapped.subarray(0, wrapped.length - 1), ctx), { instanceOf: KmsError });
    await t.throwsAsync(kms.unwrapKey(Uint8Array.from([...wrapped, 0]), ctx), { instanceOf: KmsError });
    await t.throwsAsync(kms.unwrapKey(new Uint8Array(0), ctx), { instanceOf: KmsError });
    t.throws(() => kms.keyIdOf(new Uint8Array(3)), { instanceOf: KmsError });
  });

  test(`${name}: another master key does not unwrap`, async (t) => {
    const { kms, other } = await open();
    if (other === undefined) {
      t.pass('provider has one key per test only');
      return;
    }
    t.not(other.keyId, kms.keyId);
    const wrapped = await kms.wrapKey(randomBytes(32), ctx);
    const e = await t.throwsAsync(other.unwrapKey(wrapped, ctx), { instanceOf: KmsError });
    t.true(e?.code === 'unwrap-failed' || e?.code === 'unknown-key' || e?.code === 'denied', String(e?.code));
  });

  test(`${name}: a sealed record opens only at its own node, kind and id; tampering is detected`, async (t) => {
    const { kms } = await open();
    const plain = randomBytes(200);
    const where = { nodeId: 'node_1', kind: 'keyshare', id: 'w1' };
    const sealed = await sealRecord(kms, where, plain);
    t.false(Buffer.from(sealed).includes(plain.subarray(0, 16)));
    t.deepEqual(Buffer.from(await openRecord(kms, where, sealed)), plain);
    for (const moved of [
      { ...where, nodeId: 'node_2' },
      { ...where, id: 'w2' },
      { ...where, kind: 'aux' },
    ]) {
      const e = await t.throwsAsync(openRecord(kms, moved, sealed), { instanceOf: StorageError });
      t.is(e?.code, 'context-mismatch');
    }
    const bad = Uint8Array.from(sealed);
    bad[bad.length - 20]! ^= 0x80;
    const e = await t.throwsAsync(openRecord(kms, where, bad), { instanceOf: StorageError });
    t.is(e?.code, 'authentication');
  });

  test(`${name}: a closed provider refuses to work`, async (t) => {
    const { kms } = await open();
    const wrapped = await kms.wrapKey(randomBytes(32), ctx);
    await kms.close();
    await t.throwsAsync(kms.unwrapKey(wrapped, ctx), { instanceOf: KmsError });
    await t.throwsAsync(kms.wrapKey(randomBytes(32), ctx), { instanceOf: KmsError });
  });
}
