/**
 * The resharing scene of the attack tests, on real node services: a 2-of-3 wallet made by node_1,
 * node_2 and node_3; node_3 is lost and the group is now node_1, node_2 and a fresh node_4, reached
 * through links a test can intercept (a malicious coordinator) and that record every node's abort.
 * `unmoved` checks that a failed move left every node as it was: node_1 and node_2 on the old epoch
 * with nothing pending (or only the pending state a test expects), node_4 holding nothing, and the
 * old holders still signing under the unchanged key (checked with @noble/curves).
 */
import type { ExecutionContext } from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Orchestrator, type SessionOutcome } from '../../src/coordinator/orchestrator.js';
import type { NodeService } from '../../src/node/service.js';
import {
  RPC_VERSION,
  decodeJson,
  encodeJson,
  walletResponseSchema,
  type ReshareSetup,
  type SessionUpdate,
} from '../../src/rpc/messages.js';
import { startInProcessNodes, Tap, type InProcessNodes } from './in-process-nodes.js';
import { signsWith } from './node-signing.js';

export interface NodeAbort {
  readonly node: number;
  readonly abort: NonNullable<SessionUpdate['abort']>;
}

export interface MoveScene {
  readonly walletId: string;
  readonly publicKey: string;
  /** the key in the old group as node_1 describes it */
  readonly oldEpoch: number;
  /** the setup an honest coordinator sends: node_1 and node_2 deal, every node of the group receives */
  readonly setup: ReshareSetup;
  /** the group after node_3 was replaced */
  readonly after: InProcessNodes;
  /** one interceptable link per node of `after`, in party order */
  readonly taps: Tap[];
  /** every abort a node reported (start or deliver answers), in order */
  readonly aborts: NodeAbort[];
  /** run the reshare session through the taps (a refused run's late aborts make a node `busy` for a moment: retried) */
  reshare(setup?: ReshareSetup, timeoutMs?: number): Promise<SessionOutcome<'reshare'>>;
}

async function call(s: NodeService, req: object): Promise<Record<string, unknown>> {
  return decodeJson(await s.handleBytes(encodeJson({ v: RPC_VERSION, ...req }))) as Record<string, unknown>;
}

export async function describeWallet(s: NodeService, walletId: string) {
  const { ok, ...body } = await call(s, { method: 'wallet', walletId });
  if (ok !== true) throw new Error(`wallet: ${String(body.error)}`);
  return walletResponseSchema.parse(body);
}

export async function moveScene(t: ExecutionContext, walletId: string): Promise<MoveScene> {
  const root = await mkdtemp(join(tmpdir(), 'mpc-attack-reshare-'));
  t.teardown(() => rm(root, { recursive: true, force: true, maxRetries: 5 }));
  const before = await startInProcessNodes(root);
  const kg = await new Orchestrator({}).run({
    protocol: 'keygen',
    parties: before.ids,
    participants: before.links,
    walletId,
  });
  if (kg.status !== 'done') throw new Error(`keygen: ${kg.status}: ${kg.reason}`);
  const old = (await describeWallet(before.services[0]!, walletId)).committed;
  if (!old?.key) throw new Error('node_1 describes no committed key');
  const after = await startInProcessNodes(root, { ids: ['node_1', 'node_2', 'node_4'] });
  const aborts: NodeAbort[] = [];
  const taps = after.links.map((l) => new Tap(l));
  for (const [node, tap] of taps.entries())
    tap.intercept = async (req, forward) => {
      const r = (await forward()) as Partial<SessionUpdate>;
      if ((req.method === 'start' || req.method === 'deliver') && r.status === 'aborted' && r.abort)
        aborts.push({ node, abort: r.abort });
      return r;
    };
  const orchestrator = new Orchestrator({});
  const setup: ReshareSetup = {
    dealers: [0, 1],
    oldIndices: [0, 1],
    old: { n: old.key.n, t: old.key.t, publicKey: old.publicKey, X: old.key.X },
    epoch: old.epoch + 1,
  };
  return {
    walletId,
    publicKey: kg.result.publicKey,
    oldEpoch: old.epoch,
    setup,
    after,
    taps,
    aborts,
    async reshare(r = setup, timeoutMs?: number) {
      for (;;) {
        const o = await orchestrator.run({
          protocol: 'reshare',
          parties: after.ids,
          participants: taps,
          walletId,
          reshare: r,
          ...(timeoutMs === undefined ? {} : { timeoutMs }),
        });
        if (o.status !== 'failed' || o.code !== 'busy') return o;
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    },
  };
}

/** The aborts of node `node` (party index in the new group). */
export function abortsOf(scene: MoveScene, node: number): NodeAbort['abort'][] {
  return scene.aborts.filter((a) => a.node === node).map((a) => a.abort);
}

/**
 * Nothing moved: node_1 and node_2 still hold the old epoch, node_4 nothing, no node holds a
 * pending state except those in `pendingAt` (a run whose confirmation round was reached), and the
 * old holders sign under the unchanged key.
 */
export async function unmoved(t: ExecutionContext, scene: MoveScene, pendingAt: readonly number[] = []): Promise<void> {
  const { after, walletId, publicKey, oldEpoch } = scene;
  for (const [k, s] of after.services.entries()) {
    const d = await describeWallet(s, walletId);
    if (k < 2) {
      t.is(d.committed?.publicKey, publicKey, `${after.ids[k]} keeps the key`);
      t.is(d.committed?.epoch, oldEpoch, `${after.ids[k]} is still on the old epoch`);
      t.like(d.committed?.key, { n: 3, t: 2, i: k }, `${after.ids[k]} keeps its old share`);
    } else {
      t.is(d.committed, undefined, 'node_4 committed nothing');
    }
    if (pendingAt.includes(k)) t.is(d.pending?.protocol, 'reshare', `${after.ids[k]} holds the staged run`);
    else t.is(d.pending, undefined, `${after.ids[k]} holds nothing pending`);
  }
  t.true(await signsWith(after, [0, 1], walletId, publicKey), 'the old holders still sign under the unchanged key');
}
