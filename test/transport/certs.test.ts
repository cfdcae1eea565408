/**
 * The development PKI: what each certificate binds (CN, SAN URI, 127.0.0.1, localhost, usages),
 * key file modes, idempotence and --force, refusal of inconsistent directories, identity parsing
 * of odd certificates, and the start-up check that a process holds its own certificate.
 */
import test from 'ava';
import { X509Certificate, type webcrypto } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  certificatePaths,
  createCertificateAuthority,
  generateDevCertificates,
  issueCertificate,
} from '../../src/transport/certs.js';
import { IdentityError } from '../../src/transport/errors.js';
import {
  COORDINATOR,
  identityFromCertificate,
  identityUri,
  nodeIdentity,
  parseIdentityUri,
  sameIdentity,
} from '../../src/transport/identity.js';
import { loadTlsMaterial } from '../../src/transport/tls.js';
import { subtle, x509 } from '../../src/transport/x509.js';

async function tempDir(t: { teardown: (f: () => unknown) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'mpc-certs-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const ids = ['node_1', 'node_2', 'node_3'];

test('a CA and a certificate per node and for the coordinator, bound to their identities', async (t) => {
  const dir = await tempDir(t);
  const result = await generateDevCertificates({ dir, nodeIds: ids, hosts: { node_2: ['10.0.2.12', 'node2.example.com'] } });
  t.is(result.created.length, 10);
  t.deepEqual(result.kept, []);
  const ca = new X509Certificate(await readFile(join(dir, 'ca.crt')));
  t.true(ca.ca);
  t.true(ca.verify(ca.publicKey));
  for (const identity of [COORDINATOR, ...ids.map(nodeIdentity)]) {
    const p = certificatePaths(dir, identity);
    const cert = new X509Certificate(await readFile(p.cert));
    t.false(cert.ca);
    t.true(cert.verify(ca.publicKey), `${p.cert} chains to the CA`);
    t.true(cert.checkIssued(ca));
    t.true(sameIdentity(identityFromCertificate(cert.raw), identity));
    t.true(cert.subjectAltName!.includes(`URI:${identityUri(identity)}`));
    t.true(cert.subjectAltName!.includes('IP Address:127.0.0.1'));
    t.true(cert.subjectAltName!.includes('DNS:localhost'));
    t.truthy(cert.checkIP('127.0.0.1'));
    t.deepEqual(cert.keyUsage?.sort(), ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']);
    t.is(cert.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
    t.is((await stat(p.key)).mode & 0o777, 0o600, `${p.key} is 0600`);
    const key = await readFile(p.key, 'utf8');
    t.regex(key, /^-----BEGIN PRIVATE KEY-----/);
  }
  t.is((await stat(join(dir, 'ca.key'))).mode & 0o777, 0o600);
  const n2 = new X509Certificate(await readFile(join(dir, 'node_2.crt')));
  t.truthy(n2.checkIP('10.0.2.12'));
  t.truthy(n2.checkHost('node2.example.com'));
});

test('idempotent: existing files are kept, a new node id gets only its own pair; --force replaces all', async (t) => {
  const dir = await tempDir(t);
  await generateDevCertificates({ dir, nodeIds: ids });
  const before = await readFile(join(dir, 'node_1.key'));
  const caBefore = await readFile(join(dir, 'ca.crt'));

  const again = await generateDevCertificates({ dir, nodeIds: ids });
  t.deepEqual(again.created, []);
  t.is(again.kept.length, 10);
  t.true((await readFile(join(dir, 'node_1.key'))).equals(before));

  const more = await generateDevCertificates({ dir, nodeIds: [...ids, 'node_4'] });
  t.deepEqual(more.created, [join(dir, 'node_4.crt'), join(dir, 'node_4.key')]);
  const n4 = new X509Certificate(await readFile(join(dir, 'node_4.crt')));
  t.true(n4.verify(new X509Certificate(caBefore).publicKey), 'issued by the existing CA');

  const forced = await generateDevCertificates({ dir, nodeIds: ids, force: true });
  t.is(forced.created.length, 10);
  t.false((await readFile(join(dir, 'ca.crt'))).equals(caBefore));
  t.false((await readFile(join(dir, 'node_1.key'))).equals(before));
  t.is((await stat(join(dir, 'node_1.key'))).mode & 0o777, 0o600);
});

test('inconsistent directories are refused, naming the file, and left untouched', async (t) => {
  const dir = await tempDir(t);
  await generateDevCertificates({ dir, nodeIds: ids });

  // Keys swapped between two identities.
  const k1 = await readFile(join(dir, 'node_1.key'));
  await writeFile(join(dir, 'node_1.key'), await readFile(join(dir, 'node_3.key')));
  await t.throwsAsync(generateDevCertificates({ dir, nodeIds: ids }), { message: /node_1\.key is not the key of .*node_1\.crt/ });
  await writeFile(join(dir, 'node_1.key'), k1);

  await unlink(join(dir, 'node_2.crt'));
  await t.throwsAsync(generateDevCertificates({ dir, nodeIds: ids }), { message: /node_2\.key exists but .*node_2\.crt does not/ });

  // A certificate from another CA under this directory's name.
  const other = await createCertificateAuthority();
  const stranger = await issueCertificate(other, nodeIdentity('node_2'));
  await writeFile(join(dir, 'node_2.crt'), stranger.certPem);
  await t.throwsAsync(generateDevCertificates({ dir, nodeIds: ids }), { message: /node_2\.crt was not issued by the CA/ });

  // A certificate for someone else under this file name.
  const caPair = certificatePaths(dir, 'ca');
  const { loadCertificateAuthority } = await import('../../src/transport/certs.js');
  const ca = await loadCertificateAuthority(await readFile(caPair.cert, 'utf8'), await readFile(caPair.key, 'utf8'));
  await writeFile(join(dir, 'node_2.crt'), (await issueCertificate(ca, nodeIdentity('node_3'))).certPem);
  await t.throwsAsync(generateDevCertificates({ dir, nodeIds: ids }), { message: /node_2\.crt does not name urn:mpc-engine:node:node_2/ });

  // Leaves without their CA.
  const caCert = await readFile(caPair.cert);
  await unlink(caPair.cert);
  await unlink(caPair.key);
  await t.throwsAsync(generateDevCertificates({ dir, nodeIds: ids }), { message: /exists but the CA does not/ });
  await t.throwsAsync(stat(caPair.cert), undefined, 'no CA was written');
  t.truthy(caCert);

  await t.throwsAsync(generateDevCertificates({ dir, nodeIds: ['coordinator'] }), { instanceOf: RangeError });
  await t.throwsAsync(generateDevCertificates({ dir, nodeIds: ['../x'] }), { instanceOf: RangeError });
  await t.throwsAsync(issueCertificate(ca, nodeIdentity('node_1'), { hosts: ['bad host'] }), { instanceOf: RangeError });
});

/** A leaf with arbitrary subject and SAN, signed by a fresh CA, for identity-parsing tests. */
async function oddCertificate(subject: string, uris: string[]): Promise<Uint8Array> {
  const ca = await createCertificateAuthority();
  const keys = (await subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.create({
    subject,
    issuer: ca.cert.subject,
    publicKey: keys.publicKey as never,
    signingKey: ca.signingKey as never,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    extensions: uris.length ? [new x509.SubjectAlternativeNameExtension(uris.map((value) => ({ type: 'url' as const, value })))] : [],
  });
  return new Uint8Array(cert.rawData);
}

test('identity parsing refuses certificates that name none, several, malformed or mismatched identities', async (t) => {
  t.true(sameIdentity(identityFromCertificate(await oddCertificate('CN=node_1', ['urn:mpc-engine:node:node_1'])), nodeIdentity('node_1')));
  t.true(sameIdentity(identityFromCertificate(await oddCertificate('CN=coordinator', ['urn:mpc-engine:coordinator', 'https://x.example'])), COORDINATOR));
  const cases: [string, string[], RegExp][] = [
    ['CN=node_1', [], /names 0/],
    ['CN=node_1', ['urn:mpc-engine:node:node_1', 'urn:mpc-engine:coordinator'], /names 2/],
    ['CN=node_1', ['urn:mpc-engine:node:node 1'], /malformed/],
    ['CN=ca', ['urn:mpc-engine:node:ca'], /malformed/],
    ['CN=node_2', ['urn:mpc-engine:node:node_1'], /CN "node_2" does not match/],
    ['O=MPC Engine', ['urn:mpc-engine:node:node_1'], /CN "" does not match/],
  ];
  t.throws(() => identityFromCertificate(new Uint8Array(0)), { instanceOf: IdentityError, message: /cannot be parsed/ });
  t.throws(() => identityFromCertificate(Buffer.from('not a certificate')), { instanceOf: IdentityError });
  for (const [subject, uris, message] of cases) {
    const der = await oddCertificate(subject, uris);
    t.throws(() => identityFromCertificate(der), { instanceOf: IdentityError, message }, `${subject} ${uris.join(' ')}`);
  }
  t.is(parseIdentityUri('urn:mpc-engine:node:'), undefined);
  t.is(parseIdentityUri('urn:mpc-engine:coordinator:x'), undefined);
  t.throws(() => nodeIdentity('node/1'), { instanceOf: RangeError });
});

test('loadTlsMaterial checks that a process holds its own certificate and names missing files', async (t) => {
  const dir = await tempDir(t);
  await generateDevCertificates({ dir, nodeIds: ids });
  const paths = (name: string) => ({ ca: join(dir, 'ca.crt'), cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) });
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
