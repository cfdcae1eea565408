/**
 * Labels of the proof instances of presigning, bound into each proof's transcript so that a proof
 * made for one instance (ψ0 for K vs ψ1 for G, ψ for Γ vs ψ̂ for X', Πelog for Γ vs for Δ) never
 * verifies as another (docs/security.md, transcript rule 2).
 * @module
 */
const label = (s: string) => new TextEncoder().encode(`presign/${s}`);

export const INSTANCE = {
  /** Πenc-elg for K_i */
  K: label('enc-elg/K'),
  /** Πenc-elg for G_i */
  G: label('enc-elg/G'),
  /** Πaff-g for D_{j,i} (multiplier γ_i) */
  gamma: label('aff-g/gamma'),
  /** Πaff-g for D̂_{j,i} (multiplier x'_i) */
  x: label('aff-g/x'),
  /** Πelog for Γ_i against B_i */
  Gamma: label('elog/Gamma'),
  /** Πelog for Δ_i against A_i */
  Delta: label('elog/Delta'),
} as const;
