/**
 * What the coordinator does after cryptographic aborts (quarantine.ts): a verified offence holds
 * until an operator releases the node; an abort report puts the pair (accuser, accused) in dispute
 * for a cool-down that doubles per report on the pair within 24 h, and suspends nobody but an
 * implausible accuser; everything survives a restart (and a torn last line); another process's
 * release is seen; cool-downs run on the monotonic clock.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { appendFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { Quarantine, screenCulprits } from '../../src/coordinator/quarantine.js';
import { lockDirectory } from '../../src/util/dir-lock.js';
import { tempDir } from '../helpers/storage.js';

const run = promisify(execFile);

const MIN = 60_000;

/** A wall clock and a monotonic clock that tests move together (or apart). */
function clocks(wall = 1_000_000) {
  const c = { wall, mono: 0, advance: (ms: number) => ((c.wall += ms), (c.mono += ms)) };
  return { c, opts: { now: () => c.wall, monotonic: () => c.mono, watch: false } };
}

test('a verified offence suspends until released; the release is durable', async (t) => {
  const path = join(await tempDir(t), 'coordinator', 'quarantine.jsonl');
  let now = 1_000_000;
  const q = await Quarantine.open(path, { now: () => now, monotonic: () => now, watch: false });
  t.false(q.isSuspended('node_3'));
  const s = await q.record({ nodeId: 'node_3', protocol: 'sign', reason: 'σ_j·R ≠ m·Δ̃_j + r·S̃_j' });
  t.like(s, { nodeId: 'node_3', verified: true, until: undefined });
  now += 365 * 24 * 60 * MIN;
  t.true(q.isSuspended('node_3'), 'no expiry');
  t.deepEqual(
    q.suspended().map((x) => x.nodeId),
    ['node_3'],
  );

  const again = await Quarantine.open(path, { now: () => now, watch: false });
  t.true(again.isSuspended('node_3'), 'survives a restart');
  await again.release('node_3');
  t.false(again.isSuspended('node_3'));
  t.false(
    (await Quarantine.open(path, { now: () => now, watch: false })).isSuspended('node_3'),
    'the release survives too',
  );
});

test('an abort report suspends nobody: the pair is in dispute for 1, 2, 4 … minutes per report in 24 h, at most an hour', async (t) => {
  const path = join(await tempDir(t), 'q.jsonl');
  const { c, opts } = clocks(5_000_000);
  const q = await Quarantine.open(path, opts);
  const report = () =>
    q.report({ accuser: 'node_1', accused: ['node_2'], valid: true, protocol: 'presign', reason: 'enc-elg/range-z1' });
  t.like((await report()).disputes[0], { nodes: ['node_1', 'node_2'], reports: 1, until: c.wall + MIN });
  t.false(q.isSuspended('node_2'), 'the accused is not suspended');
  t.false(q.isSuspended('node_1'), 'nor the accuser');
  t.true(q.inDispute('node_2', 'node_1'));
  t.false(q.inDispute('node_1', 'node_3'));
  c.advance(MIN - 1);
  t.true(q.inDispute('node_1', 'node_2'));
  c.advance(1);
  t.false(q.inDispute('node_1', 'node_2'), 'usable together again after a minute');
  t.is((await report()).disputes[0]?.until, c.wall + 2 * MIN);
  c.advance(2 * MIN);
  // a report the other way round counts for the same pair
  t.is(
    (await q.report({ accuser: 'node_2', accused: ['node_1'], valid: true, protocol: 'sign', reason: 'x' })).disputes[0]
      ?.until,
    c.wall + 4 * MIN,
  );
  for (let k = 0; k < 10; k++) {
    c.advance(61 * MIN);
    await report();
  }
  t.is(q.dispute('node_1', 'node_2')?.until, c.wall + 60 * MIN, 'capped at an hour');
  t.deepEqual(q.suspended(), [], 'one accused, many times: still nobody suspended');
  c.advance(25 * 60 * MIN); // a day later the count starts over
  t.false(q.inDispute('node_1', 'node_2'));
  t.is((await report()).disputes[0]?.until, c.wall + MIN);
  t.deepEqual(q.reportsBy('node_1'), { total: 1, discarded: 0 });
});

