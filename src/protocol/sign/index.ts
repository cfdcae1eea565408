export { combineSignature, wrongPartials } from './combine.js';
export { verifyEcdsa, toCompact, toDer, toRsv, type EcdsaSignature } from './signature.js';
