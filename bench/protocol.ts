/**
 * Protocol benchmark, in-process: key generation (2-of-3), aux-info (3 parties, 3072-bit moduli
 * from the fixture safe primes, prime generation excluded), presigning and signing (signers 0 and
 * 1 of a 2-of-3 key), total and per party, the prove / verify time of each zero-knowledge proof,
 * and in the same run the peer DKLs23 (OT-based, WASM) for key generation and signing.
 *
 *   npm run bench:protocol [-- --quick] [-- --only keygen,aux,presign,proofs,dkls] [-- --json FILE]
 *
 * `--only presign-proofs` times only the proofs of presigning (Πenc-elg, Πaff-g, Πelog), not the
 * aux-info ones. `--json FILE` writes the medians as rows { op, impl, median_ms }: impl `ours` or
 * `dkls23`, op `presign/2-of-3` (total compute of both signers) and the like.
 * @module
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { readFileSync, writeFileSync } from 'node:fs';
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
import { startPresign, precomputePresignNonces, type Presignature } from '../src/protocol/presign/index.js';
import { clearNonces } from '../src/paillier/nonce-pool.js';
import { combineSignature } from '../src/protocol/sign/index.js';
import type { KeyShare } from '../src/protocol/keyshare.js';
import type { AuxInfo } from '../src/protocol/aux-info.js';
import { dklsKeygen, dklsSign, randomDigest } from './peers/dkls.js';
import { measure, median } from './stats.js';

const { values } = parseArgs({
  options: { quick: { type: 'boolean', default: false }, only: { type: 'string' }, json: { type: 'string' } },
});
const quick = values.quick;
const sections = new Set((values.only ?? 'keygen,aux,presign,proofs,dkls').split(','));
const L = SECURITY_128;

/** A row of the --json output. */
interface JsonRow {
  op: string;
  impl: 'ours' | 'dkls23';
  median_ms: number;
}
const jsonRows: JsonRow[] = [];
const record = (op: string, impl: JsonRow['impl'], ms: number) => jsonRows.push({ op, impl, median_ms: ms });

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

function runTimed<O>(
  make: (i: number) => Step<O>,
  n: number,
  ids: readonly number[] = [...Array(n).keys()],
): { total: number; perParty: number[]; outputs: O[] } {
  const spent = new Array<number>(n).fill(0);
  const starts = ids.map((id, k) => {
    const t0 = performance.now();
    const s = make(id);
    spent[k] = performance.now() - t0;
    return timed(s, spent, k);
  });
  const results = runNetwork(starts, undefined, ids);
  if (!results.every((r) => r.output))
    throw new Error(`protocol did not complete: ${results.map((r) => r.abort?.reason ?? 'ok').join('; ')}`);
  return { total: spent.reduce((a, b) => a + b, 0), perParty: spent, outputs: results.map((r) => r.output as O) };
}

function row(name: string, total: number, perParty: number[] | undefined, note = ''): string {
  const per = perParty ? perParty.map((x) => x.toFixed(x < 10 ? 2 : 0)).join(' / ') : '–';
  return `| ${name} | ${total.toFixed(total < 10 ? 2 : 0)} | ${per} | ${note} |`;
}

