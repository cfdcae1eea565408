/**
 * A malicious resharing party (docs/security.md A19), for protocol tests and for real node
 * services: a dealer that runs the honest algorithm on a dealing of the test's choosing (another
 * constant term, a commitment vector that is not of its polynomial), and a party whose outgoing
 * messages a test rewrites after they were made. Everything it sends is signed and encrypted by
 * its node as usual, so only the protocol's checks can catch it.
 */
import { randomBytes } from 'node:crypto';
import { type Point, modq, mulG, randomScalar } from '../../src/curve/secp256k1.js';
import { lagrange } from '../../src/curve/lagrange.js';
import { ConfirmRound } from '../../src/protocol/confirm.js';
import { evaluate } from '../../src/protocol/feldman.js';
import type { KeyShare } from '../../src/protocol/keyshare.js';
import type { Msg, Round, Step } from '../../src/protocol/machine.js';
import { RESHARE_ROUND, type ReshareOutput, type ReshareRole } from '../../src/protocol/reshare/index.js';
import { commitmentHash } from '../../src/protocol/reshare/commitment.js';
import { encodeHash } from '../../src/protocol/reshare/messages.js';
import { setupDigest, type ReshareParams } from '../../src/protocol/reshare/params.js';
import { Round2 } from '../../src/protocol/reshare/round2.js';
import type { NodeService } from '../../src/node/service.js';
import { commitSch } from '../../src/zk/sch.js';

/**
 * The cheater's own later rounds run honest code on its dishonest state, which may trip a bug check:
 * its problem. It then aborts naming nobody, or (`stall`) goes quiet, as a node that wants the
 * honest nodes' reports to be the ones the coordinator hears.
 */
export function robust<O>(step: Step<O>, onOwnError: 'abort' | 'stall' = 'abort'): Step<O> {
  if (step.kind !== 'next') return step;
  const r = step.round;
  const handle = (inbox: Parameters<typeof r.handle>[0]): Step<O> => {
    try {
      return robust(r.handle(inbox), onOwnError);
    } catch (e) {
      if (onOwnError === 'stall') return { kind: 'next', round: quiet(r.me), outbox: [] };
      return {
        kind: 'abort',
        abort: { culprits: [], code: 'internal-error', reason: `the cheater's own check: ${(e as Error).message}` },
      };
    }
  };
  return { ...step, round: { me: r.me, expects: r.expects, handle } };
}

/** A round that waits for round-1 commitments again, which never come: the party says nothing more. */
function quiet<O>(me: number): Round<O> {
  return {
    me,
    expects: [{ round: RESHARE_ROUND.commit, broadcast: true }],
    handle: () => ({ kind: 'next', round: quiet<O>(me), outbox: [] }),
  };
}

export interface Dealing {
  /** added to the constant term λ_d·x_d (it would move the key) */
  readonly delta?: bigint;
  /** publish these commitments instead of the polynomial's own (the shares stay those of the polynomial) */
  readonly commitments?: (honest: readonly Point[]) => Point[];
  /** what the cheater does when its own later checks trip on its dealing (default: abort naming nobody) */
  readonly onOwnError?: 'abort' | 'stall';
}

/** A dealer that deals f(0) = λ_d·x_d + δ, with commitments of the test's choosing — honest code otherwise. */
export function cheatingDealer(p: ReshareParams, dealing: Dealing): Step<ReshareOutput> {
  const role = p.roles[p.me] as ReshareRole;
  const T = p.roles.flatMap((r) => (r.old === undefined ? [] : [r.old]));
  const w = modq(lagrange(T, role.old as number) * (p.share as KeyShare).secret.x + (dealing.delta ?? 0n));
  const coeffs = Array.from({ length: p.t }, (_, k) => (k === 0 ? w : randomScalar()));
  const sigma = Array.from({ length: p.n }, (_, k) => evaluate(coeffs, BigInt(k + 1)));
  const sch = role.new === undefined ? undefined : commitSch();
  const honest = coeffs.map((c) => mulG(c));
  const decommit = {
    rid: Uint8Array.from(randomBytes(32)),
    S: dealing.commitments ? dealing.commitments(honest) : honest,
    A: sch?.commitment.A,
    u: Uint8Array.from(randomBytes(32)),
  };
  const setup = setupDigest(p);
  const V = commitmentHash(setup, p.me, decommit);
  return robust(
    {
      kind: 'next',
      round: new Round2({ params: p, setup, sigma, nonce: sch?.nonce, decommit, V }),
      outbox: [{ from: p.me, to: 'all', round: RESHARE_ROUND.commit, body: encodeHash(V) }],
    },
    dealing.onOwnError,
  );
}

/**
 * Rewrite every message a party sends, in every round (`[]` withholds it). A confirmation round is
 * kept as it is, so a node still stores its pending state before its (rewritten) confirmation leaves.
 */
export function tamperOutbox<O>(step: Step<O>, fn: (m: Msg) => Msg[]): Step<O> {
  if (step.kind === 'abort') return step;
  const outbox = step.outbox.flatMap(fn);
  if (step.kind === 'done' || step.round instanceof ConfirmRound) return { ...step, outbox };
  const r = step.round;
  const round: Round<O> = {
    me: r.me,
    get expects() {
      return r.expects;
    },
    handle: (inbox) => tamperOutbox(r.handle(inbox), fn),
  };
  return { ...step, round, outbox };
}

/** The parameters an honest node started its resharing with (read from the first round's state). */
function paramsOf(step: Step<unknown>): ReshareParams {
  if (step.kind !== 'next') throw new Error('the honest start did not go on');
  return (step.round as unknown as { s: { params: ReshareParams } }).s.params;
}

type Begin = () => Step<unknown>;
interface SessionInternals {
  o: { protocol: string; begin: Begin };
}
interface ServiceInternals {
  newSession: (...args: unknown[]) => Promise<SessionInternals>;
}

/**
 * Make a real node service run `corrupt` instead of its honest resharing start (given the parameters
 * the node would have used and its honest start): the node's key material, envelopes, storage and
 * commit switch stay its own, only its protocol messages are the adversary's.
 */
export function corruptResharing(
  service: NodeService,
  corrupt: (params: ReshareParams, honest: Step<ReshareOutput>) => Step<ReshareOutput>,
): void {
  const internals = service as unknown as ServiceInternals;
  const original = internals.newSession.bind(service);
  internals.newSession = async (...args: unknown[]) => {
    const session = await original(...args);
    if (session.o.protocol === 'reshare') {
      const begin = session.o.begin;
      session.o = {
        ...session.o,
        begin: () => {
          const honest = begin() as Step<ReshareOutput>;
          return corrupt(paramsOf(honest), honest);
        },
      };
    }
    return session;
  };
}
