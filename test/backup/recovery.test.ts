/**
 * Share backups: sealed to the backup key (HPKE), bound to their public header, and recovered by
 * the drill and reconstruction. The shares here are Shamir shares of a random key made in the
 * test; the recovered key is checked with @noble/curves, not with the code under test.
 */
import test from 'ava';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { bytesToNumberBE } from '@noble/curves/utils.js';
import {
  backupHeader,
  openBackup,
  parseBackup,
  parseBackupPrivateKey,
  parseBackupPublicKey,
  publicFromKeyObject,
  sealBackup,
  type BackupFile,
  type BackupKem,
} from '../../src/backup/format.js';
import { drill, reconstruct, type FoundBackup } from '../../src/backup/recovery.js';
import type { KeyShare } from '../../src/protocol/keyshare.js';

const { Point } = secp256k1;
const n = Point.CURVE().n;
const mod = (a: bigint) => ((a % n) + n) % n;

/** A random key x and its t-of-count Shamir shares at points 1..count. */
function deal(t: number, count: number): { x: bigint; shares: KeyShare[] } {
  const coeffs = Array.from({ length: t }, () => mod(bytesToNumberBE(randomBytes(32))) || 1n);
  const f = (at: bigint) => coeffs.reduceRight((acc, c) => mod(acc * at + c), 0n);
  const xs = Array.from({ length: count }, (_, i) => f(BigInt(i + 1)));
  const X = xs.map((v) => Point.BASE.multiply(v));
  const Y = Point.BASE.multiply(coeffs[0] as bigint);
  return {
    x: coeffs[0] as bigint,
    shares: xs.map((v, i) => ({ public: { n: count, t, i, Y, X }, secret: { x: v } })),
  };
}

function keyPair(kem: BackupKem) {
  const { privateKey } =
    kem === 'X25519' ? generateKeyPairSync('x25519') : generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return {
    pub: publicFromKeyObject(privateKey),
    priv: parseBackupPrivateKey(privateKey.export({ format: 'pem', type: 'pkcs8' }) as string),
  };
}

async function backups(
  shares: readonly KeyShare[],
  kem: BackupKem,
  pub: ReturnType<typeof keyPair>['pub'],
  walletId = 'wallet_0001',
  epoch = 0,
): Promise<FoundBackup[]> {
  return Promise.all(
    shares.map(async (s) => {
      const header = backupHeader(s, { walletId, epoch, nodeId: `node_${s.public.i + 1}`, kem });
      const file = await sealBackup(header, s, pub);
      return {
        source: `node_${s.public.i + 1}/${walletId}/epoch-${epoch}.json`,
        file: parseBackup(JSON.stringify(file)),
      };
    }),
  );
}

for (const kem of ['X25519', 'P-256'] as const) {
  test(`${kem}: a sealed share opens with the backup key only, and the file carries no share in the clear`, async (t) => {
    const { shares } = deal(2, 3);
    const k = keyPair(kem);
    const [b] = await backups(shares.slice(0, 1), kem, k.pub);
    const file = (b as FoundBackup).file;
    t.is(await openBackup(file, k.priv), shares[0]!.secret.x);
    const text = JSON.stringify(file);
    t.false(text.includes(shares[0]!.secret.x.toString(16)), 'x_i does not appear in hex');
    await t.throwsAsync(openBackup(file, keyPair(kem).priv), { message: /cannot be opened/ });
  });
}

test('the header is authenticated: a file moved to another wallet, epoch or party does not open', async (t) => {
  const { shares } = deal(2, 3);
  const k = keyPair('X25519');
  const file = (await backups(shares.slice(0, 1), 'X25519', k.pub))[0]!.file;
  for (const change of [
    { walletId: 'wallet_other' },
    { epoch: 7 },
    { index: 1 },
    { publicKey: shares[0]!.public.X[1]!.toHex(true) },
  ]) {
    const moved: BackupFile = { ...file, header: { ...file.header, ...change } };
    await t.throwsAsync(openBackup(moved, k.priv), { message: /cannot be opened/ }, JSON.stringify(change));
  }
});