async function main(): Promise<void> {
  const lines: string[] = [];
  const log = (s: string) => process.stderr.write(s + '\n');
  const P = primes();
  const rp = [0, 1, 2].map((i) =>
    ringPedersenFromPrimes(P[4 * i + 2] as bigint, P[4 * i + 3] as bigint, { checkPrimes: false }),
  );

  const kgRuns = quick ? 3 : 20;
  const kg = [...Array(kgRuns)].map(() => {
    const sid = Uint8Array.from(randomBytes(32));
    return runTimed((i) => startKeygen({ sid, n: 3, t: 2, i }), 3);
  });
  const keygenMs = median(kg.map((r) => r.total));
  let presignMs: number | undefined;
  let signMs: number | undefined;
  if (sections.has('keygen')) {
    log('keygen 2-of-3 …');
    record('keygen/2-of-3', 'ours', keygenMs);
    lines.push(
      row(
        'keygen 2-of-3 (in-process, 3 parties)',
        keygenMs,
        [0, 1, 2].map((i) => median(kg.map((r) => r.perParty[i] as number))),
      ),
    );
  }

  if (sections.has('aux')) {
    log('aux-info, 3 parties, 3072-bit moduli …');
    const auxRuns = quick ? 1 : 3;
    const aux = [...Array(auxRuns)].map((_, k) => {
      log(`  run ${k + 1}/${auxRuns}`);
      const sid = Uint8Array.from(randomBytes(32));
      return runTimed(
        (i) =>
          startAuxInfo({
            sid,
            n: 3,
            i,
            L,
            paillier: { p: P[4 * i] as bigint, q: P[4 * i + 1] as bigint },
            ringPedersen: rp[i] as (typeof rp)[number],
          }),
        3,
      );
    });
    record('aux-info/3', 'ours', median(aux.map((r) => r.total)));
    lines.push(
      row(
        'aux-info (3 parties, safe primes given)',
        median(aux.map((r) => r.total)),
        [0, 1, 2].map((i) => median(aux.map((r) => r.perParty[i] as number))),
      ),
    );
  }

  if (sections.has('presign')) {
    log('presign + sign, signers 0 and 1 of 2-of-3 …');
    const shares = (kg[0] as (typeof kg)[number]).outputs;
    const auxInfo = [0, 1, 2].map((i) => ({
      i,
      parties: [0, 1, 2].map((j) => ({
        N: (P[4 * j] as bigint) * (P[4 * j + 1] as bigint),
        rp: (rp[j] as (typeof rp)[number]).params,
      })),
      secret: { p: P[4 * i] as bigint, q: P[4 * i + 1] as bigint },
    }));
    const S = [0, 1];
    const presignRuns = quick ? 2 : 6;
    const pre = [...Array(presignRuns)].map((_, k) => {
      log(`  run ${k + 1}/${presignRuns}`);
      const sid = Uint8Array.from(randomBytes(32));
      const params = (i: number) => ({ sid, signers: S, key: shares[i] as KeyShare, aux: auxInfo[i] as AuxInfo, L });
      // the Paillier nonces made ahead of time (as an idle worker would), timed per signer
      clearNonces();
      const pre = S.map((i) => {
        const t0 = performance.now();
        precomputePresignNonces(params(i));
        return performance.now() - t0;
      });
      const online = runTimed((i) => startPresign(params(i)), 2, S);
      return {
        ...online,
        online: online.total,
        onlinePerParty: online.perParty,
        total: online.total + pre.reduce((a, b) => a + b, 0),
        perParty: online.perParty.map((x, k) => x + (pre[k] as number)),
      };
    });
    // the first run builds the comb tables of s, t (kept across sessions, as in a running node)
    const warm = pre.slice(1);
    presignMs = median(warm.map((r) => r.total));
    const onlineMs = median(warm.map((r) => r.online));
    record('presign/2-of-3', 'ours', presignMs);
    record('presign-online/2-of-3', 'ours', onlineMs);
    lines.push(
      row(
        'presign, 2 signers of 2-of-3 (tables warm; total, nonces made ahead included)',
        presignMs,
        [0, 1].map((k) => median(warm.map((r) => r.perParty[k] as number))),
        `first run ${(pre[0] as (typeof pre)[number]).total.toFixed(0)} ms`,
      ),
    );
    lines.push(
      row(
        'presign online (Paillier nonces made ahead)',
        onlineMs,
        [0, 1].map((k) => median(warm.map((r) => r.onlinePerParty[k] as number))),
      ),
    );
    const signs = warm.map((r) => {
      const digest = Uint8Array.from(randomBytes(32));
      const ps = r.outputs;
      const per = ps.map((p) => {
        const t0 = performance.now();
        const partial = p.consume().sign(digest);
        return { partial, ms: performance.now() - t0 };
      });
      const t0 = performance.now();
      combineSignature(
        (ps[0] as Presignature).pub,
        digest,
        per.map((x) => x.partial),
      );
      return { per: per.map((x) => x.ms), combine: performance.now() - t0 };
    });
    signMs = median(signs.map((x) => x.per.reduce((a, b) => a + b, 0) + x.combine));
    record('sign/2-of-3', 'ours', signMs);
    lines.push(
      row(
        'sign: partials + combine (checks each σ_j, verifies)',
        signMs,
        [0, 1].map((k) => median(signs.map((x) => x.per[k] as number))),
        `combine ${median(signs.map((x) => x.combine)).toFixed(2)} ms`,
      ),
    );
  }

  if (sections.has('dkls')) {
    log('peer: DKLs23 (dkls-wasm-ll-node) keygen and sign …');
    const runs = quick ? 3 : 10;
    const kgs = [...Array(runs)].map(() => dklsKeygen());
    const signs = kgs.map((k) => dklsSign(k.shares, randomDigest()));
    if (!signs.every((x) => x.ok)) throw new Error('DKLs23 produced a signature that does not verify');
    const kgMs = median(kgs.map((k) => k.ms));
    const dPre = median(signs.map((x) => x.presignMs));
    const dSign = median(signs.map((x) => x.signMs));
    record('keygen/2-of-3', 'dkls23', kgMs);
    record('presign/2-of-3', 'dkls23', dPre);
    record('sign/2-of-3', 'dkls23', dSign);
    const ratio = (ours: number | undefined, theirs: number) =>
      ours === undefined ? '' : ` — ours ${(ours / theirs).toFixed(1)}× its time`;
    lines.push(row('peer DKLs23: keygen 2-of-3', kgMs, undefined, `ours ${(keygenMs / kgMs).toFixed(2)}× its time`));
    lines.push(
      row('peer DKLs23: presign (3 rounds, 2 signers)', dPre, undefined, ratio(presignMs, dPre).replace(' — ', '')),
    );
    lines.push(row('peer DKLs23: last message + combine', dSign, undefined, ratio(signMs, dSign).replace(' — ', '')));
  }

  const proofLines: string[] = [];
  const presignProofsOnly = !sections.has('proofs') && sections.has('presign-proofs');
  if (sections.has('proofs') || presignProofsOnly) {
    const plan = quick
      ? { warmup: 0, minRuns: 1, minMs: 0, maxRuns: 1 }
      : { warmup: 1, minRuns: 3, minMs: 0, maxRuns: 3 };
    const sid = Uint8Array.from(randomBytes(32));
    const [p0, q0] = [P[0] as bigint, P[1] as bigint];
    const N0 = p0 * q0;
    const r0 = rp[0] as (typeof rp)[number];
    const r1 = rp[1] as (typeof rp)[number];
    const b = { sid, prover: 0 };
    const bv = { sid, prover: 0, verifier: 1 };
    const proofs: [string, () => unknown, () => unknown][] = [];
    if (!presignProofsOnly) {
      const prm = provePrm(b, L, r0.params, r0.secret);
      proofs.push([
        'Πprm (m = 128)',
        () => provePrm(b, L, r0.params, r0.secret),
        () => verifyPrm(b, L, r0.params, prm),
      ]);
      const mod = proveMod(b, L, { N: N0 }, { p: p0, q: q0 });
      proofs.push([
        'Πmod (m = 128)',
        () => proveMod(b, L, { N: N0 }, { p: p0, q: q0 }),
        () => verifyMod(b, L, { N: N0 }, mod),
      ]);
      const facSt = { N0, aux: r1.params };
      const fac = proveFac(bv, L, facSt, { p: p0, q: q0 });
      proofs.push(['Πfac', () => proveFac(bv, L, facSt, { p: p0, q: q0 }), () => verifyFac(bv, L, facSt, fac)]);
    }
    const x = randomScalar();
    const X = mulG(x);
    const rid = Uint8Array.from(randomBytes(32));
    const { commitment, nonce } = commitSch();
    const e = challengeSch(sid, 0, rid, X, commitment.A);
    const z = proveSch(e, nonce, x);
    proofs.push([
      'Πsch',
      () => proveSch(challengeSch(sid, 0, rid, X, commitSch().commitment.A), commitSch().nonce, x),
      () => verifySch(X, commitment.A, challengeSch(sid, 0, rid, X, commitment.A), z),
    ]);
    // presigning proofs: prover 0 (Paillier key from primes 0, 1), verifier 1 (key 4, 5; aux r1)
    const skI = PaillierSecretKey.fromPrimes(p0, q0, { checkPrimes: false });
    const skJ = PaillierSecretKey.fromPrimes(P[4] as bigint, P[5] as bigint, { checkPrimes: false });
    const [a, bb, k, y, lambda, h] = [
      randomScalar(),
      randomScalar(),
      randomScalar(),
      randomScalar(),
      randomScalar(),
      randomScalar(),
    ];
    const Xe = mulG(k);
    const H = mulG(h);
    const elogSt = { L: mulG(lambda), M: mulG(y).add(Xe.multiply(lambda)), X: Xe, Y: H.multiply(y), H };
    const elog = proveElog(b, L, elogSt, { y, lambda });
    proofs.push(['Πelog', () => proveElog(b, L, elogSt, { y, lambda }), () => verifyElog(b, L, elogSt, elog)]);
    const rho = skI.publicKey.randomNonce();
    const encSt = {
      N0: skI.N,
      C: skI.encrypt(k, rho),
      A: mulG(a),
      B: mulG(bb),
      X: mulG(modq(a * bb + k)),
      aux: r1.params,
    };
    const enc = proveEncElg(bv, L, encSt, { x: k, rho, b: bb }, skI);
    proofs.push([
      'Πenc-elg',
      () => proveEncElg(bv, L, encSt, { x: k, rho, b: bb }, skI),
      () => verifyEncElg(bv, L, encSt, enc),
    ]);
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
    for (const [name, prove, verify] of proofs) {
      log(`${name} …`);
      const tp = await measure(prove, plan);
      const tv = await measure(verify, plan);
      const op = name.split(' ')[0] as string;
      record(`prove/${op}`, 'ours', tp.medianMs);
      record(`verify/${op}`, 'ours', tv.medianMs);
      proofLines.push(
        `| ${name} | ${tp.medianMs.toFixed(tp.medianMs < 10 ? 2 : 0)} | ${tv.medianMs.toFixed(tv.medianMs < 10 ? 2 : 0)} |`,
      );
    }
  }

  console.log(`Node ${process.version}, median ms${quick ? ' (quick run)' : ''}\n`);
  console.log('| protocol | total compute (ms) | per party (ms) | note |\n| --- | ---: | --- | --- |');
  for (const l of lines) console.log(l);
  if (proofLines.length) {
    console.log('\n| proof (3072-bit moduli) | prove (ms) | verify (ms) |\n| --- | ---: | ---: |');
    for (const l of proofLines) console.log(l);
  }
  if (values.json) {
    writeFileSync(values.json, JSON.stringify(jsonRows, null, 2) + '\n');
    log(`wrote ${values.json}`);
  }
}

await main();
