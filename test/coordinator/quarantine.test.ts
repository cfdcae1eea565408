/**
 * Node suspension after cryptographic aborts (SECURITY.md A9): a verified offence holds until an
 * operator releases the node; reported offences give a cool-down that doubles per report within
 * 24 h; everything survives a restart (and a torn last line); another process's release is seen.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { appendFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { Quarantine } from '../../src/coordinator/quarantine.js';
import { lockDirectory } from '../../src/util/dir-lock.js';
import { tempDir } from '../helpers/storage.js';

const run = promisify(execFile);

const MIN = 60_000;

test('a verified offence suspends until released; the release is durable', async (t) => {
  const path = join(await tempDir(t), 'coordinator', 'quarantine.jsonl');
  let now = 1_000_000;
  const q = await Quarantine.open(path, { now: () => now, watch: false });
  t.false(q.isSuspended('node_3'));
  const s = await q.record({ nodeId: 'node_3', protocol: 'sign', reason: 'σ_j·R ≠ m·Δ̃_j + r·S̃_j', verified: true });
  t.like(s, { nodeId: 'node_3', verified: true, until: undefined });
  now += 365 * 24 * 60 * MIN;
  t.true(q.isSuspended('node_3'), 'no expiry');
  t.deepEqual(q.suspended().map((x) => x.nodeId), ['node_3']);

  const again = await Quarantine.open(path, { now: () => now, watch: false });
  t.true(again.isSuspended('node_3'), 'survives a restart');
  await again.release('node_3');
  t.false(again.isSuspended('node_3'));
  t.false((await Quarantine.open(path, { now: () => now, watch: false })).isSuspended('node_3'), 'the release survives too');
});

test('reported offences: cool-downs of 1, 2, 4 … minutes per report in 24 h, at most an hour', async (t) => {
  const path = join(await tempDir(t), 'q.jsonl');
  let now = 5_000_000;
  const q = await Quarantine.open(path, { now: () => now, watch: false });
  const report = () => q.record({ nodeId: 'node_2', protocol: 'presign', reason: 'enc-elg/range-z1', verified: false });
  t.is((await report())?.until, now + MIN);
  now += MIN - 1;
  t.true(q.isSuspended('node_2'));
  now += 1;
  t.false(q.isSuspended('node_2'), 'back after a minute');
  t.is((await report())?.until, now + 2 * MIN);
  now += 2 * MIN;
  t.is((await report())?.until, now + 4 * MIN);
  for (let k = 0; k < 10; k++) {
    now += 61 * MIN;
    await report();
  }
  t.is(q.suspension('node_2')?.until, now + 60 * MIN, 'capped at an hour');
  now += 25 * 60 * MIN; // a day later the count starts over
  t.false(q.isSuspended('node_2'));
  t.is((await report())?.until, now + MIN);
  t.false(q.isSuspended('node_1'), 'the accused only');
});

test('a torn last line (a crash mid-append) is dropped; damage elsewhere is refused', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'q.jsonl');
  const q = await Quarantine.open(path, { watch: false });
  await q.record({ nodeId: 'node_1', protocol: 'sign', reason: 'x', verified: true });
  await appendFile(path, '{"type":"release","nodeId":"no');
  const reopened = await Quarantine.open(path, { watch: false });
  t.true(reopened.isSuspended('node_1'));
  await reopened.record({ nodeId: 'node_2', protocol: 'sign', reason: 'y', verified: true });
  t.deepEqual((await Quarantine.open(path, { watch: false })).suspended().map((s) => s.nodeId).sort(), ['node_1', 'node_2']);
  t.false((await readFile(path, 'utf8')).includes('"no{'));
  await writeFile(path, 'garbage\n');
  await t.throwsAsync(Quarantine.open(path, { watch: false }), { message: /not a quarantine record/ });
});

test('a release appended by another process (the release command) is picked up', async (t) => {
  const path = join(await tempDir(t), 'q.jsonl');
  const q = await Quarantine.open(path);
  t.teardown(() => q.close());
  let changed = 0;
  q.onChange = () => changed++;
  await q.record({ nodeId: 'node_3', protocol: 'sign', reason: 'z', verified: true });
  const other = await Quarantine.open(path, { watch: false });
  await other.release('node_3');
  for (let k = 0; k < 40 && q.isSuspended('node_3'); k++) await sleep(100);
  t.false(q.isSuspended('node_3'));
  t.true(changed >= 2);
});

test('a process appending beside the owner (repair: false) never cuts a line in progress, and does not append onto one', async (t) => {
  const path = join(await tempDir(t), 'q.jsonl');
  const q = await Quarantine.open(path, { watch: false });
  await q.record({ nodeId: 'node_1', protocol: 'sign', reason: 'x', verified: true });
  const partial = '{"type":"offence","nodeId":"node_2","proto';
  await appendFile(path, partial); // the owner's write, half done
  const tool = await Quarantine.open(path, { watch: false, repair: false });
  t.true((await readFile(path, 'utf8')).endsWith(partial), 'the line in progress is left alone');
  await t.throwsAsync(tool.release('node_1'), { message: /ends in an incomplete line/ });
  t.true((await readFile(path, 'utf8')).endsWith(partial), 'nothing was appended onto it');
  await appendFile(path, 'col":"sign","reason":"y","verified":true,"at":1}\n'); // the owner's write completes
  await tool.release('node_1');
  const after = await Quarantine.open(path, { watch: false });
  t.deepEqual(after.suspended().map((s) => s.nodeId), ['node_2']);
});

test('npm run quarantine -- --release works while the coordinator owns its directory, and when nobody does', async (t) => {
  const root = await tempDir(t);
  await mkdir(join(root, 'env'));
  await writeFile(
    join(root, 'env', '.env.test'),
    ['COORDINATOR_PLATFORM=LOCAL', 'NODE_IDS=node_1,node_2,node_3', 'NODE_HOSTS=127.0.0.1:1,127.0.0.1:2,127.0.0.1:3', 'NODE_PLATFORMS=LOCAL,LOCAL,LOCAL', 'MPC_THRESHOLD=2', 'MPC_TOTAL_SHARDS=3', 'DATA_DIR=data'].join('\n'),
  );
  const dir = join(root, 'data', 'coordinator');
  const coordinator = await lockDirectory(dir, 'coordinator'); // this process stands in for a running coordinator
  const q = await Quarantine.open(join(dir, 'quarantine.jsonl'));
  t.teardown(() => q.close());
  await q.record({ nodeId: 'node_1', protocol: 'sign', reason: 'x', verified: true });
  await q.record({ nodeId: 'node_2', protocol: 'sign', reason: 'y', verified: true });
  const script = join(process.cwd(), 'dist', 'scripts', 'quarantine.js');
  const busy = await run(process.execPath, [script, '--env', 'test', '--release', 'node_1'], { cwd: root });
  t.regex(busy.stdout, new RegExp(`node_1 released; the running coordinator \\(process ${process.pid}\\) applies it`));
  for (let k = 0; k < 50 && q.isSuspended('node_1'); k++) await sleep(100);
  t.false(q.isSuspended('node_1'));
  await coordinator.release();
  const idle = await run(process.execPath, [script, '--env', 'test', '--release', 'node_2'], { cwd: root });
  t.is(idle.stdout.trim(), 'node_2 released');
  const after = await Quarantine.open(join(dir, 'quarantine.jsonl'), { watch: false });
  t.deepEqual(after.suspended(), []);
});

test('the cluster leaves suspended nodes out of signing and wallet creation, and health lists them', async (t) => {
  const { NodeCluster } = await import('../../src/coordinator/cluster.js');
  const links = ['node_1', 'node_2', 'node_3'].map((nodeId, index) => ({ nodeId, index }) as unknown as import('../../src/coordinator/node-link.js').NodeLink);
  const cluster = new NodeCluster(links, 2);
  for (let i = 0; i < 3; i++) {
    cluster.setConnected(i, true);
    cluster.setInfo(i, { auxId: 'aux-1' } as unknown as import('../../src/rpc/messages.js').NodeInfo);
  }
  cluster.setAux('aux-1', 'agreed');
  t.true(cluster.keygenReadiness().ready);
  const q = await Quarantine.open(join(await tempDir(t), 'q.jsonl'), { watch: false });
  cluster.setSuspension((id) => q.isSuspended(id));
  await q.record({ nodeId: 'node_2', protocol: 'sign', reason: 'wrong partial', verified: true });
  t.deepEqual(cluster.signerLinks().map((l) => l.nodeId), ['node_1', 'node_3']);
  t.true(cluster.signReadiness().ready, 'the other pair still signs');
  t.like(cluster.keygenReadiness(), { ready: false });
  t.regex((cluster.keygenReadiness() as { reason: string }).reason, /suspended after a cryptographic abort: node_2/);
  t.like(cluster.health(), { status: 'degraded', suspendedNodes: ['node_2'] });
  await q.record({ nodeId: 'node_3', protocol: 'presign', reason: 'aff-g/range-z2', verified: false });
  t.false(cluster.signReadiness().ready);
  t.regex((cluster.signReadiness() as { reason: string }).reason, /node_2, node_3/);
  await q.release('node_2');
  t.deepEqual(cluster.signerLinks().map((l) => l.nodeId), ['node_1', 'node_2']);
});
