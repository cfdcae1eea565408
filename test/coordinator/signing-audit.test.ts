/**
 * Every signature goes into the audit log — wallet, digest, signers, the presignature the signers
 * were asked to use, the signature, the request and credential ids — and the signature is
 * returned only once that record is durable; an audit log that cannot be written withholds it.
 */
import test from 'ava';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PresignPool, combinations } from '../../src/coordinator/pool.js';
import { SigningService } from '../../src/coordinator/signing.js';
import { AuditUnavailableError, type AuditSink } from '../../src/coordinator/wallets.js';
import { AuditLog, verifyAuditLog, type AuditEvent } from '../../src/util/audit-log.js';
import { credentialId } from '../../src/util/credential-id.js';
import { Dealer, FakeLink, NODE_IDS, readyCluster, signingNode } from '../helpers/coordinator.js';
import { tempDir } from '../helpers/storage.js';

const WALLET = 'w_signing0';
const DIGEST_HEX = '4b688df40bcedbe641ddb16ff0a1842d9c67ea1c3bf63f3e0471baa664531d1a';
const DIGEST = Uint8Array.from(Buffer.from(DIGEST_HEX, 'hex'));
const TOKEN = 'Bearer wallet_dev_token_12345';

function setup(audit: AuditSink, defaultCredential?: string) {
  const dealer = new Dealer();
  const links = NODE_IDS.map((id, k) => new FakeLink(id, k, signingNode(dealer)));
  const cluster = readyCluster(links, [0, 1, 2], 'ab'.repeat(32));
  const pool = new PresignPool({
    presign: async (w, s) => dealer.entry(w, s),
    targetSize: 0,
    signerSets: () => combinations([0, 1, 2], 2),
  });
  const signing = new SigningService({
    cluster,
    pool,
    publicKeyOf: (w) => (w === WALLET ? dealer.publicKeyHex : undefined),
    audit,
    ...(defaultCredential === undefined ? {} : { defaultContext: { credentialId: defaultCredential } }),
  });
  const presignatureIds = (): string[] => [
    ...new Set(links.flatMap((l) => l.requests.flatMap((r) => (r.method === 'sign' ? [r.presignatureId] : [])))),
  ];
  return { signing, pool, presignatureIds };
}

test('each signature is in the audit log when sign resolves, with its presignature, request and credential ids', async (t) => {
  const path = join(await tempDir(t), 'audit.jsonl');
  const audit = await AuditLog.open(path);
  t.teardown(() => audit.close());
  const cred = credentialId(TOKEN);
  const { signing, pool, presignatureIds } = setup(audit, cred);
  t.teardown(() => pool.stop());
  const first = await signing.sign(WALLET, DIGEST, { requestId: 'req_a1' });
  const text = await readFile(path, 'utf8'); // as soon as it resolved
  const events = text
    .split('\n')
    .slice(0, -1)
    .map((l) => (JSON.parse(l) as { event: AuditEvent }).event);
  t.deepEqual(events, [
    {
      type: 'signature',
      walletId: WALLET,
      digest: DIGEST_HEX,
      signers: [...first.signers],
      presignatureId: presignatureIds()[0] as string,
      signature: first.signature,
      requestId: 'req_a1',
      credentialId: cred,
    },
  ]);
  const second = await signing.sign(WALLET, DIGEST, { requestId: 'req_a2', credentialId: 'cred_other' });
  const all = (await readFile(path, 'utf8'))
    .split('\n')
    .slice(0, -1)
    .map((l) => (JSON.parse(l) as { event: AuditEvent }).event);
  t.like(all[1], {
    requestId: 'req_a2',
    credentialId: 'cred_other',
    signature: second.signature,
    presignatureId: presignatureIds()[1],
  });
  t.not(all[0]?.['presignatureId'], all[1]?.['presignatureId']);
  t.false((await readFile(path, 'utf8')).includes('wallet_dev_token'), 'never the token');
  t.like(await verifyAuditLog(path), { ok: true, lines: 2 });
});

test('the signature is returned only after its audit record is durable', async (t) => {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const appended: AuditEvent[] = [];
  const slow: AuditSink = {
    append: async (e) => {
      appended.push(e);
      await gate;
    },
  };
  const { signing, pool } = setup(slow);
  t.teardown(() => pool.stop());
  let resolved = false;
  const p = signing.sign(WALLET, DIGEST).then((r) => {
    resolved = true;
    return r;
  });
  while (appended.length === 0) await new Promise((r) => setImmediate(r));
  await new Promise((r) => setTimeout(r, 50));
  t.false(resolved, 'held while the audit append is under way');
  release();
  const sig = await p;
  t.is(appended[0]?.['signature'], sig.signature);
});

test('an audit log that cannot be written withholds the signature (503)', async (t) => {
  const { signing, pool } = setup({ append: () => Promise.reject(new Error('EIO: i/o error')) });
  t.teardown(() => pool.stop());
  const e = await t.throwsAsync(signing.sign(WALLET, DIGEST), { instanceOf: AuditUnavailableError });
  t.is(e?.status, 503);
  t.is(e?.problem, 'audit-unavailable');
  t.notRegex(e?.message ?? '', /[0-9a-f]{64}/, 'no signature in the error');
});
