/**
 * Presigning messages (CGGMP'24 presigning with El-Gamal commitments, rounds in docs/architecture.md, "Data flow").
 *
 *  presign/r1         bcast  K_i = Enc_i(k_i), G_i = Enc_i(γ_i), Y_i = y_i·G,
 *                            A_i = (a_i·G, a_i·Y_i + k_i·G), B_i = (b_i·G, b_i·Y_i + γ_i·G)
 *  presign/r1-proofs  p2p    ψ0 = Πenc-elg(K_i, A_i), ψ1 = Πenc-elg(G_i, B_i) against the recipient's (N̂, s, t)
 *  presign/r2         p2p    h_i = H(every r1 broadcast) (echo), Γ_i = γ_i·G with Πelog(Γ_i, B_i),
 *                            D_{j,i} = γ_i⊙K_j ⊕ Enc_j(β), F_{j,i} = Enc_i(β), D̂, F̂ likewise with x'_i,
 *                            ψ = Πaff-g(D, F, Γ_i), ψ̂ = Πaff-g(D̂, F̂, X'_i)
 *  presign/r3         bcast  δ_i, Δ_i = k_i·Γ with Πelog(Δ_i, A_i), S_i = χ_i·Γ
 *
 * Every integer is bounded before it is decoded (docs/security.md A16); the verifiers apply the exact ranges.
 * @module
 */
import { Reader, Writer } from '../codec.js';
import { MESSAGE_VERSION, readVersion } from '../common.js';
import { Schedule } from '../machine.js';
import type { Point } from '../../curve/secp256k1.js';
import type { SecurityParams } from '../../zk/params.js';
import type { EncElgProof } from '../../zk/enc-elg.js';
import type { AffGProof } from '../../zk/aff-g.js';
import type { ElogProof } from '../../zk/elog.js';

export const ROUND = {
  r1: 'presign/r1',
  r1Proofs: 'presign/r1-proofs',
  r2: 'presign/r2',
  r3: 'presign/r3',
} as const;

/** The rounds in order with their kinds (no confirmation: a presignature changes no shared state). */
export const SCHEDULE = new Schedule([
  [ROUND.r1, 'broadcast'],
  [ROUND.r1Proofs, 'p2p'],
  [ROUND.r2, 'p2p'],
  [ROUND.r3, 'broadcast'],
]);

export interface R1Broadcast {
  /** K_i = Enc_i(k_i; ρ_i) */
  readonly K: bigint;
  /** G_i = Enc_i(γ_i; ν_i) */
  readonly G: bigint;
  /** Y_i = y_i·G: El-Gamal key of the commitments */
  readonly Y: Point;
  /** A_{i,1} = a_i·G, A_{i,2} = a_i·Y_i + k_i·G */
  readonly A1: Point;
  readonly A2: Point;
  /** B_{i,1} = b_i·G, B_{i,2} = b_i·Y_i + γ_i·G */
  readonly B1: Point;
  readonly B2: Point;
}

export interface R1Proofs {
  /** ψ0: Πenc-elg for K_i with (A_{i,1}, A_{i,2}) */
  readonly psiK: EncElgProof;
  /** ψ1: Πenc-elg for G_i with (B_{i,1}, B_{i,2}) */
  readonly psiG: EncElgProof;
}

export interface R2Message {
  /** h_i = H(ssid, every r1 broadcast in signer order): all signers saw the same round 1 */
  readonly echo: Uint8Array;
  /** Γ_i = γ_i·G */
  readonly Gamma: Point;
  /** Πelog: Γ_i opens B_i */
  readonly psiGamma: ElogProof;
  /** D_{j,i} = γ_i⊙K_j ⊕ Enc_j(β_{i,j}), F_{j,i} = Enc_i(β_{i,j}) */
  readonly D: bigint;
  readonly F: bigint;
  /** D̂_{j,i} = x'_i⊙K_j ⊕ Enc_j(β̂_{i,j}), F̂_{j,i} = Enc_i(β̂_{i,j}) */
  readonly Dhat: bigint;
  readonly Fhat: bigint;
  /** Πaff-g for (D, F, Γ_i) and for (D̂, F̂, X'_i) */
  readonly psi: AffGProof;
  readonly psiHat: AffGProof;
}

export interface R3Broadcast {
  /** δ_i = k_i·γ_i + Σ_j (α_{i,j} − β_{i,j}) mod q */
  readonly delta: bigint;
  /** Δ_i = k_i·Γ */
  readonly Delta: Point;
  /** S_i = χ_i·Γ */
  readonly S: Point;
  /** Πelog: Δ_i opens A_i with base Γ */
  readonly psiDelta: ElogProof;
}

function modBits(L: SecurityParams): number {
  return L.maxModulusBits;
}

/**
 * Decoding cap for responses: bounds the work before any arithmetic (docs/security.md A16) but stays loose, so an
 * out-of-range response reaches the verifier, whose exact range check names it.
 */
function responseBits(L: SecurityParams): number {
  return L.ellPrime + L.epsilon + L.maxModulusBits + 16;
}

export function encodeR1(m: R1Broadcast): Uint8Array {
  return new Writer()
    .u8(MESSAGE_VERSION)
    .int(m.K)
    .int(m.G)
    .point(m.Y)
    .point(m.A1)
    .point(m.A2)
    .point(m.B1)
    .point(m.B2)
    .finish();
}

