export { startPresign } from './round1.js';
export { ROUND as PRESIGN_ROUND, SCHEDULE as PRESIGN_SCHEDULE } from './messages.js';
export type { PresignParams } from './params.js';
export {
  Presignature,
  ConsumedPresignature,
  nonceR,
  digestScalar,
  type PresignaturePublic,
  type PresignatureSecret,
  type PartialSignature,
} from './presignature.js';
