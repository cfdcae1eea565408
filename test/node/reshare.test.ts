/**
 * Resharing on real node services (docs/security.md A19): node_3 of a 2-of-3 group is lost with
 * its data; node_1 and node_2 reshare each wallet to the group {node_1, node_2, node_4} with a fresh
 * node_4. The public key stays, every node commits the new epoch, and node_1 with node_4 sign under
 * it (verified by @noble/curves). A node refuses a setup whose old key is not the one it holds.
 */
import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Orchestrator, type SessionOutcome } from '../../src/coordinator/orchestrator.js';
import {
  RPC_VERSION,
  decodeJson,
  encodeJson,
  walletResponseSchema,
  type ReshareSetup,
} from '../../src/rpc/messages.js';
import type { NodeService } from '../../src/node/service.js';
import { startInProcessNodes } from '../helpers/in-process-nodes.js';
import { signsWith } from '../helpers/node-signing.js';

const WALLET = 'wallet-reshare-0001';

async function call(s: NodeService, req: object): Promise<Record<string, unknown>> {
  return decodeJson(await s.handleBytes(encodeJson({ v: RPC_VERSION, ...req }))) as Record<string, unknown>;
}

async function describe(s: NodeService) {
  const { ok, ...body } = await call(s, { method: 'wallet', walletId: WALLET });
  if (ok !== true) throw new Error(`wallet: ${String(body.error)}`);
  return walletResponseSchema.parse(body);
}

function done<P extends SessionOutcome['protocol']>(o: SessionOutcome<P>) {
  if (o.status !== 'done') throw new Error(`${o.protocol}: ${o.status}: ${o.reason}`);
  return o;
}

test.serial(
  'node_3 lost: node_1 and node_2 reshare to node_1, node_2 and a new node_4; the key stays and node_1 + node_4 sign',
  async (t) => {
    const root = await mkdtemp(join(tmpdir(), 'mpc-reshare-'));
    t.teardown(() => rm(root, { recursive: true, force: true, maxRetries: 5 }));
    const before = await startInProcessNodes(root);
    const orchestrator = new Orchestrator({});
    const kg = done(
      await orchestrator.run({ protocol: 'keygen', parties: before.ids, participants: before.links, walletId: WALLET }),
    );
    const publicKey = kg.result.publicKey;
    const old = (await describe(before.services[0]!)).committed;
    if (!old?.key) return t.fail('node_1 describes no committed key');

    // node_3 and its data are gone; the group is now node_1, node_2, node_4 (a fresh store)
    const after = await startInProcessNodes(root, { ids: ['node_1', 'node_2', 'node_4'] });
    t.is((await describe(after.services[2]!)).committed, undefined, 'node_4 starts with nothing');
    const setup: ReshareSetup = {
      dealers: [0, 1],
      oldIndices: [0, 1],
      old: { n: old.key.n, t: old.key.t, publicKey: old.publicKey, X: old.key.X },
      epoch: old.epoch + 1,
    };

    // setups that misstate the old key are refused before any run: public shares that are not one
    // polynomial through Y by every node, dealers' old indices swapped by the dealers holding them
    // (the aborts of a refused run reach the other nodes after its outcome: a 'busy' is retried, as the coordinator does)
    const reshare = async (r: ReshareSetup): Promise<SessionOutcome<'reshare'>> => {
      for (;;) {
        const o = await orchestrator.run({
          protocol: 'reshare',
          parties: after.ids,
          participants: after.links,
          walletId: WALLET,
          reshare: r,
        });
        if (o.status !== 'failed' || o.code !== 'busy') return o;
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    };
    t.like(await reshare({ ...setup, old: { ...setup.old, X: [...setup.old.X].reverse() } }), {
      status: 'failed',
      code: 'bad-request',
    });
    t.like(await reshare({ ...setup, oldIndices: [1, 0] }), { status: 'failed', code: 'state-mismatch' });

    const moved = done(await reshare(setup));
    t.like(moved.result, { protocol: 'reshare', walletId: WALLET, publicKey, epoch: old.epoch + 1 });
    for (const s of after.services) {
      const d = await describe(s);
      t.is(d.committed?.publicKey, publicKey);
      t.is(d.committed?.epoch, old.epoch + 1);
      t.like(d.committed?.key, { n: 3, t: 2 });
    }
    // the new shares are not the old ones: node_1's public share moved
    t.notDeepEqual((await describe(after.services[0]!)).committed?.key?.X, old.key.X);
    t.true(await signsWith(after, [0, 2], WALLET, publicKey), 'node_1 and node_4 sign under the unchanged key');
    t.true(await signsWith(after, [1, 2], WALLET, publicKey), 'node_2 and node_4 too');

    // a second reshare with the same setup is refused (the epoch moved on): idempotent at the nodes
    t.like(await reshare(setup), { status: 'failed', code: 'state-mismatch' });
  },
);
