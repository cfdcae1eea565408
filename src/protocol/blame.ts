/**
 * The codes an abort carries (which check failed), for the rounds that throw Blame
 * (src/protocol/machine.ts). The list itself is in src/util/blame-codes.ts, where the application
 * protocol's schema (src/rpc) can read it too.
 * @module
 */
export { BLAME_CODES, type BlameCode } from '../util/blame-codes.js';
