/**
 * The coordinator's ledger of relayed confirmations: with the nodes' pinned identity keys it keeps
 * only envelopes their named sender signed, so a node cannot keep a party's genuine confirmation
 * out by offering a forged one first.
 */
import test from 'ava';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { encodeSignedEnvelope, type RawEnvelopeFields } from '../../src/envelope/envelope.js';
import { ConfirmationLedger } from '../../src/coordinator/resolver.js';
import { AUX_ROUND } from '../../src/protocol/aux/index.js';

const keys = [0, 1, 2].map(() => generateKeyPairSync('ec', { namedCurve: 'P-256' }));
const sid = randomBytes(32);

function confirmation(from: number, signer: number, payload: Uint8Array): string {
  const f: RawEnvelopeFields = {
    kind: 'bcast',
    protocol: 'mpc-engine/aux',
    sid,
    round: AUX_ROUND.confirm,
    from,
    to: 'all',
    seq: 3,
    ephemeral: new Uint8Array(0),
    payload,
  };
  return Buffer.from(encodeSignedEnvelope(f, keys[signer]!.privateKey)).toString('base64');
}

test('a confirmation "from" party 0 signed by party 1 is not kept; party 0’s own, offered after it, is', (t) => {
  const ledger = new ConfirmationLedger(keys.map((k) => k.publicKey));
  const forged = confirmation(0, 1, randomBytes(32));
  const genuine = confirmation(0, 0, randomBytes(32));
  ledger.offer(forged);
  ledger.offer(genuine);
  t.is(ledger.of(sid.toString('hex')).get(0), genuine);
});

test('without identity keys the first envelope offered per party is kept (the nodes check what they commit on)', (t) => {
  const ledger = new ConfirmationLedger();
  const first = confirmation(0, 1, randomBytes(32));
  ledger.offer(first);
  ledger.offer(confirmation(0, 0, randomBytes(32)));
  t.is(ledger.of(sid.toString('hex')).get(0), first);
});
