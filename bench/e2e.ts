/**
 * End-to-end benchmark of the running system (`npm run bench:e2e`): three node processes and the
 * coordinator on loopback (mutual TLS between them), measured from a client over HTTPS with
 * keep-alive connections, as a wallet server would call it.
 *
 *  - wallet creation latency (aux-info made once beforehand, as in production; no pool refill running);
 *  - signing latency cold (PRESIGN_POOL_SIZE=0: the request presigns on demand) and with a warm
 *    pool (a presignature ready and no refill in progress);
 *  - sustained signatures per second at concurrency 1, 8 and 32 (presigning is the bottleneck:
 *    every signature consumes one presignature, about 2.4 s of compute on two cores).
 *
 *   npm run bench:e2e [-- --quick] [-- --only warm] [-- --workers 1,default] [-- --concurrency 1,8,32]
 * `--only warm` measures warm signing alone (one wallet, no creation, cold or sustained runs).
 * `--workers` runs the sustained signing once per NODE_WORKERS value listed (`default`: unset, the
 * available cores less one, 1 to 4), restarting the three nodes with it before each; `--concurrency` the
 * client concurrencies of the sustained runs (default 1, 8 and 32).
 * Safe primes come from the test fixtures (as in the tests); everything else is the real path.
 * @module
 */
import { createHash, randomBytes } from 'node:crypto';
import { Agent } from 'node:https';
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { defaultNodeWorkers } from '../src/config/index.js';
import { Cluster, NODE_IDS } from '../test/helpers/processes.js';
import { median } from './stats.js';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    workers: { type: 'string' },
    concurrency: { type: 'string', default: '1,8,32' },
  },
});
const quick = values.quick;
if (values.only !== undefined && values.only !== 'warm') throw new Error('--only takes "warm"');
const positive = (s: string, what: string): number => {
  const n = Number(s);
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`${what} takes positive integers, got ${JSON.stringify(s)}`);
  return n;
};
const concurrencies = values.concurrency.split(',').map((c) => positive(c, '--concurrency'));
/** NODE_WORKERS per sustained series (undefined: as configured, the nodes are not restarted) */
const workerSettings: (number | 'default')[] | undefined = values.workers
  ?.split(',')
  .map((w) => (w === 'default' ? 'default' : positive(w, '--workers')));
const warmOnly = values.only === 'warm';
const log = (s: string) => process.stderr.write(s + '\n');

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] as number;
}

const fmt = (ms: number) => (ms < 10 ? ms.toFixed(1) : ms.toFixed(0));

/**
 * Polls through the client's own keep-alive agent: its connection stays in use, as a wallet
 * server's does under steady traffic, so a measured request never pays for a new TLS handshake
 * because the wait for the pool outlasted the server's keep-alive timeout (5 s).
 */
/** /metrics has its own credential (COORDINATOR_METRICS_TOKEN), distinct from the wallet token. */
const METRICS_TOKEN = 'Bearer bench_metrics_token_0123456789';

async function poolReady(cluster: Cluster, min: number, agent: Agent): Promise<void> {
  await cluster.until(
    `a pool of ${min}`,
    async () => {
      const m = await cluster.http('GET', '/metrics', undefined, { authorization: METRICS_TOKEN }, agent);
      const total = [...m.text.matchAll(/^mpc_presign_pool_size\{[^}]*\} (\d+)/gm)].reduce(
        (a, x) => a + Number(x[1]),
        0,
      );
      return total >= min ? true : undefined;
    },
    600_000,
    1000,
  );
}

