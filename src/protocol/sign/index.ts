export { combineSignature, wrongPartials } from './combine.js';
export { normalise, verifyEcdsa, toCompact, toDer, toRsv, type EcdsaSignature } from './signature.js';
