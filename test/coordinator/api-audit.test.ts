/**
 * Audit completeness through the HTTPS API: the wallet created and every signature made by a
 * request carry that request's id (the client's X-Request-Id, or one the API made) and the public
 * id of the credential that authenticated it, and the answer echoes the request id — so a wallet
 * server can tie each audit record to its own request.
 */
import test from 'ava';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createApi } from '../../src/coordinator/api.js';
import { CoordinatorMetrics } from '../../src/coordinator/metrics.js';
import { combinations, PresignPool } from '../../src/coordinator/pool.js';
import { WalletRegistry } from '../../src/coordinator/registry.js';
import { SigningService } from '../../src/coordinator/signing.js';
import { WalletService } from '../../src/coordinator/wallets.js';
import { AuditLog, verifyAuditLog, type AuditEvent } from '../../src/util/audit-log.js';
import { credentialId } from '../../src/util/credential-id.js';
import {
  Dealer,
  FakeLink,
  FakeRunner,
  NODE_IDS,
  keygenDone,
  readyCluster,
  signingNode,
} from '../helpers/coordinator.js';
import { httpsCall, serveHttps } from '../helpers/https-api.js';
import { tempDir } from '../helpers/storage.js';
import { makePki, type Pki } from '../helpers/transport.js';

const TOKEN = 'Bearer wallet_dev_token_12345';
const DIGEST = '9c22ff5f21f0b81b113e63f7db6da94fedef11b2119b4088b89664fb9a3cb658';

let pki: Pki;
test.before(async () => {
  pki = await makePki();
});
test.after.always(() => pki.cleanup());

test('audit records of a wallet and a signature made through the HTTPS API carry the request id and the credential id', async (t) => {
  const dir = await tempDir(t);
  const auditPath = join(dir, 'audit.jsonl');
  const audit = await AuditLog.open(auditPath);
  const registry = await WalletRegistry.open(join(dir, 'wallets.jsonl'));
  const dealer = new Dealer();
  const links = NODE_IDS.map((id, k) => new FakeLink(id, k, signingNode(dealer)));
  const cluster = readyCluster(links);
  const runner = new FakeRunner((spec) => keygenDone(spec, dealer.publicKeyHex));
  const metrics = new CoordinatorMetrics();
  const wallets = new WalletService({ registry, cluster, runner, audit });
  const pool = new PresignPool({
    presign: async (w, s) => dealer.entry(w, s),
    targetSize: 0,
    signerSets: () => combinations([0, 1, 2], 2),
  });
  const signer = new SigningService({ cluster, pool, publicKeyOf: (w) => wallets.publicKeyOf(w), metrics, audit });
  const cred = credentialId(TOKEN);
  const app = createApi({
    wallets,
    signer,
    health: () => cluster.health(),
    metrics,
    authorization: TOKEN,
    credentialId: cred,
  });
  const server = await serveHttps(app, pki);
  t.teardown(async () => {
    await server.close();
    await pool.stop();
    await registry.close();
    await audit.close();
  });
  const call = (method: string, path: string, headers: Record<string, string>, body?: unknown) =>
    httpsCall(server.url, pki.publicCaPem, method, path, {
      headers: { authorization: TOKEN, 'content-type': 'application/json', ...headers },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });

  const created = await call('POST', '/v1/wallets', { 'x-request-id': 'wallet-server-create-1' }, { label: 'audited' });
  t.is(created.status, 201, created.text);
  t.is(created.headers.get('x-request-id'), 'wallet-server-create-1', 'the client’s id is echoed');
  const walletId = (created.json as { walletId: string }).walletId;

  const signed = await call(
    'POST',
    `/v1/wallets/${walletId}/sign`,
    { 'x-request-id': '6f1c2a9e-0b7d-4c1e-9a55-3c2d1e0f9a8b' },
    { digest: DIGEST },
  );
  t.is(signed.status, 200, signed.text);
  t.is(signed.headers.get('x-request-id'), '6f1c2a9e-0b7d-4c1e-9a55-3c2d1e0f9a8b');

  // no id, or one that could break a log line: the API makes one and answers it
  const unnamed = await call(
    'POST',
    `/v1/wallets/${walletId}/sign`,
    { 'x-request-id': 'bad id\twith tab' },
    { digest: DIGEST },
  );
  t.is(unnamed.status, 200, unnamed.text);
  const made = unnamed.headers.get('x-request-id') ?? '';
  t.regex(made, /^req_[A-Za-z0-9_-]{22}$/);

  const text = await readFile(auditPath, 'utf8');
  const events = text
    .split('\n')
    .slice(0, -1)
    .map((l) => (JSON.parse(l) as { event: AuditEvent }).event);
  t.is(events.length, 3);
  t.like(events[0], { type: 'wallet.created', walletId, requestId: 'wallet-server-create-1', credentialId: cred });
  t.like(events[1], {
    type: 'signature',
    walletId,
    digest: DIGEST,
    requestId: '6f1c2a9e-0b7d-4c1e-9a55-3c2d1e0f9a8b',
    credentialId: cred,
    signature: (signed.json as { signature: string }).signature,
  });
  t.like(events[2], { type: 'signature', walletId, requestId: made, credentialId: cred });
  for (const e of events.slice(1)) t.regex(e['presignatureId'] as string, /^[0-9a-f]{64}$/);
  t.false(text.includes('wallet_dev_token'), 'never the token');
  t.like(await verifyAuditLog(auditPath), { ok: true, lines: 3 });

  // an error answer carries the id too
  const missing = await call('POST', '/v1/wallets/w_missing000/sign', { 'x-request-id': 'lost-1' }, { digest: DIGEST });
  t.is(missing.status, 404);
  t.is(missing.headers.get('x-request-id'), 'lost-1');
});
