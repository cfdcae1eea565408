/**
 * Directory ownership released by the kernel: real child processes take the lock, are killed with
 * SIGKILL (or left as zombies) and restarted at once; live owners exclude each other and of a
 * race exactly one wins; a pid file of the former scheme naming a live process is no obstacle.
 */
import test from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DirectoryLockError, LOCKED_EXIT_CODE, directoryOwner, lockDirectory } from '../../src/util/dir-lock.js';
import { tempDir } from '../helpers/storage.js';

const HOLDER = fileURLToPath(new URL('../helpers/lock-holder.js', import.meta.url));

interface Holder {
  child: ChildProcess;
  /** first line printed: `locked`, or `refused …`, or '' if it exited silently */
  first: Promise<string>;
  exit: Promise<number | null>;
  stderr: () => string;
  stdout: () => string;
}

/** every holder started by this file, killed when the test run ends (a failed test must not leave one behind) */
const started = new Set<ChildProcess>();
test.after.always(() => {
  for (const c of started) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

/** How long a holder may take to print its first line before the test fails instead of waiting for ever. */
const FIRST_LINE_MS = 60_000;

function holder(
  dir: string,
  role: string,
  opts: { waitStdin?: boolean; cwd?: string; command?: string[] } = {},
): Holder {
  const args = opts.command ?? [process.execPath, HOLDER, dir, role, ...(opts.waitStdin ? ['--wait-stdin'] : [])];
  const child = spawn(args[0]!, args.slice(1), { stdio: ['pipe', 'pipe', 'pipe'], cwd: opts.cwd });
  started.add(child);
  let out = '';
  let err = '';
  child.stderr.on('data', (b: Buffer) => (err += b.toString('utf8')));
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const first = new Promise<string>((resolve) => {
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString('utf8');
      const lines = out.split('\n').filter((l) => /^(locked|refused)/.test(l));
      if (lines.length > 0) resolve(lines[0]!);
    });
    void exit.then(() => resolve(out.split('\n').find((l) => /^(locked|refused)/.test(l)) ?? ''));
    const timer = setTimeout(() => resolve(`no answer within ${FIRST_LINE_MS} ms`), FIRST_LINE_MS);
    void exit.then(() => clearTimeout(timer));
  });
  return { child, first, exit, stderr: () => err, stdout: () => out };
}

async function kill(h: Holder, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  h.child.kill(signal);
  await h.exit;
}

test('in one process: a second acquisition is refused naming the owner; release frees it at once', async (t) => {
  const dir = await tempDir(t);
  const lock = await lockDirectory(dir, 'node node_1');
  const e = await t.throwsAsync(lockDirectory(dir, 'kms:rewrap node_1'), { instanceOf: DirectoryLockError });
  t.is(e?.code, 'locked');
  t.deepEqual({ pid: e?.owner?.pid, role: e?.owner?.role }, { pid: process.pid, role: 'node node_1' });
  t.regex(
    e.message,
    new RegExp(`^cannot start kms:rewrap node_1: .* is in use by node node_1 \\(process ${process.pid}, since \\d{4}-`),
  );
  t.like(await directoryOwner(dir), { owner: { pid: process.pid, role: 'node node_1' } });
  await lock.release();
  await lock.release(); // idempotent
  t.is(await directoryOwner(dir), undefined);
  const again = await lockDirectory(dir, 'kms:rewrap node_1');
  // the older name was cleaned up; only the new owner's socket is left
  t.deepEqual(await readdir(dir), ['owner.2.sock']);
  await again.release();
});

test('a pid file of the former lock naming a live process (this test runner) is taken over', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, 'owner.pid'), `${process.pid}\n`);
  const lock = await lockDirectory(dir, 'node node_1');
  await t.throwsAsync(readFile(join(dir, 'owner.pid')), { code: 'ENOENT' });
  await lock.release();
});

test('50 times: a holder killed with SIGKILL and restarted at once gets the directory every time', async (t) => {
  const dir = await tempDir(t);
  for (let cycle = 0; cycle < 50; cycle++) {
    const h = holder(dir, 'node node_1');
    const first = await h.first;
    t.is(first, 'locked', `cycle ${cycle}: ${first} ${h.stderr()}`);
    if (first !== 'locked') return;
    await kill(h);
  }
  // the names of the dead owners do not pile up
  t.true((await readdir(dir)).length <= 1);
});