test('cool-downs run on the monotonic clock: a wall clock set back or forward changes nothing', async (t) => {
  const { c, opts } = clocks();
  const q = await Quarantine.open(join(await tempDir(t), 'q.jsonl'), opts);
  await q.report({ accuser: 'node_3', accused: ['node_1'], valid: true, protocol: 'presign', reason: 'x' });
  c.wall += 10 * MIN; // wall clock jumps forward: the dispute is still there
  t.true(q.inDispute('node_1', 'node_3'));
  c.wall -= 20 * MIN; // and back
  c.mono += MIN;
  t.false(q.inDispute('node_1', 'node_3'), 'over after a minute of monotonic time');
});

test('across a restart a dispute keeps what remained of its cool-down (the age comes from the wall clock, at least 0)', async (t) => {
  const path = join(await tempDir(t), 'q.jsonl');
  const a = clocks(10_000_000);
  const q = await Quarantine.open(path, a.opts);
  await q.report({ accuser: 'node_3', accused: ['node_1'], valid: true, protocol: 'presign', reason: 'x' });
  // a new process: its monotonic clock starts elsewhere; 40 s of wall time have passed
  const b = { wall: 10_040_000, mono: 123_456 };
  const again = await Quarantine.open(path, { now: () => b.wall, monotonic: () => b.mono, watch: false });
  t.true(again.inDispute('node_1', 'node_3'));
  b.mono += 19_999;
  t.true(again.inDispute('node_1', 'node_3'));
  b.mono += 1;
  t.false(again.inDispute('node_1', 'node_3'), '60 s in all');
  // a wall clock set back before the record: its age counts as 0 (the whole minute), never negative
  const back = { wall: 9_000_000, mono: 0 };
  const third = await Quarantine.open(path, { now: () => back.wall, monotonic: () => back.mono, watch: false });
  back.mono += MIN - 1;
  t.true(third.inDispute('node_1', 'node_3'));
  back.mono += 1;
  t.false(third.inDispute('node_1', 'node_3'));
});

test('S1: an accuser naming more distinct nodes than t − 1 can be at fault is suspended; the accused are not', async (t) => {
  const { c, opts } = clocks();
  const q = await Quarantine.open(join(await tempDir(t), 'q.jsonl'), { ...opts, maxFaulty: 1 });
  const first = await q.report({
    accuser: 'node_3',
    accused: ['node_1'],
    valid: true,
    protocol: 'presign',
    reason: 'invented',
  });
  t.is(first.accuser, undefined, 'one accused: may be true');
  const second = await q.report({
    accuser: 'node_3',
    accused: ['node_2'],
    valid: true,
    protocol: 'presign',
    reason: 'invented',
  });
  t.like(second.accuser, { nodeId: 'node_3', verified: false, until: c.wall + MIN });
  t.regex(second.accuser?.reason ?? '', /named 2 distinct nodes \(node_1, node_2\); at most 1/);
  t.deepEqual(
    q.suspended().map((s) => s.nodeId),
    ['node_3'],
  );
  // every further report in the window doubles the liar's suspension
  c.advance(MIN);
  t.false(q.isSuspended('node_3'));
  t.is(
    (await q.report({ accuser: 'node_3', accused: ['node_1'], valid: true, protocol: 'presign', reason: 'invented' }))
      .accuser?.until,
    c.wall + 2 * MIN,
  );
  // one report naming both at once is the same
  const other = await Quarantine.open(join(await tempDir(t), 'q2.jsonl'), { ...opts, maxFaulty: 1 });
  t.like(
    (
      await other.report({
        accuser: 'node_3',
        accused: ['node_1', 'node_2'],
        valid: true,
        protocol: 'aux',
        reason: 'invented',
      })
    ).accuser,
    { nodeId: 'node_3' },
  );
  t.false(other.isSuspended('node_1'));
  t.false(other.isSuspended('node_2'));
  // with t − 1 = 2 (e.g. 3-of-5), naming two distinct nodes is still plausible
  const wide = await Quarantine.open(join(await tempDir(t), 'q3.jsonl'), { ...opts, maxFaulty: 2 });
  t.is(
    (await wide.report({ accuser: 'node_3', accused: ['node_1', 'node_2'], valid: true, protocol: 'aux', reason: 'x' }))
      .accuser,
    undefined,
  );
});