export function decodeR1(b: Uint8Array, L: SecurityParams): R1Broadcast {
  const r = new Reader(b);
  readVersion(r);
  const c = 2 * modBits(L);
  const out = {
    K: r.int(c, 'K'),
    G: r.int(c, 'G'),
    Y: r.point('Y'),
    A1: r.point('A1'),
    A2: r.point('A2'),
    B1: r.point('B1'),
    B2: r.point('B2'),
  };
  r.end();
  return out;
}

function writeEncElg(w: Writer, p: EncElgProof): void {
  w.int(p.S).int(p.T).int(p.D).point(p.Y).point(p.Z).int(p.z1).int(p.z2).int(p.z3).scalar(p.w);
}

function readEncElg(r: Reader, L: SecurityParams): EncElgProof {
  const mb = modBits(L);
  return {
    S: r.int(mb, 'Πenc-elg S'),
    T: r.int(mb, 'Πenc-elg T'),
    D: r.int(2 * mb, 'Πenc-elg D'),
    Y: r.point('Πenc-elg Y'),
    Z: r.point('Πenc-elg Z'),
    z1: r.int(responseBits(L), 'Πenc-elg z1'),
    z2: r.int(mb, 'Πenc-elg z2'),
    z3: r.int(responseBits(L), 'Πenc-elg z3'),
    w: r.scalar('Πenc-elg w'),
  };
}

export function encodeR1Proofs(m: R1Proofs): Uint8Array {
  const w = new Writer().u8(MESSAGE_VERSION);
  writeEncElg(w, m.psiK);
  writeEncElg(w, m.psiG);
  return w.finish();
}

export function decodeR1Proofs(b: Uint8Array, L: SecurityParams): R1Proofs {
  const r = new Reader(b);
  readVersion(r);
  const out = { psiK: readEncElg(r, L), psiG: readEncElg(r, L) };
  r.end();
  return out;
}

function writeElog(w: Writer, p: ElogProof): void {
  w.point(p.A).point(p.N).point(p.B).scalar(p.z).scalar(p.u);
}

function readElog(r: Reader): ElogProof {
  return {
    A: r.point('Πelog A'),
    N: r.point('Πelog N'),
    B: r.point('Πelog B'),
    z: r.scalar('Πelog z'),
    u: r.scalar('Πelog u'),
  };
}

function writeAffG(w: Writer, p: AffGProof): void {
  w.int(p.A).point(p.Bx).int(p.By).int(p.E).int(p.S).int(p.F).int(p.T);
  w.int(p.z1).int(p.z2).int(p.z3).int(p.z4).int(p.w).int(p.wY);
}

function readAffG(r: Reader, L: SecurityParams): AffGProof {
  const mb = modBits(L);
  const rb = responseBits(L);
  return {
    A: r.int(2 * mb, 'Πaff-g A'),
    Bx: r.point('Πaff-g Bx'),
    By: r.int(2 * mb, 'Πaff-g By'),
    E: r.int(mb, 'Πaff-g E'),
    S: r.int(mb, 'Πaff-g S'),
    F: r.int(mb, 'Πaff-g F'),
    T: r.int(mb, 'Πaff-g T'),
    z1: r.int(responseBits(L), 'Πaff-g z1'),
    z2: r.int(responseBits(L), 'Πaff-g z2'),
    z3: r.int(rb, 'Πaff-g z3'),
    z4: r.int(rb, 'Πaff-g z4'),
    w: r.int(mb, 'Πaff-g w'),
    wY: r.int(mb, 'Πaff-g wY'),
  };
}

export function encodeR2(m: R2Message): Uint8Array {
  const w = new Writer().u8(MESSAGE_VERSION).fixed(m.echo).point(m.Gamma);
  writeElog(w, m.psiGamma);
  w.int(m.D).int(m.F).int(m.Dhat).int(m.Fhat);
  writeAffG(w, m.psi);
  writeAffG(w, m.psiHat);
  return w.finish();
}

export function decodeR2(b: Uint8Array, L: SecurityParams): R2Message {
  const r = new Reader(b);
  readVersion(r);
  const c = 2 * modBits(L);
  const echo = Uint8Array.from(r.fixed(32, 'echo'));
  const Gamma = r.point('Γ');
  const psiGamma = readElog(r);
  const D = r.int(c, 'D');
  const F = r.int(c, 'F');
  const Dhat = r.int(c, 'D̂');
  const Fhat = r.int(c, 'F̂');
  const psi = readAffG(r, L);
  const psiHat = readAffG(r, L);
  r.end();
  return { echo, Gamma, psiGamma, D, F, Dhat, Fhat, psi, psiHat };
}

export function encodeR3(m: R3Broadcast): Uint8Array {
  const w = new Writer().u8(MESSAGE_VERSION).scalar(m.delta).point(m.Delta).point(m.S);
  writeElog(w, m.psiDelta);
  return w.finish();
}

export function decodeR3(b: Uint8Array): R3Broadcast {
  const r = new Reader(b);
  readVersion(r);
  const out = { delta: r.scalar('δ'), Delta: r.point('Δ'), S: r.point('S'), psiDelta: readElog(r) };
  r.end();
  return out;
}
