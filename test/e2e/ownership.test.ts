/**
 * State-directory ownership with the real processes: a node killed with SIGKILL and restarted at
 * once always starts; a second node or coordinator on a directory in use is refused with status 75
 * and a message naming the owner, and the first one keeps serving; SIGTERM stops a node cleanly
 * and frees its directory.
 */
import test from 'ava';
import type { ChildProcess } from 'node:child_process';
import { LOCKED_EXIT_CODE } from '../../src/util/dir-lock.js';
import { Cluster } from '../helpers/processes.js';

let cluster: Cluster;
test.before(async () => {
  cluster = await Cluster.create({ NODE_DRAIN_MS: '2000' });
});
test.after.always(async () => {
  await cluster?.close();
});

const log = (name: string): string => (cluster.logs.get(name) ?? []).join('');
const exited = (c: ChildProcess): Promise<number | null> =>
  c.exitCode !== null || c.signalCode !== null
    ? Promise.resolve(c.exitCode)
    : new Promise((resolve) => c.once('exit', (code) => resolve(code)));

/** Waits until `name`'s output matches, or its process ends (then fails with its output). */
async function waitFor(name: string, pattern: RegExp, proc: ChildProcess, timeoutMs = 120_000): Promise<void> {
  let ended = false;
  void exited(proc).then(() => (ended = true));
  await cluster
    .until(
      `${name}: ${pattern}`,
      async () => {
        if (pattern.test(log(name))) return true;
        if (ended) throw Object.assign(new Error(`${name} exited: ${log(name).slice(-2000)}`), { fatal: true });
        return undefined;
      },
      timeoutMs,
      100,
    )
    .catch((e: Error) => {
      throw new Error(`${e.message}\n${log(name).slice(-2000)}`);
    });
}

test.serial('a node killed with SIGKILL and restarted at once starts every time (5 cycles)', async (t) => {
  for (let cycle = 0; cycle < 5; cycle++) {
    const name = `node_1#${cycle}`;
    const proc = cluster.startNode('node_1', name);
    await waitFor(name, /node node_1 listening/, proc);
    t.notRegex(log(name), /in use by/);
    await cluster.stop(name, 'SIGKILL');
  }
});

test.serial(
  'a second node on the same directory is refused (status 75, naming the owner); SIGTERM stops the first cleanly and frees it',
  async (t) => {
    const first = cluster.startNode('node_1', 'node_1#first');
    await waitFor('node_1#first', /node node_1 listening/, first);
    const second = cluster.startNode('node_1', 'node_1#second');
    t.is(await exited(second), LOCKED_EXIT_CODE);
    t.regex(
      log('node_1#second'),
      new RegExp(`in use by node node_1 \\(process ${first.pid}, since [^)]+\\); stop it first`),
    );
    t.is(first.exitCode, null, 'the first node is still running');
    t.is(await cluster.stop('node_1#first', 'SIGTERM'), 0);
    t.regex(log('node_1#first'), /"msg":"stopped"/);
    const third = cluster.startNode('node_1', 'node_1#third');
    await waitFor('node_1#third', /node node_1 listening/, third);
    await cluster.stop('node_1#third', 'SIGKILL');
  },
);

test.serial(
  'a second coordinator on the same data directory is refused (status 75) while the first keeps serving',
  async (t) => {
    const first = cluster.startCoordinator('coordinator#first');
    await waitFor('coordinator#first', /wallet API listening/, first);
    const second = cluster.startCoordinator('coordinator#second');
    t.is(await exited(second), LOCKED_EXIT_CODE);
    t.regex(
      log('coordinator#second'),
      new RegExp(
        `cannot start coordinator: .* is in use by coordinator \\(process ${first.pid}, since [^)]+\\); stop it first`,
      ),
    );
    t.notRegex(log('coordinator#second'), /wallet API listening/);
    const health = await cluster.http('GET', '/health');
    // no node runs here, so it reports itself degraded (503): what matters is that it answers
    t.like(health.body, { connectedNodes: 0, totalNodes: 3 });
    t.is(first.exitCode, null);
    t.is(await cluster.stop('coordinator#first', 'SIGTERM'), 0);
    const again = cluster.startCoordinator('coordinator#again');
    await waitFor('coordinator#again', /wallet API listening/, again);
    t.pass();
  },
);
