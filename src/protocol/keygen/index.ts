export { startKeygen, startRefresh } from './round1.js';
export { ROUND as KEYGEN_ROUND, SCHEDULE as KEYGEN_SCHEDULE } from './messages.js';
/** @public (startKeygen and startRefresh) */
export type { KeygenParams } from './params.js';
