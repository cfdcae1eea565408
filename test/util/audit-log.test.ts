/**
 * The hash-chained audit log: a chain that verifies; a changed, deleted, reordered or inserted
 * line named as the first bad one (by the verifier, by open — which then leaves the file alone —
 * and by `npm run audit:verify`); a torn last line cut at open; appends resolving only after their
 * line is fsynced, bursts sharing one fsync; a failed write rewound; secrets refused; time that
 * never runs backwards when the wall clock does.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFile, open, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import {
  AUDIT_GENESIS,
  AuditLog,
  AuditLogCorruptError,
  canonicalJson,
  verifyAuditLog,
  type AuditEvent,
} from '../../src/util/audit-log.js';
import { tempDir } from '../helpers/storage.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const SCRIPT = join(ROOT, 'dist', 'scripts', 'audit-verify.js');

const sign = (n: number): AuditEvent => ({
  type: 'signature',
  walletId: `w_${n}`,
  digest: 'ab'.repeat(32),
  signers: ['node_1', 'node_2'],
  n,
});

async function logWith(t: Parameters<typeof tempDir>[0], count: number): Promise<{ path: string; lines: string[] }> {
  const path = join(await tempDir(t), 'data', 'audit.jsonl');
  const log = await AuditLog.open(path);
  for (let k = 1; k <= count; k++) await log.append(sign(k));
  await log.close();
  const text = await readFile(path, 'utf8');
  return { path, lines: text.split('\n').slice(0, -1) };
}

/** What a forger who knows the format computes for a line (the hash is not secret, only chained). */
function forge(seq: number, prev: string, time: string, event: AuditEvent): string {
  const body = `{"event":${canonicalJson(event)},"prev":${JSON.stringify(prev)},"seq":${seq},"time":${JSON.stringify(time)}}`;
  const hash = createHash('sha256').update('mpc-engine/v1/audit-log\0').update(body).digest('hex');
  return `{"event":${canonicalJson(event)},"hash":"${hash}","prev":"${prev}","seq":${seq},"time":"${time}"}`;
}

async function runVerify(path: string): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [SCRIPT, path]);
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

/** The damage is found at `line` by the verifier, by open (leaving the file as it was) and by the script. */
async function detected(t: Parameters<typeof tempDir>[0], path: string, content: string, line: number): Promise<void> {
  await writeFile(path, content);
  const v = await verifyAuditLog(path);
  t.false(v.ok);
  t.is(v.ok ? undefined : v.line, line);
  const e = await t.throwsAsync(AuditLog.open(path), { instanceOf: AuditLogCorruptError });
  t.is(e?.line, line);
  t.regex(e?.message ?? '', new RegExp(`audit\\.jsonl: line ${line}:`));
  t.is(await readFile(path, 'utf8'), content, 'a log that fails validation is never modified');
  const cli = await runVerify(path);
  t.is(cli.code, 1);
  t.regex(cli.stderr, new RegExp(`line ${line}:`));
}

test('a chain of appended events verifies: seq = line number, each prev is the line before, canonical lines', async (t) => {
  const { path, lines } = await logWith(t, 5);
  t.is(lines.length, 5);
  let prev = AUDIT_GENESIS;
  for (const [k, line] of lines.entries()) {
    const r = JSON.parse(line) as { seq: number; prev: string; hash: string; time: string; event: AuditEvent };
    t.is(r.seq, k + 1);
    t.is(r.prev, prev);
    t.deepEqual(r.event, sign(k + 1));
    t.is(line, forge(r.seq, r.prev, r.time, r.event), 'the hash is SHA-256 over the canonical encoding');
    prev = r.hash;
  }
  const v = await verifyAuditLog(path);
  t.deepEqual(v, {
    ok: true,
    lines: 5,
    lastHash: prev,
    lastTime: (JSON.parse(lines[4] as string) as { time: string }).time,
    tornTailBytes: 0,
  });
  // reopening continues the chain
  const log = await AuditLog.open(path);
  t.is(log.length, 5);
  t.is(log.lastHash, prev);
  await log.append({ type: 'admin.action', action: 'test' });
  await log.close();
  t.like(await verifyAuditLog(path), { ok: true, lines: 6 });
  const cli = await runVerify(path);
  t.is(cli.code, 0, cli.stderr);
  t.regex(cli.stdout, /ok, 6 lines/);
  t.regex(cli.stdout, /last hash [0-9a-f]{64}/);
});

