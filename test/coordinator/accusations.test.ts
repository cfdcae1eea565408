/**
 * Abort accusations at the coordinator (docs/security.md S1): the orchestrator keeps only culprit lists that name
 * other participants (bounded), and the coordinator's wiring — orchestrator → quarantine →
 * cluster → presign pool → signing, as in coordinator/main.ts — lets an honest pair keep signing
 * while one node invents an abort in every session it joins.
 *
 * Nodes are scripted links: an honest node finishes a presign at once with a dealer-made
 * presignature (the same for both signers of a session) and signs from the dealer's secrets; the
 * liar answers `start` with an abort naming whom the test says.
 */
import test from 'ava';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Orchestrator, type SessionOutcome } from '../../src/coordinator/orchestrator.js';
import { PresignPool } from '../../src/coordinator/pool.js';
import { orchestratedPresign } from '../../src/coordinator/presign.js';
import { Quarantine, reportOf } from '../../src/coordinator/quarantine.js';
import { SigningService } from '../../src/coordinator/signing.js';
import { encodePresignaturePublic } from '../../src/protocol/storage-format.js';
import type { Request } from '../../src/rpc/messages.js';
import {
  Dealer,
  FakeLink,
  NODE_IDS,
  fakeSessionKey,
  readyCluster,
  signingNode,
  type Handler,
} from '../helpers/coordinator.js';
import { tempDir } from '../helpers/storage.js';

const WALLET = 'w_accused00';
const DIGEST = Uint8Array.from(Buffer.alloc(32, 7));
const AUX = 'cd'.repeat(32);

/** Whom the liar names, given the session's participants and its own index. */
type Naming = (participants: readonly number[], me: number) => number[];

/** A node for presign sessions and signing; `liar` set: it aborts every session at start, naming `liar(...)`. */
function node(dealer: Dealer, made: Map<string, string>, liar?: Naming): Handler {
  const sign = signingNode(dealer);
  const signers = new Map<string, number[]>();
  return (req: Request, link) => {
    switch (req.method) {
      case 'prepare':
        signers.set(req.sessionId, req.signers ?? []);
        return {
          ok: true,
          nonce: String(link.index + 1).repeat(64),
          state: 'ab'.repeat(32),
          sessionKey: fakeSessionKey(link.index),
        };
      case 'start': {
        const S = signers.get(req.sessionId) ?? [];
        if (liar)
          return {
            ok: true,
            status: 'aborted',
            outbox: [],
            abort: {
              culprits: liar(S, link.index),
              code: 'proof-invalid',
              reason: 'enc-elg: proof does not verify (invented)',
            },
          };
        // both honest signers report the same presignature, made once per session
        if (!made.has(req.sessionId))
          made.set(req.sessionId, Buffer.from(encodePresignaturePublic(dealer.presignature(S))).toString('base64'));
        return {
          ok: true,
          status: 'done',
          outbox: [],
          result: { protocol: 'presign', walletId: WALLET, presignature: made.get(req.sessionId) },
        };
      }
      case 'abort':
        return { ok: true };
      default:
        return sign(req, link);
    }
  };
}

async function coordinator(t: import('ava').ExecutionContext, liarIndex: number, naming: Naming, targetSize = 2) {
  const dealer = new Dealer();
  const made = new Map<string, string>();
  const links = NODE_IDS.map((id, k) => new FakeLink(id, k, node(dealer, made, k === liarIndex ? naming : undefined)));
  const cluster = readyCluster(links, [0, 1, 2], AUX);
  // as coordinator/main.ts wires it
  const quarantine = await Quarantine.open(join(await tempDir(t), 'quarantine.jsonl'), {
    watch: false,
    maxFaulty: cluster.threshold - 1,
  });
  cluster.setSuspension((id) => quarantine.isSuspended(id));
  cluster.setDisputes((a, b) => quarantine.inDispute(a, b));
  quarantine.onChange = () => cluster.emit('state');
  const recorded: Promise<unknown>[] = [];
  const outcomes: SessionOutcome[] = [];
  const orchestrator = new Orchestrator({
    onOutcome: (o) => {
      outcomes.push(o);
      if (o.status !== 'aborted') return;
      const report = reportOf(o);
      if (report) recorded.push(quarantine.report(report));
    },
  });
  const publicKeyOf = (w: string) => (w === WALLET ? dealer.publicKeyHex : undefined);
  const pool = new PresignPool({
    presign: orchestratedPresign({ runner: orchestrator, cluster, publicKeyOf }),
    targetSize,
    signerSets: () => cluster.usableSignerSets(),
    retryMs: 50,
  });
  cluster.on('state', () => pool.refill());
  const signing = new SigningService({ cluster, pool, publicKeyOf });
  t.teardown(() => pool.stop());
  return { cluster, quarantine, pool, signing, outcomes, recorded, links, orchestrator };
}

const honestPair = (liar: number): number[] => [0, 1, 2].filter((k) => k !== liar);

/** Wait (event-driven polling, generous bound) until the pool holds presignatures for the honest pair only. */
async function settled(pool: PresignPool, liar: number): Promise<void> {
  for (let k = 0; k < 400 && pool.size(WALLET, honestPair(liar)) < 2; k++) await sleep(10);
}

