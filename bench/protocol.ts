/**
 * Protocol benchmark, in-process: key generation (2-of-3) and aux-info (3 parties, 3072-bit
 * moduli from the fixture safe primes, prime generation excluded), total and per party, and the
 * prove / verify time of each zero-knowledge proof.
 *
 *   npm run bench:protocol [-- --quick]
 * @module
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { startKeygen } from '../src/protocol/keygen/index.js';
import { startAuxInfo } from '../src/protocol/aux/index.js';
import type { Round, Step } from '../src/protocol/machine.js';
import { ringPedersenFromPrimes } from '../src/paillier/ring-pedersen.js';
import { SECURITY_128 } from '../src/zk/params.js';
import { provePrm, verifyPrm } from '../src/zk/prm.js';
import { proveMod, verifyMod } from '../src/zk/mod.js';
import { proveFac, verifyFac } from '../src/zk/fac.js';
import { commitSch, challengeSch, proveSch, verifySch } from '../src/zk/sch.js';
import { mulG, modq, randomScalar } from '../src/curve/secp256k1.js';
import { proveElog, verifyElog } from '../src/zk/elog.js';
import { proveEncElg, verifyEncElg } from '../src/zk/enc-elg.js';
import { proveAffG, verifyAffG } from '../src/zk/aff-g.js';
import { PaillierSecretKey } from '../src/paillier/secret-key.js';
import { runNetwork } from '../test/helpers/network.js';
import { measure, median } from './stats.js';

const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false } } });
const quick = values.quick;
const L = SECURITY_128;

function primes(): bigint[] {
  const url = new URL('../../test/fixtures/safe-primes.json', import.meta.url);
  return (JSON.parse(readFileSync(url, 'utf8')) as { bits1536: string[] }).bits1536.map((h) => BigInt(h));
}

/** Wraps a party's rounds to add up the time spent in its own code. */
function timed<O>(step: Step<O>, spent: number[], i: number): Step<O> {
  if (step.kind !== 'next') return step;
  const inner = step.round;
  const round: Round<O> = {
    me: inner.me,
    expects: inner.expects,
    handle(inbox) {
      const t0 = performance.now();
      const next = inner.handle(inbox);
      spent[i] = (spent[i] as number) + performance.now() - t0;
      return timed(next, spent, i);
    },
  };
  return { ...step, round };
}

function runTimed<O>(make: (i: number) => Step<O>, n: number): { total: number; perParty: number[] } {
  const spent = new Array<number>(n).fill(0);
  const starts = [...Array(n).keys()].map((i) => {
    const t0 = performance.now();
    const s = make(i);
    spent[i] = performance.now() - t0;
    return timed(s, spent, i);
  });
  const results = runNetwork(starts);
  if (!results.every((r) => r.output)) throw new Error(`protocol did not complete: ${results.map((r) => r.abort?.reason ?? 'ok').join('; ')}`);
  return { total: spent.reduce((a, b) => a + b, 0), perParty: spent };
}

function row(name: string, total: number, perParty: number[] | undefined, note = ''): string {
  const per = perParty ? perParty.map((x) => x.toFixed(x < 10 ? 2 : 0)).join(' / ') : '–';
  return `| ${name} | ${total.toFixed(total < 10 ? 2 : 0)} | ${per} | ${note} |`;
}