test('a changed line is named (also when the forger recomputes its hash: then the next line breaks)', async (t) => {
  const { path, lines } = await logWith(t, 4);
  const l2 = lines[1] as string;
  const changed = l2.replace('"w_2"', '"w_9"');
  t.not(changed, l2);
  await detected(t, path, [lines[0], changed, lines[2], lines[3], ''].join('\n'), 2);
  const r = JSON.parse(l2) as { seq: number; prev: string; time: string; event: AuditEvent };
  const rehashed = forge(r.seq, r.prev, r.time, { ...r.event, walletId: 'w_9' });
  await detected(t, path, [lines[0], rehashed, lines[2], lines[3], ''].join('\n'), 3);
  // re-encoding (same content, other key order or spacing) is a change too
  await detected(
    t,
    path,
    [lines[0], JSON.stringify(JSON.parse(l2), null, 0).replace('{"event"', '{ "event"'), lines[2], ''].join('\n'),
    2,
  );
});

test('a deleted line is named', async (t) => {
  const { path, lines } = await logWith(t, 4);
  await detected(t, path, [lines[0], lines[2], lines[3], ''].join('\n'), 2);
  await detected(t, path, [lines[1], lines[2], lines[3], ''].join('\n'), 1);
});

test('reordered lines are named', async (t) => {
  const { path, lines } = await logWith(t, 4);
  await detected(t, path, [lines[0], lines[2], lines[1], lines[3], ''].join('\n'), 2);
});

test('an inserted line is named (a copy, or a forged record chained onto the line before)', async (t) => {
  const { path, lines } = await logWith(t, 3);
  await detected(t, path, [lines[0], lines[1], lines[1], lines[2], ''].join('\n'), 3);
  const r2 = JSON.parse(lines[1] as string) as { hash: string; time: string };
  const forged = forge(3, r2.hash, r2.time, { type: 'signature', walletId: 'w_forged' });
  await detected(t, path, [lines[0], lines[1], forged, lines[2], ''].join('\n'), 4);
});

test('a torn last line is cut at open and the chain continues; the verifier reports it without failing', async (t) => {
  const { path } = await logWith(t, 2);
  const whole = await readFile(path, 'utf8');
  await appendFile(path, '{"event":{"type":"signature","walletId":"w_3"'); // the crash
  const v = await verifyAuditLog(path);
  t.like(v, { ok: true, lines: 2 });
  t.true(v.ok && v.tornTailBytes > 0);
  const cli = await runVerify(path);
  t.is(cli.code, 0, cli.stderr);
  t.regex(cli.stdout, /incomplete line/);
  const log = await AuditLog.open(path);
  t.is(await readFile(path, 'utf8'), whole, 'the fragment is cut');
  await log.append(sign(3));
  await log.close();
  t.like(await verifyAuditLog(path), { ok: true, lines: 3, tornTailBytes: 0 });
});

test('a complete last line that does not validate refuses the open and is not cut', async (t) => {
  const { path } = await logWith(t, 2);
  const whole = await readFile(path, 'utf8');
  await detected(t, path, whole + '\0\0\0\0\n', 3);
  await detected(t, path, whole + '{"v":2,"something":"newer"}\n', 3);
});

test.serial('append resolves only after its line is fsynced; a burst shares the fsync of one batch', async (t) => {
  const path = join(await tempDir(t), 'audit.jsonl');
  const log = await AuditLog.open(path);
  const probe = await open(path, 'r');
  const proto = Object.getPrototypeOf(probe) as { sync: () => Promise<void> };
  await probe.close();
  const original = proto.sync;
  const order: string[] = [];
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let syncs = 0;
  proto.sync = async function (this: unknown): Promise<void> {
    syncs++;
    order.push(`sync-start ${syncs}`);
    if (syncs === 1) await gate;
    await original.call(this);
    order.push(`sync-end ${syncs}`);
  };
  t.teardown(() => {
    proto.sync = original;
  });
  const appends = Array.from({ length: 10 }, (_, k) =>
    log.append(sign(k + 1)).then(() => order.push(`resolved ${k + 1}`)),
  );
  // wait (event-driven) until the first fsync is under way, then make sure nothing resolved before it ends
  while (!order.includes('sync-start 1')) await new Promise((r) => setImmediate(r));
  await new Promise((r) => setTimeout(r, 50));
  t.deepEqual(order, ['sync-start 1'], 'no append resolves while its fsync is held');
  release();
  await Promise.all(appends);
  t.true(order.indexOf('resolved 1') > order.indexOf('sync-end 1'));
  for (let k = 2; k <= 10; k++)
    t.true(order.indexOf(`resolved ${k}`) > order.indexOf('sync-end 2'), `append ${k} after its batch's fsync`);
  t.is(syncs, 2, 'one fsync for the first line, one for the nine that queued behind it');
  proto.sync = original;
  await log.close();
  t.like(await verifyAuditLog(path), { ok: true, lines: 10 });
});