for (const liar of [0, 1, 2]) {
  test(`S1: ${NODE_IDS[liar]} naming every other party in every session cannot stop the honest pair from signing`, async (t) => {
    const c = await coordinator(t, liar, (_S, me) => [0, 1, 2].filter((k) => k !== me));
    c.pool.track(WALLET);
    await settled(c.pool, liar);
    await Promise.all(c.recorded);
    for (let k = 0; k < 4; k++) {
      const sig = await c.signing.sign(WALLET, DIGEST);
      t.deepEqual(
        sig.signers,
        honestPair(liar).map((i) => NODE_IDS[i]),
      );
    }
    await Promise.all(c.recorded);
    t.true(
      c.outcomes.some((o) => o.status === 'aborted' && o.reportedBy === NODE_IDS[liar]),
      'the liar did abort sessions',
    );
    // naming a party outside a 2-party presign: the list is discarded and counted against the liar
    t.true(c.outcomes.some((o) => o.status === 'aborted' && o.discarded !== undefined && o.culprits.length === 0));
    t.deepEqual(
      c.quarantine.suspended().map((s) => s.nodeId),
      [NODE_IDS[liar]],
      'only the liar is suspended',
    );
    t.deepEqual(c.quarantine.disputes(), [], 'a discarded list puts nobody in dispute');
    t.deepEqual(c.cluster.usableSignerSets(), [honestPair(liar)]);
  });

  test(`S1: ${NODE_IDS[liar]} naming the other signer in every session cannot stop the honest pair from signing`, async (t) => {
    const c = await coordinator(t, liar, (S, me) => S.filter((k) => k !== me));
    c.pool.track(WALLET);
    await settled(c.pool, liar);
    await Promise.all(c.recorded);
    for (let k = 0; k < 4; k++) {
      const sig = await c.signing.sign(WALLET, DIGEST);
      t.deepEqual(
        sig.signers,
        honestPair(liar).map((i) => NODE_IDS[i]),
      );
    }
    await Promise.all(c.recorded);
    const honest = honestPair(liar).map((i) => NODE_IDS[i] as string);
    for (const id of honest) t.false(c.quarantine.isSuspended(id), `${id} not suspended`);
    t.true(c.quarantine.isSuspended(NODE_IDS[liar] as string), 'two distinct nodes named: the liar is suspended');
    t.false(c.quarantine.inDispute(honest[0] as string, honest[1] as string));
    t.true(c.cluster.signReadiness().ready);
  });
}

test('the orchestrator discards a culprit list naming the reporter itself or a node outside the session', async (t) => {
  for (const [culprits, why] of [
    [[2], /names itself/],
    [[1], /names 1, not a participant/],
    [[0, 0], /names 2 culprits; only 1 other/],
    [[0, 1, 2, 3, 4], /5 culprits/],
  ] as const) {
    const c = await coordinator(t, 2, () => [...culprits]);
    const outcome = await orchestratorRun(c, [0, 2]);
    t.is(outcome.status, 'aborted');
    if (outcome.status !== 'aborted') return;
    t.deepEqual(outcome.culprits, []);
    t.regex(outcome.discarded ?? '', why);
    await Promise.all(c.recorded);
    t.true(c.quarantine.isSuspended('node_3'), 'held against the reporter');
    t.false(c.quarantine.isSuspended('node_1'));
    t.false(c.quarantine.isSuspended('node_2'));
  }
});

test('a valid culprit list (the other participant) is kept: a dispute, nobody suspended', async (t) => {
  const c = await coordinator(t, 2, () => [0]);
  const outcome = await orchestratorRun(c, [0, 2]);
  t.like(outcome, {
    status: 'aborted',
    reportedBy: 'node_3',
    culprits: [{ index: 0, nodeId: 'node_1' }],
    code: 'proof-invalid',
  });
  t.is(outcome.status === 'aborted' ? outcome.discarded : 'x', undefined);
  t.like(outcome.status === 'aborted' ? reportOf(outcome) : undefined, { accuser: 'node_3', code: 'proof-invalid' });
  await Promise.all(c.recorded);
  t.deepEqual(c.quarantine.suspended(), []);
  t.true(c.quarantine.inDispute('node_1', 'node_3'));
  t.deepEqual(c.cluster.usableSignerSets(), [
    [0, 1],
    [1, 2],
  ]);
});

/** One presign session through the coordinator's orchestrator (its outcome goes to the quarantine as in main.ts). */
function orchestratorRun(c: Awaited<ReturnType<typeof coordinator>>, signers: number[]): Promise<SessionOutcome> {
  return c.orchestrator.run({
    protocol: 'presign',
    parties: [...NODE_IDS],
    participants: signers.map((k) => c.links[k] as FakeLink),
    walletId: WALLET,
  });
}

test('S1: with presigning on demand (empty pool), a liar naming its co-signer cannot make the first request fail', async (t) => {
  // node_1 lies: pair 1+2 aborts naming node_2, pair 1+3 aborts naming node_3; the accused are not dropped for the request
  const c = await coordinator(t, 0, (S, me) => S.filter((k) => k !== me), 0);
  const sig = await c.signing.sign(WALLET, DIGEST);
  t.deepEqual(
    sig.signers,
    honestPair(0).map((i) => NODE_IDS[i]),
  );
  await Promise.all(c.recorded);
  t.false(c.quarantine.isSuspended(NODE_IDS[1]));
  t.false(c.quarantine.isSuspended(NODE_IDS[2]));
});
