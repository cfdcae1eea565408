import test from 'ava';
import fc from 'fast-check';
import type { Expectation } from '../../src/protocol/machine.js';
import { EnvelopeError, EnvelopeSession } from '../../src/envelope/envelope.js';
import { context, identities, sessions } from './envelope-helpers.js';

const ids = identities();
const EXPECTS: Expectation[] = [
  { round: 'keygen/r1', broadcast: true },
  { round: 'keygen/r2', broadcast: false },
];

/** Open must throw an EnvelopeError (never accept, never report a duplicate, never crash otherwise). */
function refused(s: EnvelopeSession, env: Uint8Array): boolean {
  try {
    s.open(env, EXPECTS);
    return false;
  } catch (e) {
    return e instanceof EnvelopeError;
  }
}

function setup(): { bcast: Uint8Array; p2p: Uint8Array; seen: EnvelopeSession; fresh: () => EnvelopeSession } {
  const s = sessions(ids);
  const s0 = s[0] as EnvelopeSession;
  const bcast = s0.seal({ from: 0, to: 'all', round: 'keygen/r1', body: Uint8Array.from({ length: 40 }, (_, i) => i) });
  const p2p = s0.seal({ from: 0, to: 1, round: 'keygen/r2', body: Uint8Array.from({ length: 40 }, (_, i) => 255 - i) });
  // a receiver that already accepted the originals: a mutation must not pass as a duplicate either
  const seen = s[1] as EnvelopeSession;
  seen.open(bcast, EXPECTS);
  seen.open(p2p, EXPECTS);
  return { bcast, p2p, seen, fresh: () => new EnvelopeSession(context(ids, 1, s0.sid)) };
}

test('property: any single-byte mutation of a sealed envelope is rejected', (t) => {
  const { bcast, p2p, seen, fresh } = setup();
  const receiver = fresh();
  for (const env of [bcast, p2p]) {
    fc.assert(
      fc.property(fc.nat({ max: env.length - 1 }), fc.integer({ min: 1, max: 255 }), (at, x) => {
        const m = Uint8Array.from(env);
        m[at] = (m[at] as number) ^ x;
        return refused(receiver, m) && refused(seen, m);
      }),
      { numRuns: 500 },
    );
  }
  t.pass();
});

test('exhaustive: every byte position, every truncation and an appended byte are rejected', (t) => {
  const { bcast, p2p, seen, fresh } = setup();
  const receiver = fresh();
  for (const env of [bcast, p2p]) {
    for (let at = 0; at < env.length; at++) {
      for (const x of [0x01, 0x80, 0xff]) {
        const m = Uint8Array.from(env);
        m[at] = (m[at] as number) ^ x;
        if (!refused(receiver, m) || !refused(seen, m)) return t.fail(`mutation at byte ${at} (xor ${x}) accepted`);
      }
    }
    for (let len = 0; len < env.length; len++)
      if (!refused(receiver, env.subarray(0, len))) return t.fail(`truncation to ${len} accepted`);
    if (!refused(receiver, Uint8Array.from([...env, 0]))) return t.fail('appended byte accepted');
  }
  // the untouched envelopes still open on the fresh receiver
  t.is(receiver.open(bcast, EXPECTS).status, 'accepted');
  t.is(receiver.open(p2p, EXPECTS).status, 'accepted');
});
