/**
 * Aux-info round 4: check every opening against V_j, the sizes of N_j and N̂_j (before any
 * arithmetic, docs/security.md A1, A16), that no modulus repeats (blaming only a party shown at fault), and Πprm
 * (docs/security.md A6); then ρ = ⊕ ρ_j, prove Πmod for N_i once and Πfac against each recipient's own
 * ring-Pedersen parameters, and send them point to point.
 */
import { bitLength } from '../../wasm/index.js';
import { verifyPrm } from '../../zk/prm.js';
import { proveMod } from '../../zk/mod.js';
import { proveFac } from '../../zk/fac.js';
import { equalBytes } from '@noble/curves/utils.js';
import { AllPartiesRound, decodeFrom, verifyFrom, xor32 } from '../common.js';
import { Blame, type Inbox, type Msg, type Step } from '../machine.js';
import type { AuxInfo } from '../aux-info.js';
import { auxCommitment } from './commitment.js';
import { ROUND, SCHEDULE, decodeDecommit, encodeProofs, type AuxDecommit } from './messages.js';
import { parties } from './params.js';
import type { Round2State } from './round2.js';
import { Output } from './output.js';

export interface Round4State extends Round2State {
  readonly decommits: readonly AuxDecommit[];
  /** ρ = ⊕_j ρ_j */
  readonly rho: Uint8Array;
}

function sizeOk(N: bigint, min: number, max: number): boolean {
  const b = bitLength(N);
  return (N & 1n) === 1n && b >= min && b <= max;
}

/**
 * No modulus may appear twice (defence in depth: a copied N would reuse someone's proofs). Blame
 * only where the moduli themselves say who is at fault:
 * - a party whose N_j equals its own N̂_j chose both: j;
 * - another party's modulus equal to one of ours: j. Our primes are fresh for this run and were
 *   committed to (V_i, round 1) before any opening was sent, and j's opening had to match its own
 *   earlier V_j: j could only present our modulus by knowing it beforehand, and it cannot know
 *   our factorisation — it is passing off a modulus that is not its own.
 * - two other parties sharing a modulus: at most one of them knows its factorisation, but only
 *   their own proofs (Πprm, Πmod, Πfac are per party) could say which, and the party index says
 *   nothing: blaming either (e.g. the later one) would blame an honest party whenever the copier
 *   has the lower index. Abort with no culprit.
 */
function checkDistinctModuli(i: number, decommits: readonly AuxDecommit[]): void {
  const owners = new Map<bigint, number[]>();
  for (const [j, d] of decommits.entries()) {
    if (d.N === d.Nhat)
      throw new Blame(
        j === i ? [] : [j],
        'modulus-repeated',
        `${ROUND.decommit}: a party's Paillier and ring-Pedersen moduli are equal`,
      );
    for (const N of [d.N, d.Nhat]) owners.set(N, [...(owners.get(N) ?? []), j]);
  }
  for (const parties of owners.values()) {
    if (parties.length < 2) continue;
    const others = parties.filter((j) => j !== i);
    if (others.length < parties.length)
      throw new Blame(others, 'modulus-repeated', `${ROUND.decommit}: a modulus repeats one of ours`);
    throw new Blame(
      [],
      'modulus-repeated',
      `${ROUND.decommit}: two other parties present the same modulus (${parties.join(', ')}); nobody blamed`,
    );
  }
}

export class Round4 extends AllPartiesRound<AuxInfo, Round2State> {
  readonly expects = SCHEDULE.expects(ROUND.decommit);

  protected receive(inbox: Inbox): Step<AuxInfo> {
    const { sid, n, i, L } = this.s.params;
    const decommits: AuxDecommit[] = parties(n).map((j) => {
      if (j === i) return this.s.decommit;
      const d = decodeFrom(j, ROUND.decommit, () => decodeDecommit(inbox.from(ROUND.decommit, j), L));
      if (!equalBytes(auxCommitment(sid, n, j, d), this.s.commitments[j] as Uint8Array)) {
        throw new Blame([j], 'commitment-mismatch', `${ROUND.decommit}: opening does not match commitment V_j`);
      }
      if (!sizeOk(d.N, L.minModulusBits, L.maxModulusBits))
        throw new Blame([j], 'modulus-invalid', `${ROUND.decommit}: Paillier modulus N_j has a bad size or parity`);
      if (!sizeOk(d.Nhat, L.minModulusBits, L.maxModulusBits))
        throw new Blame(
          [j],
          'modulus-invalid',
          `${ROUND.decommit}: ring-Pedersen modulus N̂_j has a bad size or parity`,
        );
      return d;
    });
    checkDistinctModuli(i, decommits);
    for (const [j, d] of decommits.entries()) {
      if (j === i) continue;
      verifyFrom(j, ROUND.decommit, () => verifyPrm({ sid, prover: j }, L, { N: d.Nhat, s: d.s, t: d.t }, d.prm));
    }
    const rho = xor32(decommits.map((d) => d.rho));
    const { p, q } = this.s.params.paillier;
    const N = this.s.decommit.N;
    const mod = proveMod({ sid, prover: i, extra: rho }, L, { N }, { p, q });
    const outbox: Msg[] = [];
    for (const j of parties(n)) {
      if (j === i) continue;
      const dj = decommits[j] as AuxDecommit;
      const fac = proveFac(
        { sid, prover: i, verifier: j, extra: rho },
        L,
        { N0: N, aux: { N: dj.Nhat, s: dj.s, t: dj.t } },
        { p, q },
      );
      outbox.push({ from: i, to: j, round: ROUND.proofs, body: encodeProofs({ mod, fac }) });
    }
    return { kind: 'next', round: new Output({ ...this.s, decommits, rho }), outbox };
  }
}