test('a discarded culprit list suspends its reporter and puts nobody in dispute', async (t) => {
  const { c, opts } = clocks();
  const q = await Quarantine.open(join(await tempDir(t), 'q.jsonl'), opts);
  const r = await q.report({
    accuser: 'node_3',
    accused: ['node_1'],
    valid: false,
    protocol: 'presign',
    reason: 'names 7, not a participant',
  });
  t.deepEqual(r.disputes, []);
  t.false(q.inDispute('node_1', 'node_3'), 'the names of a discarded list are not used');
  t.like(r.accuser, { nodeId: 'node_3', until: c.wall + MIN });
  t.regex(r.accuser?.reason ?? '', /discarded abort report: names 7/);
  t.deepEqual(q.reportsBy('node_3'), { total: 1, discarded: 1 });
});

test("a release clears a node's disputes and its implausible reports", async (t) => {
  const { opts } = clocks();
  const q = await Quarantine.open(join(await tempDir(t), 'q.jsonl'), opts);
  await q.report({ accuser: 'node_3', accused: ['node_1', 'node_2'], valid: true, protocol: 'aux', reason: 'x' });
  t.true(q.isSuspended('node_3'));
  t.true(q.inDispute('node_1', 'node_3'));
  await q.release('node_3');
  t.false(q.isSuspended('node_3'));
  t.deepEqual(q.disputes(), []);
});

test('screenCulprits: only other participants, each once, at most all of them; anything else is discarded whole', (t) => {
  t.deepEqual(screenCulprits([2, 0], 1, [0, 1, 2]), { culprits: [0, 2], invalid: undefined });
  t.deepEqual(screenCulprits([], 1, [0, 1]), { culprits: [], invalid: undefined });
  t.regex(screenCulprits([1], 1, [0, 1]).invalid ?? '', /itself/);
  t.regex(screenCulprits([2], 0, [0, 1]).invalid ?? '', /names 2, not a participant/, 'a party outside the session');
  t.regex(screenCulprits([9], 0, [0, 1, 2]).invalid ?? '', /not a participant/, 'no party at all');
  t.regex(screenCulprits([1, 1], 0, [0, 1, 2]).invalid ?? '', /twice/);
  t.regex(
    screenCulprits(
      Array.from({ length: 100_000 }, (_, k) => k),
      0,
      [0, 1, 2],
    ).invalid ?? '',
    /100000 culprits; only 2/,
  );
  t.deepEqual(screenCulprits([2, 7], 0, [0, 2]).culprits, [], 'nothing of a discarded list is kept');
});

test('lines of the earlier format (reported offences that suspended the accused) suspend nobody now', async (t) => {
  const path = join(await tempDir(t), 'q.jsonl');
  await writeFile(
    path,
    JSON.stringify({
      type: 'offence',
      nodeId: 'node_1',
      protocol: 'presign',
      reason: 'x',
      verified: false,
      at: 1_000_000,
    }) + '\n',
  );
  const { opts } = clocks(1_000_001);
  const q = await Quarantine.open(path, opts);
  t.false(q.isSuspended('node_1'));
});

test('a torn last line (a crash mid-append) is dropped; damage elsewhere is refused', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'q.jsonl');
  const q = await Quarantine.open(path, { watch: false, maxFaulty: 2 });
  await q.record({ nodeId: 'node_1', protocol: 'sign', reason: 'x' });
  await appendFile(path, '{"type":"release","nodeId":"no');
  const reopened = await Quarantine.open(path, { watch: false, maxFaulty: 2 });
  t.true(reopened.isSuspended('node_1'));
  await reopened.record({ nodeId: 'node_2', protocol: 'sign', reason: 'y' });
  t.deepEqual(
    (await Quarantine.open(path, { watch: false, maxFaulty: 2 }))
      .suspended()
      .map((s) => s.nodeId)
      .sort(),
    ['node_1', 'node_2'],
  );
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
  await q.record({ nodeId: 'node_3', protocol: 'sign', reason: 'z' });
  const other = await Quarantine.open(path, { watch: false });
  await other.release('node_3');
  for (let k = 0; k < 40 && q.isSuspended('node_3'); k++) await sleep(100);
  t.false(q.isSuspended('node_3'));
  t.true(changed >= 2);
});