async function main(): Promise<void> {
  const poolSize = quick ? 2 : 4;
  // phase 1 without a pool, so wallet creation and cold signing run on an otherwise idle system
  const cluster = await Cluster.create({
    PRESIGN_POOL_SIZE: '0',
    LOG_LEVEL: 'warn',
    COORDINATOR_METRICS_TOKEN: METRICS_TOKEN,
  });
  const rows: string[] = [];
  try {
    for (const id of NODE_IDS) cluster.startNode(id);
    cluster.startCoordinator();
    log('waiting for the node group (aux-info) …');
    const first = (await cluster.createWallet('bench-0')).body as { walletId: string };
    const agent = new Agent({ keepAlive: true, maxSockets: 64, ca: cluster.ca });
    // as a wallet server does: a 503 with Retry-After (more requests wait for a presignature than
    // the coordinator queues) is retried after the time it names; the latency counts from the first try
    let busy = 0;
    const sign = async (walletId: string) => {
      const digest = createHash('sha256').update(randomBytes(32)).digest('hex');
      const t0 = performance.now();
      for (;;) {
        const r = await cluster.http('POST', `/v1/wallets/${walletId}/sign`, { digest }, {}, agent);
        if (r.status === 200) return performance.now() - t0;
        const retryAfter = Number(r.headers['retry-after']);
        if (r.status !== 503 || !Number.isFinite(retryAfter)) throw new Error(`sign: ${r.status} ${r.text}`);
        busy++;
        await new Promise((resolve) => setTimeout(resolve, retryAfter * 1000));
      }
    };

    if (!warmOnly) {
      log('wallet creation …');
      const creation: number[] = [];
      for (let k = 0; k < (quick ? 5 : 20); k++) {
        const t0 = performance.now();
        const r = await cluster.http('POST', '/v1/wallets', { label: `bench-${k + 1}` }, {}, agent);
        if (r.status !== 201) throw new Error(`wallet creation: ${r.status} ${r.text}`);
        creation.push(performance.now() - t0);
      }
      rows.push(
        `| wallet creation (keygen by 3 nodes, stored by each) | ${fmt(median(creation))} | ${fmt(pct(creation, 95))} | ${creation.length} |`,
      );
      log('signing with the pool off (cold) …');
      const cold: number[] = [];
      for (let k = 0; k < (quick ? 3 : 10); k++) cold.push(await sign(first.walletId));
      rows.push(
        `| sign, cold (presign on demand, then sign) | ${fmt(median(cold))} | ${fmt(pct(cold, 95))} | ${cold.length} |`,
      );
    }

    // phase 2: the pool on; each warm request waits for the pool to be full again first, so it
    // measures the online path alone (the refill's compute is what the sustained runs show)
    await cluster.stop('coordinator');
    cluster.env.PRESIGN_POOL_SIZE = String(poolSize);
    cluster.startCoordinator();
    await cluster.until('the coordinator', async () =>
      (await cluster.http('GET', '/health', undefined, {}, agent)).status === 200 ? true : undefined,
    );
    await sign(first.walletId); // stocks the wallet's pools
    log('signing with a warm pool …');
    const warm: number[] = [];
    for (let k = 0; k < (quick ? 10 : 20); k++) {
      await poolReady(cluster, 3 * poolSize, agent);
      warm.push(await sign(first.walletId));
    }
    rows.push(
      `| sign, warm pool (one round: 2 partials, combine, verify) | ${fmt(median(warm))} | ${fmt(pct(warm, 95))} | ${warm.length} |`,
    );

    const sustained: string[] = [];
    if (!warmOnly) log('sustained signing …');
    busy = 0;
    for (const workers of warmOnly ? [] : (workerSettings ?? [undefined])) {
      if (workers !== undefined) {
        // every node restarted with that many protocol workers; the coordinator reads the count
        // from their info when they reconnect (its background presigns follow it)
        log(`nodes with NODE_WORKERS=${workers} …`);
        await Promise.all(NODE_IDS.map((id) => cluster.stop(id)));
        if (workers === 'default') delete cluster.env.NODE_WORKERS;
        else cluster.env.NODE_WORKERS = String(workers);
        for (const id of NODE_IDS) cluster.startNode(id);
        await cluster.until('the node group back', async () => {
          const h = await cluster.http('GET', '/health', undefined, {}, agent);
          return (h.body as { status?: string }).status === 'ok' ? true : undefined;
        });
      }
      const label =
        workers === undefined
          ? ''
          : `| ${workers === 'default' ? `default (${defaultNodeWorkers(availableParallelism())})` : workers} `;
      for (const c of concurrencies) {
        await poolReady(cluster, 3 * poolSize, agent);
        const seconds = quick ? 20 : 45;
        const end = Date.now() + seconds * 1000;
        const lat: number[] = [];
        const t0 = performance.now();
        await Promise.all(
          Array.from({ length: c }, async () => {
            while (Date.now() < end) lat.push(await sign(first.walletId));
          }),
        );
        const elapsed = (performance.now() - t0) / 1000;
        sustained.push(
          `${label}| ${c} | ${(lat.length / elapsed).toFixed(2)} | ${fmt(median(lat))} | ${fmt(pct(lat, 95))} | ${lat.length} in ${elapsed.toFixed(0)} s; ${busy} answers 503 busy, retried |`,
        );
        busy = 0;
      }
    }
    agent.destroy();

    console.log(`Node ${process.version}, end to end over HTTPS (keep-alive), ms${quick ? ' (quick run)' : ''}\n`);
    console.log('| request | median | p95 | runs |\n| --- | ---: | ---: | ---: |');
    for (const r of rows) console.log(r);
    if (!warmOnly) {
      console.log(`\nSustained signing (pool of ${poolSize} per signer pair at the start, refilled as used):\n`);
      const byWorkers = workerSettings === undefined ? ['', ''] : ['| NODE_WORKERS ', '| ---: '];
      console.log(
        `${byWorkers[0]}| concurrency | signatures/s | median (ms) | p95 (ms) | completed |\n${byWorkers[1]}| ---: | ---: | ---: | ---: | --- |`,
      );
      for (const r of sustained) console.log(r);
    }
  } finally {
    await cluster.close();
  }
}

await main();
