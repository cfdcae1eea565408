/**
 * Aux-info messages (CGGMP'24 auxiliary-information protocol, rounds in docs/architecture.md, "Data flow").
 *
 *  aux/commit    bcast  V_i = H(sid, n, i, N_i, N̂_i, s_i, t_i, ψ̂_i, ρ_i, u_i)
 *  aux/echo      bcast  h_i = H(sid, V_0 … V_{n−1})
 *  aux/decommit  bcast  (N_i, N̂_i, s_i, t_i, ψ̂_i = Πprm, ρ_i, u_i)
 *  aux/proofs    p2p    (ψ_i = Πmod on N_i, φ_i^j = Πfac on N_i against (N̂_j, s_j, t_j))
 *  aux/confirm   bcast  c_i = H(sid, every party's N_j, N̂_j, s_j, t_j): all must agree before output
 *
 * Every integer is bounded by the largest accepted modulus before it is decoded (docs/security.md A16); arrays of
 * Πmod and Πprm must have exactly m entries (docs/security.md A5).
 * @module
 */
import { DecodeError, Reader, Writer } from '../codec.js';
import { MESSAGE_VERSION, readVersion } from '../common.js';
import { Schedule } from '../machine.js';

export { encodeHash } from '../common.js';
import type { SecurityParams } from '../../zk/params.js';
import type { PrmProof } from '../../zk/prm.js';
import type { ModProof } from '../../zk/mod.js';
import type { FacProof } from '../../zk/fac.js';

export const ROUND = {
  commit: 'aux/commit',
  echo: 'aux/echo',
  decommit: 'aux/decommit',
  proofs: 'aux/proofs',
  confirm: 'aux/confirm',
} as const;

/** The rounds in order with their kinds: the rounds and the envelope layer read them here. */
export const SCHEDULE = new Schedule([
  [ROUND.commit, 'broadcast'],
  [ROUND.echo, 'broadcast'],
  [ROUND.decommit, 'broadcast'],
  [ROUND.proofs, 'p2p'],
  [ROUND.confirm, 'confirmation'],
]);

export interface AuxDecommit {
  /** N_i: Paillier modulus */
  readonly N: bigint;
  /** N̂_i, s_i, t_i: ring-Pedersen parameters */
  readonly Nhat: bigint;
  readonly s: bigint;
  readonly t: bigint;
  /** ψ̂_i: Πprm for (N̂_i, s_i, t_i) */
  readonly prm: PrmProof;
  /** ρ_i: 32 bytes; ρ = ⊕ ρ_j binds Πmod and Πfac */
  readonly rho: Uint8Array;
  /** u_i: opening nonce */
  readonly u: Uint8Array;
}

export interface AuxProofs {
  /** ψ_i: Πmod for N_i */
  readonly mod: ModProof;
  /** φ_i^j: Πfac for N_i against the recipient's ring-Pedersen parameters */
  readonly fac: FacProof;
}

export function encodePrm(w: Writer, p: PrmProof): Writer {
  return w.list(p.A, (x, v) => x.int(v)).list(p.z, (x, v) => x.int(v));
}

export function decodePrm(r: Reader, L: SecurityParams): PrmProof {
  const A = r.list((x) => x.int(L.maxModulusBits, 'Πprm A_i'), { count: L.m }, 'Πprm A');
  const z = r.list((x) => x.int(L.maxModulusBits, 'Πprm z_i'), { count: L.m }, 'Πprm z');
  return { A, z };
}

export function encodeDecommit(d: AuxDecommit): Uint8Array {
  const w = new Writer().u8(MESSAGE_VERSION).int(d.N).int(d.Nhat).int(d.s).int(d.t);
  encodePrm(w, d.prm);
  return w.fixed(d.rho).fixed(d.u).finish();
}

export function decodeDecommit(b: Uint8Array, L: SecurityParams): AuxDecommit {
  const r = new Reader(b);
  readVersion(r);
  const bits = L.maxModulusBits;
  const N = r.int(bits, 'N');
  const Nhat = r.int(bits, 'N̂');
  const s = r.int(bits, 's');
  const t = r.int(bits, 't');
  const prm = decodePrm(r, L);
  const rho = Uint8Array.from(r.fixed(32, 'ρ'));
  const u = Uint8Array.from(r.fixed(32, 'u'));
  r.end();
  return { N, Nhat, s, t, prm, rho, u };
}

/** Generous cap on Πfac fields for decoding; the verifier applies the exact bounds ("fac/size"). */
function facBits(L: SecurityParams): number {
  return 3 * L.maxModulusBits + 2 * (L.ell + L.epsilon) + 64;
}

export function encodeProofs(p: AuxProofs): Uint8Array {
  const w = new Writer().u8(MESSAGE_VERSION).int(p.mod.w);
  w.list(p.mod.items, (x, it) =>
    x
      .int(it.x)
      .u8(it.a ? 1 : 0)
      .u8(it.b ? 1 : 0)
      .int(it.z),
  );
  const c = p.fac.commitment;
  w.int(c.P).int(c.Q).int(c.A).int(c.B).int(c.T).int(c.sigma);
  w.int(p.fac.z1).int(p.fac.z2).int(p.fac.w1).int(p.fac.w2).int(p.fac.v);
  return w.finish();
}

function bit(r: Reader, what: string): boolean {
  const v = r.u8(what);
  if (v > 1) throw new DecodeError(`${what} must be 0 or 1`);
  return v === 1;
}

export function decodeProofs(b: Uint8Array, L: SecurityParams): AuxProofs {
  const r = new Reader(b);
  readVersion(r);
  const bits = L.maxModulusBits;
  const w = r.int(bits, 'Πmod w');
  const items = r.list(
    (x) => ({ x: x.int(bits, 'Πmod x_i'), a: bit(x, 'Πmod a_i'), b: bit(x, 'Πmod b_i'), z: x.int(bits, 'Πmod z_i') }),
    { count: L.m },
    'Πmod items',
  );
  const fb = facBits(L);
  const commitment = {
    P: r.int(bits, 'Πfac P'),
    Q: r.int(bits, 'Πfac Q'),
    A: r.int(bits, 'Πfac A'),
    B: r.int(bits, 'Πfac B'),
    T: r.int(bits, 'Πfac T'),
    sigma: r.int(fb, 'Πfac σ'),
  };
  const fac = {
    commitment,
    z1: r.int(fb, 'Πfac z1'),
    z2: r.int(fb, 'Πfac z2'),
    w1: r.int(fb, 'Πfac w1'),
    w2: r.int(fb, 'Πfac w2'),
    v: r.int(fb, 'Πfac v'),
  };
  r.end();
  return { mod: { w, items }, fac };
}
