/**
 * A day and more of simulated use on three in-process nodes whose stores run on a clock the test
 * moves: every four simulated hours the pair node_1 + node_2 signs once (a presign session and the
 * partial signatures, checked with @noble/curves) and makes one more presignature nobody ever asks
 * for (an orphan: a coordinator that forgot it), then each node runs its retention pass. A node's
 * presignatures, used-markers and seen session ids must stay bounded by what the last
 * PRESIGN_MAX_AGE (presignatures) and the last grace period (markers, sids) produced, and nothing
 * pruned may sign again.
 */
import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Orchestrator } from '../../src/coordinator/orchestrator.js';
import { decodePresignaturePublic } from '../../src/protocol/storage-format.js';
import { RPC_VERSION, decodeJson, encodeJson } from '../../src/rpc/messages.js';
import type { NodeService } from '../../src/node/service.js';
import { startInProcessNodes } from '../helpers/in-process-nodes.js';
import { signsWith } from '../helpers/node-signing.js';

const HOUR = 3_600_000;
const STEP = 4 * HOUR;
const MAX_AGE = 24 * HOUR;
const GRACE = HOUR;
const STEPS = 8; // 32 simulated hours: the presignatures of the first 8 hours have expired

async function sign(service: NodeService, walletId: string, presignatureId: string): Promise<Record<string, unknown>> {
  return decodeJson(
    await service.handleBytes(
      encodeJson({
        v: RPC_VERSION,
        method: 'sign',
        walletId,
        presignatureId,
        digest: randomBytes(32).toString('hex'),
      }),
    ),
  ) as Record<string, unknown>;
}

test('slow: under a simulated day and more of signing, a node keeps a bounded number of presignatures, markers and seen sids, and nothing pruned signs again', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'mpc-retention-day-'));
  t.teardown(() => rm(root, { recursive: true, force: true, maxRetries: 5 }));
  const clock = { now: Date.UTC(2026, 5, 1) };
  const nodes = await startInProcessNodes(root, {
    clock: () => clock.now,
    retention: { presignatureMaxAgeMs: MAX_AGE, graceMs: GRACE },
  });
  const walletId = 'wallet-day';
  const kg = await new Orchestrator({}).run({
    protocol: 'keygen',
    parties: nodes.ids,
    participants: nodes.links,
    walletId,
  });
  if (kg.status !== 'done') return t.fail(`keygen: ${kg.status}`);
  const tombstones = await nodes.stores[0]!.list('sid');

  const orphans: string[] = [];
  const counts: { presig: number; used: number; seen: number }[] = [];
  for (let step = 0; step < STEPS; step++) {
    t.true(await signsWith(nodes, [0, 1], walletId, kg.result.publicKey), `hour ${step * 4}: node_1 + node_2 sign`);
    const orphan = await new Orchestrator({}).run({
      protocol: 'presign',
      parties: nodes.ids,
      participants: [nodes.links[0]!, nodes.links[1]!],
      walletId,
    });
    if (orphan.status !== 'done') return t.fail(`presign: ${orphan.status}`);
    orphans.push(
      Buffer.from(
        decodePresignaturePublic(Uint8Array.from(Buffer.from(orphan.result.presignature, 'base64'))).id,
      ).toString('hex'),
    );
    clock.now += STEP;
    for (const s of nodes.services) await s.prune(clock.now);
    const store = nodes.stores[0]!;
    counts.push({
      presig: (await store.list('presig')).length,
      used: (await store.list('presig-used')).length,
      seen: (await store.list('sid-seen')).length,
    });
  }
  // made within the last 24 h: at most 6 orphans (one per step); markers and sids: only those
  // written at the pass itself (expiries) survive the 1 h grace, since a step is 4 h
  for (const [step, c] of counts.entries()) {
    t.true(c.presig <= MAX_AGE / STEP, `hour ${step * 4}: ${c.presig} presignatures stored`);
    t.true(c.used <= 1, `hour ${step * 4}: ${c.used} used-markers kept`);
    t.is(c.seen, 0, `hour ${step * 4}: seen sids older than the grace are gone`);
  }
  t.is(counts.at(-1)?.presig, MAX_AGE / STEP, 'the orphans of the last 24 h are still there to be used');
  t.deepEqual(await nodes.stores[0]!.list('sid'), tombstones, "the key generation's tombstones are kept");

  // the first orphan expired long ago: burnt, it cannot sign; a young one still does
  const expired = await sign(nodes.services[0]!, walletId, orphans[0]!);
  t.false(expired.ok, 'an expired presignature does not sign');
  const young = await sign(nodes.services[0]!, walletId, orphans.at(-1)!);
  t.true(young.ok, 'a presignature younger than PRESIGN_MAX_AGE signs');
  // once used, its marker is pruned after the grace: a second use is still refused
  clock.now += 2 * GRACE;
  await nodes.services[0]!.prune(clock.now);
  t.false(await nodes.stores[0]!.has('presig-used', orphans.at(-1)!), 'its marker was pruned');
  const again = await sign(nodes.services[0]!, walletId, orphans.at(-1)!);
  t.false(again.ok, 'a used presignature whose marker was pruned does not sign again');
});
