export { startPresign } from './round1.js';
export { precomputePresignNonces } from './nonces.js';
export { ROUND as PRESIGN_ROUND, SCHEDULE as PRESIGN_SCHEDULE } from './messages.js';
/** @public (startPresign) */
export type { PresignParams } from './params.js';
export { Presignature, /** @public (Presignature.consume) */ ConsumedPresignature, nonceR } from './presignature.js';
/**
 * A presignature's public and secret parts and the partial signature it makes.
 * @public
 */
export type { PresignaturePublic, PresignatureSecret, PartialSignature } from './presignature.js';
