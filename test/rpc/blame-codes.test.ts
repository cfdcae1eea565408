/**
 * An abort's code is a closed list: the session-update schema accepts each listed code and no
 * other, so the coordinator reads an abort with an unknown code as a malformed answer.
 */
import test from 'ava';
import { BLAME_CODES } from '../../src/protocol/blame.js';
import { sessionUpdateSchema } from '../../src/rpc/messages.js';

const aborted = (abort: Record<string, unknown>) => ({ status: 'aborted', outbox: [], abort });

test('every listed abort code is accepted, once each', (t) => {
  t.is(new Set(BLAME_CODES).size, BLAME_CODES.length);
  for (const code of BLAME_CODES) {
    const parsed = sessionUpdateSchema.safeParse(aborted({ culprits: [1], code, reason: 'x' }));
    t.true(parsed.success, code);
    t.is(parsed.data?.abort?.code, code);
  }
});

test('an abort code outside the list, or none, is refused by the session-update schema', (t) => {
  for (const code of ['', 'unexpected', 'Malformed', 'malformed ', 'sch/equation', 'busy', 42, null])
    t.false(sessionUpdateSchema.safeParse(aborted({ culprits: [], code, reason: 'x' })).success, JSON.stringify(code));
  t.false(sessionUpdateSchema.safeParse(aborted({ culprits: [], reason: 'x' })).success, 'no code');
});

test('codes are kebab-case words', (t) => {
  for (const code of BLAME_CODES) t.regex(code, /^[a-z]+(-[a-z]+)*$/, code);
});
