/**
 * The development PKI: two CAs that never meet (internal for the coordinator↔node channel, public
 * for the wallet API), what each certificate binds (CN, SAN URI, 127.0.0.1, localhost, its one
 * TLS usage), CA keys kept out of the certificate directory, key file modes, idempotence and
 * --force, refusal of inconsistent directories and of the older single-CA layout, identity
 * parsing of odd certificates, and the start-up checks of loadTlsMaterial (own certificate, own
 * usage, no CA key within reach).
 */
import test from 'ava';
import { X509Certificate } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  certificatePaths,
  createCertificateAuthority,
  generateDevCertificates,
  issueCertificate,
  loadCertificateAuthority,
  pkiLayout,
  type PkiLayout,
} from '../../src/transport/certs.js';
import { IdentityError } from '../../src/transport/errors.js';
import {
  CLIENT_AUTH,
  COORDINATOR,
  SERVER_AUTH,
  coordinatorIdentity,
  formatIdentity,
  identityFromCertificate,
  identityName,
  identityUri,
  nodeIdentity,
  parseIdentityUri,
  sameIdentity,
} from '../../src/transport/identity.js';
import { CaKeyExposedError, loadPublicApiMaterial, loadTlsMaterial } from '../../src/transport/tls.js';
import { subtle, x509 } from '../../src/transport/x509.js';

/** A scratch project directory: certs/ (what services read) and certs-ca/ (CA keys) inside it. */
async function tempLayout(t: { teardown: (f: () => unknown) => void }): Promise<PkiLayout> {
  const root = await mkdtemp(join(tmpdir(), 'mpc-certs-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  return pkiLayout(join(root, 'certs'), join(root, 'certs-ca'));
}

const ids = ['node_1', 'node_2', 'node_3'];

/** Every file under `dir`, recursively. */
async function allFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(e.parentPath, e.name);
    if (e.isDirectory()) out.push(...(await allFiles(p)));
    else out.push(p);
  }
  return out;
}

