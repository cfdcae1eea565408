/**
 * Share backups and disaster recovery (src/backup/): the operator's side, run offline with the
 * backup private key, never on a node.
 *
 *   npm run recovery -- keygen --out <file> [--kem X25519|P-256]
 *       makes a backup key pair: the private key (PKCS#8 PEM, mode 0600) to keep offline, and the
 *       value of BACKUP_PUBLIC_KEY printed for the nodes' environment
 *   npm run recovery -- drill --key <file> --backup <dir> [--wallets <file>]
 *       proves that the backups reconstruct every wallet (each x_i against its public share, the
 *       combination against the public key) without printing a key; with --wallets (the JSON of
 *       GET /v1/wallets), also that every wallet listed there has backups under its public key.
 *       Exit 0 when every wallet is recoverable at its newest backed-up epoch, 1 otherwise
 *   npm run recovery -- export --wallet <id> --key <file> --backup <dir> [--epoch <n>] [--confirm <id>]
 *       reconstructs one wallet's private key (hex, on standard output) for a true disaster: the
 *       key then exists in one piece, which the system otherwise never allows. Asks to type the
 *       wallet id unless --confirm repeats it
 * @module
 */
import { generateKeyPairSync } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline/promises';
import { parseArgs } from 'node:util';
import {
  parseBackup,
  parseBackupPrivateKey,
  publicFromKeyObject,
  type BackupPrivateKey,
} from '../src/backup/format.js';
import { drill, reconstruct, type FoundBackup, type WalletReport } from '../src/backup/recovery.js';

const USAGE = [
  'usage: npm run recovery -- keygen --out <file> [--kem X25519|P-256]',
  '       npm run recovery -- drill --key <file> --backup <dir> [--wallets <GET /v1/wallets JSON>]',
  '       npm run recovery -- export --wallet <id> --key <file> --backup <dir> [--epoch <n>] [--confirm <wallet id>]',
].join('\n');

/** Every backup file under `dir` (recursively); files that are not backups are reported, not fatal. */
async function findBackups(dir: string, notes: string[]): Promise<FoundBackup[]> {
  const found: FoundBackup[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!e.isFile() || !e.name.endsWith('.json')) continue;
    const path = join(e.parentPath, e.name);
    try {
      found.push({ source: path, file: parseBackup(await readFile(path, 'utf8')) });
    } catch (err) {
      notes.push(`${path}: ${(err as Error).message}`);
    }
  }
  return found;
}

async function readKey(path: string): Promise<BackupPrivateKey> {
  return parseBackupPrivateKey(await readFile(path, 'utf8'));
}

/** The wallets of a GET /v1/wallets answer (its `wallets` array, or the array itself): id → public key. */
function registeredWallets(json: unknown): Map<string, string> {
  const list = Array.isArray(json) ? json : (json as { wallets?: unknown }).wallets;
  if (!Array.isArray(list)) throw new RangeError('--wallets: expected the JSON of GET /v1/wallets');
  const out = new Map<string, string>();
  for (const w of list as { walletId?: unknown; id?: unknown; publicKey?: unknown }[]) {
    const id = w.walletId ?? w.id;
    if (typeof id !== 'string' || typeof w.publicKey !== 'string')
      throw new RangeError('--wallets: an entry without a wallet id and a public key');
    out.set(id, w.publicKey.toLowerCase());
  }
  return out;
}

function printReport(r: WalletReport): void {
  const newest = r.epochs[0];
  const status =
    r.recoverableEpoch === undefined
      ? 'NOT RECOVERABLE'
      : r.recoverableEpoch === newest?.epoch
        ? 'ok'
        : `only an older epoch (${r.recoverableEpoch}) reconstructs`;
  console.log(`${r.walletId}  ${r.publicKey}  ${status}`);
  for (const e of r.epochs)
    console.log(
      `    epoch ${e.epoch}: ${e.usable.length} of t=${r.t} usable (${e.usable.join(', ') || 'none'})${e.reconstructs ? ', reconstructs the public key' : ''}`,
    );
  for (const e of r.epochs) for (const p of e.problems) console.log(`    epoch ${e.epoch}: ${p}`);
}