test('a process appending beside the owner (repair: false) never cuts a line in progress, and does not append onto one', async (t) => {
  const path = join(await tempDir(t), 'q.jsonl');
  const q = await Quarantine.open(path, { watch: false });
  await q.record({ nodeId: 'node_1', protocol: 'sign', reason: 'x' });
  const partial = '{"type":"offence","nodeId":"node_2","proto';
  await appendFile(path, partial); // the owner's write, half done
  const tool = await Quarantine.open(path, { watch: false, repair: false });
  t.true((await readFile(path, 'utf8')).endsWith(partial), 'the line in progress is left alone');
  await t.throwsAsync(tool.release('node_1'), { message: /ends in an incomplete line/ });
  t.true((await readFile(path, 'utf8')).endsWith(partial), 'nothing was appended onto it');
  await appendFile(path, 'col":"sign","reason":"y","verified":true,"at":1}\n'); // the owner's write completes
  await tool.release('node_1');
  const after = await Quarantine.open(path, { watch: false });
  t.deepEqual(
    after.suspended().map((s) => s.nodeId),
    ['node_2'],
  );
});

test('npm run quarantine -- --release works while the coordinator owns its directory, and when nobody does', async (t) => {
  const root = await tempDir(t);
  await mkdir(join(root, 'env'));
  await writeFile(
    join(root, 'env', '.env.test'),
    [
      'COORDINATOR_PLATFORM=LOCAL',
      'NODE_IDS=node_1,node_2,node_3',
      'NODE_HOSTS=127.0.0.1:1,127.0.0.1:2,127.0.0.1:3',
      'NODE_PLATFORMS=LOCAL,LOCAL,LOCAL',
      'MPC_THRESHOLD=2',
      'MPC_TOTAL_SHARDS=3',
      'DATA_DIR=data',
    ].join('\n'),
  );
  const dir = join(root, 'data', 'coordinator');
  const coordinator = await lockDirectory(dir, 'coordinator'); // this process stands in for a running coordinator
  const q = await Quarantine.open(join(dir, 'quarantine.jsonl'), { maxFaulty: 2 });
  t.teardown(() => q.close());
  await q.record({ nodeId: 'node_1', protocol: 'sign', reason: 'x' });
  await q.record({ nodeId: 'node_2', protocol: 'sign', reason: 'y', code: 'partial-signature-invalid' });
  const script = join(process.cwd(), 'dist', 'scripts', 'quarantine.js');
  const list = await run(process.execPath, [script, '--env', 'test'], { cwd: root });
  t.regex(list.stdout, /node_1: verified offence in sign at [^\n]*: x; suspended/, 'no code: the reason alone');
  t.regex(list.stdout, /node_2: verified offence in sign at [^\n]*: y \[partial-signature-invalid\]; suspended/);
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
  const links = ['node_1', 'node_2', 'node_3'].map(
    (nodeId, index) => ({ nodeId, index }) as unknown as import('../../src/coordinator/node-link.js').NodeLink,
  );
  const cluster = new NodeCluster(links, 2);
  for (let i = 0; i < 3; i++) {
    cluster.setConnected(i, true);
    cluster.setInfo(i, { auxId: 'aux-1' } as unknown as import('../../src/rpc/messages.js').NodeInfo);
  }
  cluster.setAux('aux-1', 'agreed');
  t.true(cluster.keygenReadiness().ready);
  const q = await Quarantine.open(join(await tempDir(t), 'q.jsonl'), { watch: false, maxFaulty: 2 });
  cluster.setSuspension((id) => q.isSuspended(id));
  await q.record({ nodeId: 'node_2', protocol: 'sign', reason: 'wrong partial' });
  t.deepEqual(
    cluster.signerLinks().map((l) => l.nodeId),
    ['node_1', 'node_3'],
  );
  t.true(cluster.signReadiness().ready, 'the other pair still signs');
  t.like(cluster.keygenReadiness(), { ready: false });
  t.regex((cluster.keygenReadiness() as { reason: string }).reason, /suspended after a cryptographic abort: node_2/);
  t.like(cluster.health(), { status: 'degraded', suspendedNodes: ['node_2'] });
  await q.record({ nodeId: 'node_3', protocol: 'presign', reason: 'aff-g/range-z2' });
  t.false(cluster.signReadiness().ready);
  t.regex((cluster.signReadiness() as { reason: string }).reason, /node_2, node_3/);
  await q.release('node_2');
  t.deepEqual(
    cluster.signerLinks().map((l) => l.nodeId),
    ['node_1', 'node_2'],
  );
});

