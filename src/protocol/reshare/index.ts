export { startReshare } from './round1.js';
export { ROUND as RESHARE_ROUND, SCHEDULE as RESHARE_SCHEDULE } from './messages.js';
export type { /** @public (startReshare) */ ReshareParams, ReshareRole, OldKey } from './params.js';
export type { ReshareOutput } from './output.js';