test('two live processes exclude each other; the refused one names the owner; SIGTERM releases', async (t) => {
  const dir = await tempDir(t);
  const a = holder(dir, 'node node_1');
  t.is(await a.first, 'locked');
  const b = holder(dir, 'kms:rewrap node_1');
  const refused = await b.first;
  t.regex(
    refused,
    new RegExp(`^refused cannot start kms:rewrap node_1: .* in use by node node_1 \\(process ${a.child.pid}, since `),
  );
  t.is(await b.exit, LOCKED_EXIT_CODE);
  a.child.kill('SIGTERM');
  t.is(await a.exit, 0);
  const c = holder(dir, 'node node_1');
  t.is(await c.first, 'locked');
  await kill(c);
});

test('a race of six processes has exactly one winner, three rounds in a row', async (t) => {
  const dir = await tempDir(t);
  for (let round = 0; round < 3; round++) {
    const all = Array.from({ length: 6 }, () => holder(dir, `racer ${round}`, { waitStdin: true }));
    // each has started once its stdin is open; release them together
    for (const h of all) h.child.stdin!.end('go\n');
    const firsts = await Promise.all(all.map((h) => h.first));
    const winners = all.filter((_, k) => firsts[k] === 'locked');
    t.is(winners.length, 1, `round ${round}: ${firsts.join(' | ')}`);
    if (winners.length !== 1 || firsts.some((f) => !/^(locked|refused)/.test(f))) {
      await Promise.all(all.map((h) => kill(h)));
      return;
    }
    const losers = all.filter((_, k) => firsts[k] !== 'locked');
    for (const l of losers) t.is(await l.exit, LOCKED_EXIT_CODE);
    for (const f of firsts.filter((x) => x !== 'locked')) t.regex(f, new RegExp(`process ${winners[0]?.child.pid}\\b`));
    await Promise.all(winners.map((w) => kill(w)));
  }
});

test('a zombie owner (killed, never reaped by its parent) does not keep the directory', async (t) => {
  if (process.platform !== 'linux') {
    t.pass('needs /proc');
    return;
  }
  const dir = await tempDir(t);
  // sh starts the holder in the background and becomes `sleep`, which never reaps it
  const parent = holder(dir, 'node node_1', {
    command: ['sh', '-c', `"${process.execPath}" "${HOLDER}" "${dir}" "node node_1" & echo "pid $!"; exec sleep 600`],
  });
  t.teardown(() => parent.child.kill('SIGKILL'));
  t.is(await parent.first, 'locked');
  const pid = Number(/pid (\d+)/.exec(parent.stdout())?.[1]);
  t.true(pid > 0);
  process.kill(pid, 'SIGKILL');
  // wait (bounded) until the kernel shows it as a zombie: dead, fds closed, pid still taken
  let state = '';
  for (let k = 0; k < 200 && state !== 'Z'; k++) {
    await new Promise((r) => setTimeout(r, 50));
    state = (await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '')).replace(/^.*\) /s, '').charAt(0);
  }
  t.is(state, 'Z');
  // the pid still "exists" for kill(pid, 0): the old lock would have refused here
  t.notThrows(() => process.kill(pid, 0));
  const next = holder(dir, 'node node_1');
  t.is(await next.first, 'locked', next.stderr());
  await kill(next);
});

test('a state directory deeper than a socket address allows works from a nearby working directory, else fails clearly', async (t) => {
  const base = await mkdtemp(join(tmpdir(), 'mpc-lock-'));
  t.teardown(() => rm(base, { recursive: true, force: true }));
  const near = join(base, 'd'.repeat(60));
  const dir = join(near, 'e'.repeat(60));
  await mkdir(dir, { recursive: true });
  const ok = holder(dir, 'node node_1', { cwd: near });
  t.is(await ok.first, 'locked', ok.stderr());
  const far = holder(dir, 'node node_1', { cwd: '/' });
  t.is(await far.exit, 1);
  t.regex(far.stderr(), /over the 10\d-byte limit of a Unix socket address/);
  await kill(ok);
});