async function main(): Promise<void> {
  const lines: string[] = [];
  const log = (s: string) => process.stderr.write(s + '\n');
  const P = primes();
  const rp = [0, 1, 2].map((i) => ringPedersenFromPrimes(P[4 * i + 2] as bigint, P[4 * i + 3] as bigint, { checkPrimes: false }));

  log('keygen 2-of-3 …');
  const kgRuns = quick ? 3 : 20;
  const kg = [...Array(kgRuns)].map(() => {
    const sid = Uint8Array.from(randomBytes(32));
    return runTimed((i) => startKeygen({ sid, n: 3, t: 2, i }), 3);
  });
  lines.push(row('keygen 2-of-3 (in-process, 3 parties)', median(kg.map((r) => r.total)), [0, 1, 2].map((i) => median(kg.map((r) => r.perParty[i] as number)))));

  log('aux-info, 3 parties, 3072-bit moduli …');
  const auxRuns = quick ? 1 : 3;
  const aux = [...Array(auxRuns)].map((_, k) => {
    log(`  run ${k + 1}/${auxRuns}`);
    const sid = Uint8Array.from(randomBytes(32));
    return runTimed(
      (i) => startAuxInfo({ sid, n: 3, i, L, paillier: { p: P[4 * i] as bigint, q: P[4 * i + 1] as bigint }, ringPedersen: rp[i] as (typeof rp)[number] }),
      3,
    );
  });
  lines.push(row('aux-info (3 parties, safe primes given)', median(aux.map((r) => r.total)), [0, 1, 2].map((i) => median(aux.map((r) => r.perParty[i] as number)))));

  const plan = quick ? { warmup: 0, minRuns: 1, minMs: 0, maxRuns: 1 } : { warmup: 1, minRuns: 3, minMs: 0, maxRuns: 3 };
  const sid = Uint8Array.from(randomBytes(32));
  const [p0, q0] = [P[0] as bigint, P[1] as bigint];
  const N0 = p0 * q0;
  const r0 = rp[0] as (typeof rp)[number];
  const r1 = rp[1] as (typeof rp)[number];
  const b = { sid, prover: 0 };
  const bv = { sid, prover: 0, verifier: 1 };
  const proofs: [string, () => unknown, () => unknown][] = [];
  const prm = provePrm(b, L, r0.params, r0.secret);
  proofs.push(['Πprm (m = 128)', () => provePrm(b, L, r0.params, r0.secret), () => verifyPrm(b, L, r0.params, prm)]);
  const mod = proveMod(b, L, { N: N0 }, { p: p0, q: q0 });
  proofs.push(['Πmod (m = 128)', () => proveMod(b, L, { N: N0 }, { p: p0, q: q0 }), () => verifyMod(b, L, { N: N0 }, mod)]);
  const facSt = { N0, aux: r1.params };
  const fac = proveFac(bv, L, facSt, { p: p0, q: q0 });
  proofs.push(['Πfac', () => proveFac(bv, L, facSt, { p: p0, q: q0 }), () => verifyFac(bv, L, facSt, fac)]);
  const x = randomScalar();
  const X = mulG(x);
  const rid = Uint8Array.from(randomBytes(32));
  const { commitment, nonce } = commitSch();
  const e = challengeSch(sid, 0, rid, X, commitment.A);
  const z = proveSch(e, nonce, x);
  proofs.push(['Πsch', () => proveSch(challengeSch(sid, 0, rid, X, commitSch().commitment.A), commitSch().nonce, x), () => verifySch(X, commitment.A, challengeSch(sid, 0, rid, X, commitment.A), z)]);
  // presigning proofs: prover 0 (Paillier key from primes 0, 1), verifier 1 (key 4, 5; aux r1)
  const skI = PaillierSecretKey.fromPrimes(p0, q0, { checkPrimes: false });
  const skJ = PaillierSecretKey.fromPrimes(P[4] as bigint, P[5] as bigint, { checkPrimes: false });
  const [a, bb, k, y, lambda, h] = [randomScalar(), randomScalar(), randomScalar(), randomScalar(), randomScalar(), randomScalar()];
  const Xe = mulG(k);
  const H = mulG(h);
  const elogSt = { L: mulG(lambda), M: mulG(y).add(Xe.multiply(lambda)), X: Xe, Y: H.multiply(y), H };
  const elog = proveElog(b, L, elogSt, { y, lambda });
  proofs.push(['Πelog', () => proveElog(b, L, elogSt, { y, lambda }), () => verifyElog(b, L, elogSt, elog)]);
  const rho = skI.publicKey.randomNonce();
  const encSt = { N0: skI.N, C: skI.encrypt(k, rho), A: mulG(a), B: mulG(bb), X: mulG(modq(a * bb + k)), aux: r1.params };
  const enc = proveEncElg(bv, L, encSt, { x: k, rho, b: bb }, skI);
  proofs.push(['Πenc-elg', () => proveEncElg(bv, L, encSt, { x: k, rho, b: bb }, skI), () => verifyEncElg(bv, L, encSt, enc)]);
  const Cj = skJ.publicKey.encrypt(randomScalar());
  const gamma = randomScalar();
  const betaNeg = -(randomScalar() << 1000n);
  const rhoJ = skJ.publicKey.randomNonce();
  const rhoY = skI.publicKey.randomNonce();
  const D = skJ.publicKey.add(skJ.publicKey.scalarMul(Cj, gamma, 256), skJ.publicKey.encrypt(betaNeg, rhoJ));
  const affSt = { Nj: skJ.N, Ni: skI.N, C: Cj, D, Y: skI.encrypt(betaNeg, rhoY), X: mulG(gamma), aux: r1.params };
  const affW = { x: gamma, y: betaNeg, rho: rhoJ, rhoY };
  const aff = proveAffG(bv, L, affSt, affW, skI);
  proofs.push(['Πaff-g', () => proveAffG(bv, L, affSt, affW, skI), () => verifyAffG(bv, L, affSt, aff)]);
  const proofLines: string[] = [];
  for (const [name, prove, verify] of proofs) {
    log(`${name} …`);
    const tp = await measure(prove, plan);
    const tv = await measure(verify, plan);
    proofLines.push(`| ${name} | ${tp.medianMs.toFixed(tp.medianMs < 10 ? 2 : 0)} | ${tv.medianMs.toFixed(tv.medianMs < 10 ? 2 : 0)} |`);
  }

  console.log(`Node ${process.version}, median ms${quick ? ' (quick run)' : ''}\n`);
  console.log('| protocol | total compute (ms) | per party (ms) | note |\n| --- | ---: | --- | --- |');
  for (const l of lines) console.log(l);
  console.log('\n| proof (3072-bit moduli) | prove (ms) | verify (ms) |\n| --- | ---: | ---: |');
  for (const l of proofLines) console.log(l);
}

await main();
