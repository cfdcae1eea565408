export { startAuxInfo } from './round1.js';
export { ROUND as AUX_ROUND } from './messages.js';
export type { AuxParams } from './params.js';