async function runDrill(keyFile: string, dir: string, walletsFile: string | undefined): Promise<number> {
  const key = await readKey(keyFile);
  const notes: string[] = [];
  const found = await findBackups(dir, notes);
  const reports = await drill(found, key);
  for (const r of reports) printReport(r);
  for (const n of notes) console.log(`skipped ${n}`);
  const failed = reports.filter((r) => r.recoverableEpoch === undefined || r.recoverableEpoch !== r.epochs[0]?.epoch);
  let missing: string[] = [];
  if (walletsFile !== undefined) {
    const registered = registeredWallets(JSON.parse(await readFile(walletsFile, 'utf8')));
    const byId = new Map(reports.map((r) => [r.walletId, r]));
    missing = [...registered].flatMap(([id, publicKey]) => {
      const r = byId.get(id);
      if (!r) return [`${id}: no backup`];
      if (r.publicKey !== publicKey) return [`${id}: the backups state another public key than the registry`];
      return [];
    });
    for (const m of missing) console.log(`MISSING ${m}`);
  }
  console.log(
    `${reports.length} wallet(s) in ${found.length} backup file(s): ${reports.length - failed.length} recoverable at their newest epoch` +
      (walletsFile === undefined ? '' : `, ${missing.length} registered wallet(s) without a usable backup`),
  );
  return failed.length === 0 && missing.length === 0 ? 0 : 1;
}

async function runExport(o: {
  wallet: string;
  key: string;
  backup: string;
  epoch: number | undefined;
  confirm: string | undefined;
}): Promise<number> {
  console.error(
    [
      '',
      '  !!! DISASTER RECOVERY: this reconstructs the whole private key of one wallet.',
      '  !!! Whoever reads it can move the wallet\u2019s funds without any node. Run it offline,',
      '  !!! move the funds to a new wallet, and destroy every copy of the output.',
      '',
    ].join('\n'),
  );
  let typed = o.confirm;
  if (typed === undefined) {
    const rl = createInterface({ input: process.stdin, output: process.stderr });
    typed = (await rl.question(`Type the wallet id (${o.wallet}) to go on: `)).trim();
    rl.close();
  }
  if (typed !== o.wallet) {
    console.error('not confirmed: nothing reconstructed');
    return 1;
  }
  const found = await findBackups(o.backup, []);
  const r = await reconstruct(found, await readKey(o.key), o.wallet, o.epoch);
  console.error(`wallet ${o.wallet}: epoch ${r.epoch}, from ${r.from.join(', ')}; public key ${r.publicKey} matches`);
  process.stdout.write(`${r.x.toString(16).padStart(64, '0')}\n`);
  return 0;
}

async function runKeygen(out: string, kem: string): Promise<number> {
  if (kem !== 'X25519' && kem !== 'P-256') {
    console.error('--kem must be X25519 or P-256');
    return 2;
  }
  const { privateKey } =
    kem === 'X25519' ? generateKeyPairSync('x25519') : generateKeyPairSync('ec', { namedCurve: 'P-256' });
  // 'wx': never overwrite a key that may already protect backups
  await writeFile(out, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600, flag: 'wx' });
  const pub = publicFromKeyObject(privateKey);
  console.log(
    `backup private key written to ${out} (keep it offline; whoever holds it and the backups holds the keys)`,
  );
  console.log(`BACKUP_PUBLIC_KEY=${Buffer.from(pub.bytes).toString('hex')}`);
  return 0;
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    options: {
      key: { type: 'string' },
      backup: { type: 'string' },
      wallet: { type: 'string' },
      wallets: { type: 'string' },
      epoch: { type: 'string' },
      confirm: { type: 'string' },
      out: { type: 'string' },
      kem: { type: 'string', default: 'X25519' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    allowPositionals: true,
    strict: true,
  });
  const [command, ...extra] = positionals;
  const usage = (): number => {
    console.log(USAGE);
    return values.help ? 0 : 2;
  };
  if (values.help || extra.length > 0) return usage();
  if (command === 'keygen' && values.out) return runKeygen(values.out, values.kem);
  if (command === 'drill' && values.key && values.backup) return runDrill(values.key, values.backup, values.wallets);
  if (command === 'export' && values.key && values.backup && values.wallet) {
    if (values.epoch !== undefined && !/^\d{1,9}$/.test(values.epoch)) return usage();
    return runExport({
      wallet: values.wallet,
      key: values.key,
      backup: values.backup,
      epoch: values.epoch === undefined ? undefined : Number(values.epoch),
      confirm: values.confirm,
    });
  }
  return usage();
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    console.error(`recovery: ${(e as Error).message}`);
    process.exitCode = 1;
  },
);