async function readyCluster3() {
  const { NodeCluster } = await import('../../src/coordinator/cluster.js');
  const links = ['node_1', 'node_2', 'node_3'].map(
    (nodeId, index) => ({ nodeId, index }) as unknown as import('../../src/coordinator/node-link.js').NodeLink,
  );
  const cluster = new NodeCluster(links, 2);
  for (let i = 0; i < 3; i++) {
    cluster.setConnected(i, true);
    cluster.setInfo(i, { auxId: 'aux-1' } as unknown as import('../../src/rpc/messages.js').NodeInfo);
  }
  cluster.setAux('aux-1', 'agreed');
  return cluster;
}

test('S1: one invented abort from node_3 naming node_1 and node_2 leaves node_1+node_2 signing (and suspends node_3)', async (t) => {
  const cluster = await readyCluster3();
  const q = await Quarantine.open(join(await tempDir(t), 'q.jsonl'), { watch: false, maxFaulty: 1 });
  cluster.setSuspension((id) => q.isSuspended(id));
  cluster.setDisputes((a, b) => q.inDispute(a, b));
  t.deepEqual(cluster.usableSignerSets(), [
    [0, 1],
    [0, 2],
    [1, 2],
  ]);
  await q.report({
    accuser: 'node_3',
    accused: ['node_1', 'node_2'],
    valid: true,
    protocol: 'presign',
    reason: 'invented',
  });
  t.false(q.isSuspended('node_1'));
  t.false(q.isSuspended('node_2'));
  t.deepEqual(cluster.usableSignerSets(), [[0, 1]]);
  t.true(cluster.signReadiness().ready);
});

test('a node accusing one other node in every session removes only the signer sets it is in itself', async (t) => {
  const cluster = await readyCluster3();
  const q = await Quarantine.open(join(await tempDir(t), 'q.jsonl'), { watch: false, maxFaulty: 1 });
  cluster.setSuspension((id) => q.isSuspended(id));
  cluster.setDisputes((a, b) => q.inDispute(a, b));
  for (let k = 0; k < 20; k++)
    await q.report({ accuser: 'node_1', accused: ['node_2'], valid: true, protocol: 'presign', reason: 'invented' });
  t.deepEqual(q.suspended(), [], 'one accused: plausible, and the accused is not suspended');
  t.deepEqual(
    cluster.usableSignerSets(),
    [
      [0, 2],
      [1, 2],
    ],
    'node_1+node_2 not together; node_2+node_3 still sign',
  );
  t.deepEqual(cluster.disputedPairs(), [['node_1', 'node_2']]);
  t.true(cluster.signReadiness().ready);
  t.true(
    cluster.keygenReadiness().ready,
    'a dispute does not hold up wallet creation (every node takes part there anyway)',
  );
});

test('signing is refused with the reason when every signer set is in dispute', async (t) => {
  const cluster = await readyCluster3();
  cluster.setConnected(2, false);
  const q = await Quarantine.open(join(await tempDir(t), 'q.jsonl'), { watch: false });
  cluster.setDisputes((a, b) => q.inDispute(a, b));
  await q.report({ accuser: 'node_1', accused: ['node_2'], valid: true, protocol: 'presign', reason: 'x' });
  t.deepEqual(cluster.usableSignerSets(), []);
  t.regex((cluster.signReadiness() as { reason: string }).reason, /no two are in dispute.*node_1\+node_2/);
});