test('an internal CA with one certificate per identity and its one usage; a public CA with the API certificate', async (t) => {
  const l = await tempLayout(t);
  const result = await generateDevCertificates({
    dir: l.dir,
    caDir: l.caDir,
    nodeIds: ids,
    hosts: { node_2: ['10.0.2.12', 'node2.example.com'] },
    publicHosts: ['wallet.example.com'],
  });
  t.is(result.created.length, 14);
  t.deepEqual(result.kept, []);
  const ca = new X509Certificate(await readFile(l.internalCa.cert));
  const publicCa = new X509Certificate(await readFile(l.publicCa.cert));
  t.true(ca.ca);
  t.true(publicCa.ca);
  t.true(ca.verify(ca.publicKey));
  t.false(ca.publicKey.equals(publicCa.publicKey), 'two different CAs');
  for (const identity of [COORDINATOR, ...ids.map(nodeIdentity)]) {
    const p = certificatePaths(l.dir, identity);
    const cert = new X509Certificate(await readFile(p.cert));
    t.false(cert.ca);
    t.true(cert.verify(ca.publicKey), `${p.cert} chains to the internal CA`);
    t.false(cert.verify(publicCa.publicKey), `${p.cert} does not chain to the public CA`);
    t.true(cert.checkIssued(ca));
    t.true(sameIdentity(identityFromCertificate(cert.raw), identity));
    t.true(cert.subjectAltName!.includes(`URI:${identityUri(identity)}`));
    t.true(cert.subjectAltName!.includes('IP Address:127.0.0.1'));
    t.true(cert.subjectAltName!.includes('DNS:localhost'));
    t.truthy(cert.checkIP('127.0.0.1'));
    // A node only listens, the coordinator only dials.
    t.deepEqual(cert.keyUsage, [identity.kind === 'node' ? SERVER_AUTH : CLIENT_AUTH], `${p.cert} usage`);
    t.is(cert.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
    t.is((await stat(p.key)).mode & 0o777, 0o600, `${p.key} is 0600`);
    const key = await readFile(p.key, 'utf8');
    t.regex(key, /^-----BEGIN PRIVATE KEY-----/);
  }
  const api = new X509Certificate(await readFile(l.publicApi.cert));
  t.true(api.verify(publicCa.publicKey));
  t.false(api.verify(ca.publicKey));
  t.deepEqual(api.keyUsage, [SERVER_AUTH]);
  t.truthy(api.checkHost('localhost'));
  t.truthy(api.checkHost('wallet.example.com'));
  t.truthy(api.checkIP('127.0.0.1'));
  t.notRegex(api.subjectAltName!, /urn:mpc-engine/, 'the API certificate names no MPC Engine identity');
  t.is((await stat(l.publicApi.key)).mode & 0o777, 0o600);

  // The CA keys are beside the certificate directory, private, and nowhere in it.
  t.is((await stat(l.caDir)).mode & 0o777, 0o700);
  t.deepEqual((await readdir(l.caDir)).sort(), ['internal-ca.key', 'public-ca.key']);
  for (const k of [l.internalCa.key, l.publicCa.key]) t.is((await stat(k)).mode & 0o777, 0o600, `${k} is 0600`);
  const caKeys = [await readFile(l.internalCa.key), await readFile(l.publicCa.key)];
  for (const f of await allFiles(l.dir)) {
    const bytes = await readFile(f);
    t.false(
      caKeys.some((k) => k.equals(bytes)),
      `${f} is not a CA key`,
    );
  }
  await t.notThrowsAsync(
    loadTlsMaterial(
      { ca: l.internalCa.cert, ...certificatePaths(l.dir, nodeIdentity('node_1')) },
      nodeIdentity('node_1'),
    ),
  );
  const n2 = new X509Certificate(await readFile(join(l.dir, 'node_2.crt')));
  t.truthy(n2.checkIP('10.0.2.12'));
  t.truthy(n2.checkHost('node2.example.com'));
});

test('idempotent: existing files are kept, a new node id gets only its own pair; --force replaces all', async (t) => {
  const l = await tempLayout(t);
  const dir = l.dir;
  await generateDevCertificates({ dir, caDir: l.caDir, nodeIds: ids });
  const before = await readFile(join(dir, 'node_1.key'));
  const caBefore = await readFile(join(dir, 'ca.crt'));
  const apiBefore = await readFile(l.publicApi.key);

  const again = await generateDevCertificates({ dir, caDir: l.caDir, nodeIds: ids });
  t.deepEqual(again.created, []);
  t.is(again.kept.length, 14);
  t.true((await readFile(join(dir, 'node_1.key'))).equals(before));
  t.true((await readFile(l.publicApi.key)).equals(apiBefore));

  const more = await generateDevCertificates({ dir, caDir: l.caDir, nodeIds: [...ids, 'node_4'] });
  t.deepEqual(more.created, [join(dir, 'node_4.crt'), join(dir, 'node_4.key')]);
  const n4 = new X509Certificate(await readFile(join(dir, 'node_4.crt')));
  t.true(n4.verify(new X509Certificate(caBefore).publicKey), 'issued by the existing CA');

  const forced = await generateDevCertificates({ dir, caDir: l.caDir, nodeIds: ids, force: true });
  t.is(forced.created.length, 14);
  t.false((await readFile(join(dir, 'ca.crt'))).equals(caBefore));
  t.false((await readFile(join(dir, 'node_1.key'))).equals(before));
  t.false((await readFile(l.publicApi.key)).equals(apiBefore));
  t.is((await stat(join(dir, 'node_1.key'))).mode & 0o777, 0o600);
});

test('a coordinator id added to COORDINATOR_IDS gets its own clientAuth certificate under the existing CA, and only it', async (t) => {
  const l = await tempLayout(t);
  const dir = l.dir;
  await generateDevCertificates({ dir, caDir: l.caDir, nodeIds: ids });
  const files = await allFiles(dir);
  const contents = new Map(await Promise.all(files.map(async (f) => [f, await readFile(f)] as const)));

  const more = await generateDevCertificates({
    dir,
    caDir: l.caDir,
    nodeIds: ids,
    coordinatorIds: ['coordinator', 'coordinator_2'],
  });
  t.deepEqual(more.created, [join(dir, 'coordinator_2.crt'), join(dir, 'coordinator_2.key')]);
  for (const [f, bytes] of contents) t.true((await readFile(f)).equals(bytes), `${f} unchanged`);
  const second = coordinatorIdentity('coordinator_2');
  const cert = new X509Certificate(await readFile(join(dir, 'coordinator_2.crt')));
  t.true(cert.verify(new X509Certificate(await readFile(l.internalCa.cert)).publicKey), 'issued by the existing CA');
  t.true(sameIdentity(identityFromCertificate(cert.raw), second));
  t.false(sameIdentity(identityFromCertificate(cert.raw), COORDINATOR));
  t.true(cert.subjectAltName!.includes('URI:urn:mpc-engine:coordinator:coordinator_2'));
  t.regex(cert.subject, /^CN=coordinator_2$/m);
  t.deepEqual(cert.keyUsage, [CLIENT_AUTH]);
  await t.notThrowsAsync(loadTlsMaterial({ ca: l.internalCa.cert, ...certificatePaths(dir, second) }, second));
  // the default coordinator's certificate does not stand for the second one, nor the reverse
  await t.throwsAsync(loadTlsMaterial({ ca: l.internalCa.cert, ...certificatePaths(dir, COORDINATOR) }, second));
  await t.throwsAsync(loadTlsMaterial({ ca: l.internalCa.cert, ...certificatePaths(dir, second) }, COORDINATOR));

  const again = await generateDevCertificates({
    dir,
    caDir: l.caDir,
    nodeIds: ids,
    coordinatorIds: ['coordinator', 'coordinator_2'],
  });
  t.deepEqual(again.created, []);
  // a coordinator id that is also a node id would share its files
  await t.throwsAsync(
    generateDevCertificates({ dir, caDir: l.caDir, nodeIds: ids, coordinatorIds: ['coordinator', 'node_2'] }),
    { instanceOf: RangeError, message: /"node_2" is both a coordinator id and a node id/ },
  );
});

test('coordinator identities: the default keeps its URI and CN; others are coordinator:<id>; one URI form each', (t) => {
  t.is(identityUri(COORDINATOR), 'urn:mpc-engine:coordinator');
  t.is(identityName(COORDINATOR), 'coordinator');
  t.is(formatIdentity(COORDINATOR), 'coordinator');
  const second = coordinatorIdentity('coordinator_2');
  t.is(identityUri(second), 'urn:mpc-engine:coordinator:coordinator_2');
  t.is(identityName(second), 'coordinator_2');
  t.is(formatIdentity(second), 'coordinator coordinator_2');
  for (const identity of [COORDINATOR, second, coordinatorIdentity('c-3'), nodeIdentity('node_1')])
    t.true(sameIdentity(parseIdentityUri(identityUri(identity))!, identity), identityUri(identity));
  t.false(sameIdentity(second, COORDINATOR));
  t.false(sameIdentity(coordinatorIdentity('node_1'), nodeIdentity('node_1')), 'kinds differ');
  for (const uri of [
    'urn:mpc-engine:coordinator:coordinator', // the default's one URI is the bare one
    'urn:mpc-engine:coordinator:',
    'urn:mpc-engine:coordinator:ca',
    'urn:mpc-engine:coordinator:a b',
    'urn:mpc-engine:coordinator:_x',
    'urn:mpc-engine:coordinator:x:y',
  ])
    t.is(parseIdentityUri(uri), undefined, uri);
  for (const id of ['ca', '', 'a/b', '-x', 'x'.repeat(65)])
    t.throws(() => coordinatorIdentity(id), { instanceOf: RangeError }, id);
});

test('inconsistent directories are refused, naming the file, and left untouched', async (t) => {
  const l = await tempLayout(t);
  const dir = l.dir;
  const gen = () => generateDevCertificates({ dir, caDir: l.caDir, nodeIds: ids });
  await gen();

  // Keys swapped between two identities.
  const k1 = await readFile(join(dir, 'node_1.key'));
  await writeFile(join(dir, 'node_1.key'), await readFile(join(dir, 'node_3.key')));
  await t.throwsAsync(gen(), { message: /node_1\.key is not the key of .*node_1\.crt/ });
  await writeFile(join(dir, 'node_1.key'), k1);

  await unlink(join(dir, 'node_2.crt'));
  await t.throwsAsync(gen(), { message: /node_2\.key exists but .*node_2\.crt does not/ });

  // A certificate from another CA under this directory's name.
  const other = await createCertificateAuthority();
  const stranger = await issueCertificate(other, nodeIdentity('node_2'));
  await writeFile(join(dir, 'node_2.crt'), stranger.certPem);
  await t.throwsAsync(gen(), { message: /node_2\.crt was not issued by the CA/ });

  // A certificate for someone else under this file name.
  const ca = await loadCertificateAuthority(
    await readFile(l.internalCa.cert, 'utf8'),
    await readFile(l.internalCa.key, 'utf8'),
  );
  await writeFile(join(dir, 'node_2.crt'), (await issueCertificate(ca, nodeIdentity('node_3'))).certPem);
  await t.throwsAsync(gen(), { message: /node_2\.crt does not name urn:mpc-engine:node:node_2/ });
  // Its own identity, but a usage it must not have (and its key).
  const dual = await issueCertificate(ca, nodeIdentity('node_2'), { extendedKeyUsages: ['serverAuth', 'clientAuth'] });
  await writeFile(join(dir, 'node_2.crt'), dual.certPem);
  await writeFile(join(dir, 'node_2.key'), dual.keyPem);
  await t.throwsAsync(gen(), { message: /node_2\.crt has extended key usages .* run with --force/ });
  const fine = await issueCertificate(ca, nodeIdentity('node_2'));
  await writeFile(join(dir, 'node_2.crt'), fine.certPem);
  await writeFile(join(dir, 'node_2.key'), fine.keyPem);
  await t.notThrowsAsync(gen());

  // The API certificate from the internal CA (the domains must not mix).
  const api = await readFile(l.publicApi.cert);
  await writeFile(l.publicApi.cert, fine.certPem);
  await t.throwsAsync(gen(), { message: /api\.crt was not issued by the CA/ });
  await writeFile(l.publicApi.cert, api);

  // Leaves without their CA.
  const caCert = await readFile(l.internalCa.cert);
  await unlink(l.internalCa.cert);
  await unlink(l.internalCa.key);
  await t.throwsAsync(gen(), { message: /exists but the CA does not/ });
  await t.throwsAsync(stat(l.internalCa.cert), undefined, 'no CA was written');
  t.truthy(caCert);

  await t.throwsAsync(generateDevCertificates({ dir, caDir: l.caDir, nodeIds: ['coordinator'] }), {
    instanceOf: RangeError,
  });
  await t.throwsAsync(generateDevCertificates({ dir, caDir: l.caDir, nodeIds: ['../x'] }), { instanceOf: RangeError });
  await t.throwsAsync(issueCertificate(ca, nodeIdentity('node_1'), { hosts: ['bad host'] }), {
    instanceOf: RangeError,
  });
});

test('the CA key directory may not be the certificate directory or inside it', async (t) => {
  const l = await tempLayout(t);
  await t.throwsAsync(generateDevCertificates({ dir: l.dir, caDir: l.dir, nodeIds: ids }), {
    message: /must be outside/,
  });
  await t.throwsAsync(generateDevCertificates({ dir: l.dir, caDir: join(l.dir, 'ca'), nodeIds: ids }), {
    message: /must be outside/,
  });
  await t.throwsAsync(generateDevCertificates({ dir: l.dir, caDir: join(l.dir, '..ca'), nodeIds: ids }), {
    message: /must be outside/,
  });
  await t.throwsAsync(stat(l.dir), undefined, 'nothing was written');
});

test('the older layout (CA key among the certificates, dual-use leaves) is refused; --force replaces it and deletes that key', async (t) => {
  const l = await tempLayout(t);
  await mkdir(l.dir, { recursive: true });
  // The older layout: one CA, its key in the directory the services read, leaves for both usages.
  const old = await createCertificateAuthority();
  await writeFile(join(l.dir, 'ca.crt'), old.certPem);
  await writeFile(join(l.dir, 'ca.key'), old.keyPem, { mode: 0o600 });
  for (const identity of [COORDINATOR, ...ids.map(nodeIdentity)]) {
    const leaf = await issueCertificate(old, identity, { extendedKeyUsages: ['serverAuth', 'clientAuth'] });
    const p = certificatePaths(l.dir, identity);
    await writeFile(p.cert, leaf.certPem);
    await writeFile(p.key, leaf.keyPem, { mode: 0o600 });
  }
  await t.throwsAsync(generateDevCertificates({ dir: l.dir, caDir: l.caDir, nodeIds: ids }), {
    message: /ca\.key is a CA private key in the directory the services read/,
  });
  // A service started on it refuses too.
  await t.throwsAsync(
    loadTlsMaterial(
      { ca: join(l.dir, 'ca.crt'), ...certificatePaths(l.dir, nodeIdentity('node_1')) },
      nodeIdentity('node_1'),
    ),
    { instanceOf: CaKeyExposedError },
  );

  const forced = await generateDevCertificates({ dir: l.dir, caDir: l.caDir, nodeIds: ids, force: true });
  t.deepEqual(forced.removed, [join(l.dir, 'ca.key')]);
  await t.throwsAsync(stat(join(l.dir, 'ca.key')), { code: 'ENOENT' });
  t.false((await readFile(join(l.dir, 'ca.crt'), 'utf8')) === old.certPem);
  await t.notThrowsAsync(
    loadTlsMaterial(
      { ca: join(l.dir, 'ca.crt'), ...certificatePaths(l.dir, nodeIdentity('node_1')) },
      nodeIdentity('node_1'),
    ),
  );
});

test('loadTlsMaterial refuses a CA private key anywhere it reads, under any name', async (t) => {
  const l = await tempLayout(t);
  await generateDevCertificates({ dir: l.dir, caDir: l.caDir, nodeIds: ids });
  const node1 = { ca: l.internalCa.cert, ...certificatePaths(l.dir, nodeIdentity('node_1')) };
  const coordinator = { ca: l.internalCa.cert, ...certificatePaths(l.dir, COORDINATOR) };
  await t.notThrowsAsync(loadTlsMaterial(node1, nodeIdentity('node_1')));
  const cases: [from: string, to: string][] = [
    [l.internalCa.key, join(l.dir, 'backup.pem')], // the internal CA's key, renamed
    [l.publicCa.key, join(l.dir, 'public', 'api-ca.key')], // the public CA's key, one level down
    [l.internalCa.key, join(l.dir, 'ca.key')], // the older layout's name
  ];
  for (const [from, to] of cases) {
    await copyFile(from, to);
    const e = await t.throwsAsync(
      loadTlsMaterial(node1, nodeIdentity('node_1')),
      { instanceOf: CaKeyExposedError },
      to,
    );
    t.true(e.message.startsWith(to), e.message);
    t.notRegex(e.message, /PRIVATE KEY/);
    await t.throwsAsync(loadTlsMaterial(coordinator, COORDINATOR), { instanceOf: CaKeyExposedError });
    await unlink(to);
  }
  // Not a CA key under a CA-ish name: fine (only a file named ca.key is refused by name).
  await copyFile(join(l.dir, 'node_2.key'), join(l.dir, 'internal-ca.pem'));
  await t.notThrowsAsync(loadTlsMaterial(node1, nodeIdentity('node_1')));
});

test("loadTlsMaterial refuses a certificate without exactly its role's usage", async (t) => {
  const l = await tempLayout(t);
  await generateDevCertificates({ dir: l.dir, caDir: l.caDir, nodeIds: ids });
  const ca = await loadCertificateAuthority(
    await readFile(l.internalCa.cert, 'utf8'),
    await readFile(l.internalCa.key, 'utf8'),
  );
  const cases: [identity: typeof COORDINATOR, usages: ('serverAuth' | 'clientAuth')[], message: RegExp][] = [
    [
      COORDINATOR,
      ['serverAuth', 'clientAuth'],
      /exactly the extended key usage clientAuth .*coordinator is a TLS client only/,
    ],
    [COORDINATOR, ['serverAuth'], /clientAuth/],
    [
      nodeIdentity('node_1'),
      ['clientAuth'],
      /exactly the extended key usage serverAuth .*node node_1 is a TLS server only/,
    ],
    [nodeIdentity('node_1'), ['serverAuth', 'clientAuth'], /serverAuth/],
  ];
  for (const [identity, usages, message] of cases) {
    const p = certificatePaths(l.dir, identity);
    const leaf = await issueCertificate(ca, identity, { extendedKeyUsages: usages });
    await writeFile(p.cert, leaf.certPem);
    await writeFile(p.key, leaf.keyPem);
    await t.throwsAsync(
      loadTlsMaterial({ ca: l.internalCa.cert, ...p }, identity),
      { instanceOf: IdentityError, message },
      `${usages.join('+')}`,
    );
  }
});

test('loadPublicApiMaterial takes the API certificate and refuses internal ones, a wrong key and a CA key nearby', async (t) => {
  const l = await tempLayout(t);
  await generateDevCertificates({ dir: l.dir, caDir: l.caDir, nodeIds: ids });
  const m = await loadPublicApiMaterial(l.publicApi);
  t.true(m.cert.equals(await readFile(l.publicApi.cert)));
  await t.throwsAsync(loadPublicApiMaterial(certificatePaths(l.dir, COORDINATOR)), {
    message: /coordinator\.crt is not valid for TLS server use/,
  });
  await t.throwsAsync(loadPublicApiMaterial(certificatePaths(l.dir, nodeIdentity('node_1'))), {
    message: /node_1\.crt names an MPC Engine identity/,
  });
  await t.throwsAsync(loadPublicApiMaterial({ cert: l.publicApi.cert, key: join(l.dir, 'node_1.key') }), {
    message: /node_1\.key is not the private key of .*api\.crt/,
  });
  await copyFile(l.publicCa.key, join(l.dir, 'public', 'ca.key'));
  await t.throwsAsync(loadPublicApiMaterial(l.publicApi), { instanceOf: CaKeyExposedError });
});

/** A leaf with arbitrary subject and SAN, signed by a fresh CA, for identity-parsing tests. */
async function oddCertificate(subject: string, uris: string[]): Promise<Uint8Array> {
  const ca = await createCertificateAuthority();
  const keys = await subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
  const cert = await x509.X509CertificateGenerator.create({
    subject,
    issuer: ca.cert.subject,
    publicKey: keys.publicKey as never,
    signingKey: ca.signingKey,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    extensions: uris.length
      ? [new x509.SubjectAlternativeNameExtension(uris.map((value) => ({ type: 'url' as const, value })))]
      : [],
  });
  return new Uint8Array(cert.rawData);
}

test('identity parsing refuses certificates that name none, several, malformed or mismatched identities', async (t) => {
  t.true(
    sameIdentity(
      identityFromCertificate(await oddCertificate('CN=node_1', ['urn:mpc-engine:node:node_1'])),
      nodeIdentity('node_1'),
    ),
  );
  t.true(
    sameIdentity(
      identityFromCertificate(
        await oddCertificate('CN=coordinator', ['urn:mpc-engine:coordinator', 'https://x.example']),
      ),
      COORDINATOR,
    ),
  );
  const cases: [string, string[], RegExp][] = [
    ['CN=node_1', [], /names 0/],
    ['CN=node_1', ['urn:mpc-engine:node:node_1', 'urn:mpc-engine:coordinator'], /names 2/],
    ['CN=node_1', ['urn:mpc-engine:node:node 1'], /malformed/],
    ['CN=ca', ['urn:mpc-engine:node:ca'], /malformed/],
    ['CN=node_2', ['urn:mpc-engine:node:node_1'], /CN "node_2" does not match/],
    ['CN=coordinator', ['urn:mpc-engine:coordinator:x'], /CN "coordinator" does not match/],
    ['CN=x', ['urn:mpc-engine:coordinator'], /CN "x" does not match/],
    ['CN=coordinator', ['urn:mpc-engine:coordinator:coordinator'], /malformed/],
    ['CN=x', ['urn:mpc-engine:coordinator', 'urn:mpc-engine:coordinator:x'], /names 2/],
    ['O=MPC Engine', ['urn:mpc-engine:node:node_1'], /CN "" does not match/],
  ];
  t.throws(() => identityFromCertificate(new Uint8Array(0)), {
    instanceOf: IdentityError,
    message: /cannot be parsed/,
  });
  t.throws(() => identityFromCertificate(Buffer.from('not a certificate')), { instanceOf: IdentityError });
  for (const [subject, uris, message] of cases) {
    const der = await oddCertificate(subject, uris);
    t.throws(
      () => identityFromCertificate(der),
      { instanceOf: IdentityError, message },
      `${subject} ${uris.join(' ')}`,
    );
  }
  t.is(parseIdentityUri('urn:mpc-engine:node:'), undefined);
  t.true(
    sameIdentity(
      identityFromCertificate(await oddCertificate('CN=coordinator_2', ['urn:mpc-engine:coordinator:coordinator_2'])),
      coordinatorIdentity('coordinator_2'),
    ),
  );
  t.throws(() => nodeIdentity('node/1'), { instanceOf: RangeError });
});

test('loadTlsMaterial checks that a process holds its own certificate and names missing files', async (t) => {
  const l = await tempLayout(t);
  const dir = l.dir;
  await generateDevCertificates({ dir, caDir: l.caDir, nodeIds: ids });
  const paths = (name: string) => ({
    ca: join(dir, 'ca.crt'),
    cert: join(dir, `${name}.crt`),
    key: join(dir, `${name}.key`),
  });
  const m = await loadTlsMaterial(paths('node_1'), nodeIdentity('node_1'));
  t.regex(String(m.cert), /BEGIN CERTIFICATE/);
  await t.throwsAsync(loadTlsMaterial(paths('node_2'), nodeIdentity('node_1')), {
    instanceOf: IdentityError,
    message: /node_2\.crt is the certificate of node node_2, not of node node_1/,
  });
  const e = await t.throwsAsync(loadTlsMaterial(paths('node_9')));
  t.regex(e.message, /node_9\.crt \(ENOENT\).*npm run certs/);
  t.notRegex(e.message, /PRIVATE KEY/);
});