test('the drill reconstructs every wallet from t backups and says which are missing; the key matches independent code', async (t) => {
  const k = keyPair('X25519');
  const a = deal(2, 3);
  const b = deal(3, 5);
  const found = [
    ...(await backups(a.shares, 'X25519', k.pub, 'wallet_aaaa')),
    ...(await backups(b.shares.slice(0, 2), 'X25519', k.pub, 'wallet_bbbb')), // 2 of t=3
  ];
  const reports = await drill(found, k.priv);
  t.deepEqual(
    reports.map((r) => [r.walletId, r.recoverableEpoch]),
    [
      ['wallet_aaaa', 0],
      ['wallet_bbbb', undefined],
    ],
  );
  t.deepEqual(reports[0]!.epochs[0]!.usable, ['node_1', 'node_2', 'node_3']);
  const r = await reconstruct(found, k.priv, 'wallet_aaaa');
  t.is(r.x, a.x);
  t.is(Buffer.from(secp256k1.getPublicKey(numberTo32(r.x), true)).toString('hex'), r.publicKey);
  await t.throwsAsync(reconstruct(found, k.priv, 'wallet_bbbb'), { message: /no epoch has t usable backups/ });
});

test('a backup whose sealed share does not match its public share is named and left out', async (t) => {
  const k = keyPair('P-256');
  const { shares } = deal(2, 3);
  const forged: KeyShare = { ...shares[1]!, secret: { x: mod(shares[1]!.secret.x + 1n) } };
  const found = await backups([shares[0]!, forged, shares[2]!], 'P-256', k.pub);
  const [report] = await drill(found, k.priv);
  t.deepEqual(report!.epochs[0]!.usable, ['node_1', 'node_3']);
  t.regex(report!.epochs[0]!.problems.join('\n'), /node_2\).*x_i·G ≠ X_i/);
  t.is(report!.recoverableEpoch, 0, 'the two good shares still reconstruct');
});

test('shares of different epochs never combine; the newest epoch with t backups is used', async (t) => {
  const k = keyPair('X25519');
  const e0 = deal(2, 3);
  // a refresh keeps x and re-randomises the shares
  const e1 = deal(2, 3);
  const refreshed = e1.shares.map((s) => rebase(s, e0.x, e1.x));
  const found = [
    ...(await backups(e0.shares.slice(0, 1), 'X25519', k.pub, 'wallet_cccc', 0)),
    ...(await backups(refreshed.slice(1, 2), 'X25519', k.pub, 'wallet_cccc', 1)),
  ];
  const [r0] = await drill(found, k.priv);
  t.is(r0!.recoverableEpoch, undefined, 'one share of each epoch is not two shares');
  const more = [...found, ...(await backups(refreshed.slice(2, 3), 'X25519', k.pub, 'wallet_cccc', 1))];
  const r = await reconstruct(more, k.priv, 'wallet_cccc');
  t.is(r.epoch, 1);
  t.is(r.x, e0.x);
});

test('BACKUP_PUBLIC_KEY forms: hex of either kind, or PEM', (t) => {
  const x = keyPair('X25519');
  const p = keyPair('P-256');
  t.is(parseBackupPublicKey(Buffer.from(x.pub.bytes).toString('hex')).kem, 'X25519');
  t.is(parseBackupPublicKey(Buffer.from(p.pub.bytes).toString('hex')).kem, 'P-256');
  const { publicKey } = generateKeyPairSync('ed25519');
  t.throws(() => parseBackupPublicKey(publicKey.export({ format: 'pem', type: 'spki' }) as string), {
    message: /X25519 or P-256/,
  });
  t.throws(() => parseBackupPublicKey('not a key'));
});

function numberTo32(x: bigint): Uint8Array {
  return Buffer.from(x.toString(16).padStart(64, '0'), 'hex');
}

/** The share of the same polynomial shape but constant term `to` instead of `from` (a refresh's outcome). */
function rebase(s: KeyShare, from: bigint, to: bigint): KeyShare {
  const d = mod(from - to); // add the constant d to the polynomial: every share and Y shift by d
  const X = s.public.X.map((P) => P.add(Point.BASE.multiply(d)));
  return { public: { ...s.public, X, Y: s.public.Y.add(Point.BASE.multiply(d)) }, secret: { x: mod(s.secret.x + d) } };
}
