export { startAuxInfo } from './round1.js';
export { ROUND as AUX_ROUND, SCHEDULE as AUX_SCHEDULE } from './messages.js';
/** @public (startAuxInfo) */
export type { AuxParams } from './params.js';
// What a node needs to run aux-info: its safe primes (made ahead of time) and the ring-Pedersen
// parameters built from a pair of them. Re-exported so the node reaches them through the protocol.
export { assertSafePrime, generateSafePrime, SAFE_PRIME_BITS } from '../../paillier/primes.js';
export { ringPedersenFromPrimes } from '../../paillier/ring-pedersen.js';
export { SECURITY_128, type SecurityParams } from '../../zk/params.js';