test.serial('a failed write is rejected, cut off and rewound: the next append continues a valid chain', async (t) => {
  const path = join(await tempDir(t), 'audit.jsonl');
  const log = await AuditLog.open(path);
  await log.append(sign(1));
  const before = await readFile(path, 'utf8');
  const probe = await open(path, 'r');
  const proto = Object.getPrototypeOf(probe) as { write: (...a: unknown[]) => Promise<unknown> };
  await probe.close();
  const original = proto.write;
  let failNext = true;
  proto.write = async function (this: unknown, ...a: unknown[]): Promise<unknown> {
    if (failNext) {
      failNext = false;
      // a partial line lands before the disk fills up
      await original.call(this, Buffer.from('{"event":'), 0, 9, Buffer.byteLength(before));
      throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
    }
    return original.apply(this, a);
  };
  t.teardown(() => {
    proto.write = original;
  });
  await t.throwsAsync(log.append(sign(2)), { message: /ENOSPC/ });
  t.is(await readFile(path, 'utf8'), before, 'the partial line was cut');
  await log.append(sign(3));
  proto.write = original;
  await log.close();
  const v = await verifyAuditLog(path);
  t.like(v, { ok: true, lines: 2 });
});

test('events carry no secrets, and nothing invalid is written', async (t) => {
  const path = join(await tempDir(t), 'audit.jsonl');
  const log = await AuditLog.open(path);
  await t.throwsAsync(log.append({ type: 'signature', token: 'Bearer abc' }), {
    instanceOf: TypeError,
    message: /"token"/,
  });
  await t.throwsAsync(log.append({ type: 'signature', credential: { authToken: 'x' } }), { instanceOf: TypeError });
  await t.throwsAsync(log.append({ type: 'signature', n: Number.NaN }), { instanceOf: TypeError });
  await t.throwsAsync(log.append({ type: 'Not A Type' }), { instanceOf: TypeError });
  await t.throwsAsync(log.append({ type: 'big', blob: 'x'.repeat(70_000) }), { instanceOf: TypeError });
  await log.append({
    type: 'wallet.created',
    publicKey: '02'.padEnd(66, '1'),
    idempotencyKeyHash: 'a'.repeat(64),
    credentialId: 'c_1',
  });
  await log.close();
  t.like(await verifyAuditLog(path), { ok: true, lines: 1 });
});

test('time follows the monotonic clock from the open, and never runs backwards across a wall clock step', async (t) => {
  const path = join(await tempDir(t), 'audit.jsonl');
  let wall = Date.parse('2030-01-01T00:00:00.000Z');
  let mono = 1_000;
  const first = await AuditLog.open(path, { wallClock: () => wall, monotonicClock: () => mono });
  mono += 1_500;
  wall -= 3_600_000; // stepped back an hour while running: ignored
  await first.append(sign(1));
  await first.close();
  wall = Date.parse('2029-06-01T00:00:00.000Z'); // still behind at the restart
  const second = await AuditLog.open(path, { wallClock: () => wall, monotonicClock: () => mono });
  await second.append(sign(2));
  await second.close();
  const times = (await readFile(path, 'utf8'))
    .split('\n')
    .slice(0, -1)
    .map((l) => (JSON.parse(l) as { time: string }).time);
  t.deepEqual(times, ['2030-01-01T00:00:01.500Z', '2030-01-01T00:00:01.500Z']);
  t.like(await verifyAuditLog(path), { ok: true });
});
