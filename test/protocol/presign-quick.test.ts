import test from 'ava';
import { randomBytes } from 'node:crypto';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { startPresign, type Presignature } from '../../src/protocol/presign/index.js';
import { combineSignature, toRsv } from '../../src/protocol/sign/index.js';
import { SECURITY_128 } from '../../src/zk/params.js';
import { auxFixture, keygenShares } from '../helpers/cluster.js';
import { runNetwork } from '../helpers/network.js';

test('a pair presigns and signs', (t) => {
  const keys = keygenShares(3, 2);
  const aux = auxFixture(3);
  const sid = Uint8Array.from(randomBytes(32));
  const S = [0, 2];
  const t0 = performance.now();
  const res = runNetwork<Presignature>(S.map((i) => startPresign({ sid, signers: S, key: keys[i]!, aux: aux[i]!, L: SECURITY_128 })), undefined, S);
  t.log(`presign ${(performance.now() - t0).toFixed(0)} ms`);
  const ps = res.map((r) => { if (!r.output) throw new Error(JSON.stringify(r.abort)); return r.output; });
  const digest = Uint8Array.from(randomBytes(32));
  const partials = ps.map((p) => p.consume().sign(digest));
  const sig = combineSignature(ps[0]!.pub, digest, partials);
  const rsv = toRsv(sig);
  t.true(secp256k1.verify(rsv.subarray(0, 64), digest, keys[0]!.public.Y.toBytes(true), { prehash: false }));
});
