/**
 * Which protocol schedule a session of each kind runs (refresh is a keygen run). The schedules
 * themselves (rounds, kinds, order, confirmation) are each protocol's own, exported beside its
 * round names; the envelope layer accepts exactly their rounds, buffering a message of round r + 1
 * from a fast peer until this node has finished round r.
 * @module
 */
import type { Schedule } from '../protocol/machine.js';
import { KEYGEN_SCHEDULE } from '../protocol/keygen/index.js';
import { AUX_SCHEDULE } from '../protocol/aux/index.js';
import { PRESIGN_SCHEDULE } from '../protocol/presign/index.js';
import { RESHARE_SCHEDULE } from '../protocol/reshare/index.js';
import type { ProtocolName } from '../rpc/messages.js';

export const PROTOCOL_SCHEDULES: Readonly<Record<ProtocolName, Schedule>> = {
  keygen: KEYGEN_SCHEDULE,
  refresh: KEYGEN_SCHEDULE,
  aux: AUX_SCHEDULE,
  presign: PRESIGN_SCHEDULE,
  reshare: RESHARE_SCHEDULE,
};