test('after a restart, the end of a dispute still in effect is announced (so the pool stocks that pair again)', async (t) => {
  const path = join(await tempDir(t), 'q.jsonl');
  const q = await Quarantine.open(path, { watch: false, baseMs: 5_000 });
  await q.report({ accuser: 'node_1', accused: ['node_2'], valid: true, protocol: 'presign', reason: 'x' });
  const again = await Quarantine.open(path, { watch: false, baseMs: 5_000 });
  t.true(again.inDispute('node_1', 'node_2'));
  // event-driven: resolves when onChange fires; the bound only keeps a broken build from hanging
  const announced = await Promise.race([
    new Promise<boolean>((resolve) => (again.onChange = () => resolve(true))),
    sleep(30_000).then(() => false),
  ]);
  t.true(announced);
  t.false(again.inDispute('node_1', 'node_2'));
});

test('verified offences suspend at most t − 1 nodes: a further one is refused (a fooled proof must not stop all signing)', async (t) => {
  const { opts } = clocks();
  const path = join(await tempDir(t), 'q.jsonl');
  const q = await Quarantine.open(path, { ...opts, maxFaulty: 1 });
  t.like(await q.record({ nodeId: 'node_3', protocol: 'refresh', reason: 'abandoned a run it confirmed' }), {
    nodeId: 'node_3',
  });
  t.is(await q.record({ nodeId: 'node_1', protocol: 'refresh', reason: 'abandoned a run it confirmed' }), undefined);
  t.deepEqual(
    q.suspended().map((s) => s.nodeId),
    ['node_3'],
  );
  t.like(
    await q.record({ nodeId: 'node_3', protocol: 'sign', reason: 'again' }),
    { nodeId: 'node_3' },
    'the suspended node itself may be recorded again',
  );
  t.false((await Quarantine.open(path, { ...opts, maxFaulty: 1 })).isSuspended('node_1'), 'nothing was written');
  await q.release('node_3');
  t.like(await q.record({ nodeId: 'node_1', protocol: 'sign', reason: 'σ check failed' }), { nodeId: 'node_1' });
});

test('an offence and an abort report keep their code on disk; records without one still read, an unknown one is refused', async (t) => {
  const path = join(await tempDir(t), 'q.jsonl');
  await appendFile(
    path,
    '{"type":"offence","nodeId":"node_2","protocol":"sign","reason":"old","verified":true,"at":1}\n',
  );
  const q = await Quarantine.open(path, { watch: false, maxFaulty: 2 });
  t.true(q.isSuspended('node_2'), 'a record written before codes');
  await q.record({
    nodeId: 'node_1',
    protocol: 'sign',
    reason: 'σ_j·R ≠ m·Δ̃_j + r·S̃_j',
    code: 'partial-signature-invalid',
  });
  await q.report({
    accuser: 'node_3',
    accused: ['node_2'],
    valid: true,
    protocol: 'presign',
    reason: 'presign/r2: aff-g/range-z2',
    code: 'proof-invalid',
  });
  const lines = (await readFile(path, 'utf8'))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  t.like(lines[1], { type: 'offence', nodeId: 'node_1', code: 'partial-signature-invalid' });
  t.like(lines[2], { type: 'report', accuser: 'node_3', code: 'proof-invalid' });
  const reopened = await Quarantine.open(path, { watch: false, maxFaulty: 2 });
  t.like(reopened.suspension('node_1'), { verified: true, code: 'partial-signature-invalid' });
  t.is(reopened.suspension('node_2')?.code, undefined);
  t.true(reopened.inDispute('node_3', 'node_2'));
  await appendFile(
    path,
    '{"type":"offence","nodeId":"node_3","protocol":"sign","reason":"x","code":"bogus","verified":true,"at":1}\n',
  );
  await t.throwsAsync(Quarantine.open(path, { watch: false }), { message: /not a quarantine record/ });
});
