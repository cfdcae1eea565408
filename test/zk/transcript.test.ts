import test from 'ava';
import fc from 'fast-check';
import { Transcript, encodeInt, decodeInt } from '../../src/zk/transcript.js';

const challenge = (t: Transcript): bigint => t.challenge('e').bits(256);

test('integers round-trip through the canonical encoding', (t) => {
  fc.assert(fc.property(fc.bigInt({ min: -(1n << 4000n), max: 1n << 4000n }), (x) => decodeInt(encodeInt(x)) === x));
  t.pass();
});

test('a transcript needs a domain tag, and uint fields take only non-negative safe integers (−1 would wrap to 2^64 − 1)', (t) => {
  t.throws(() => new Transcript(''), { instanceOf: TypeError, message: /non-empty string/ });
  const tr = new Transcript('mpc-engine/test/uint');
  for (const n of [-1, 2 ** 53, 1.5])
    t.throws(
      () => tr.uint('prover', n),
      { instanceOf: RangeError, message: /prover must be a non-negative safe integer/ },
      String(n),
    );
  t.notThrows(() => tr.uint('prover', Number.MAX_SAFE_INTEGER));
});

test('each integer has exactly one encoding: non-canonical forms are rejected', (t) => {
  t.throws(() => decodeInt(Uint8Array.of(0, 0, 5)), { instanceOf: RangeError, message: /leading zero/ });
  t.throws(() => decodeInt(Uint8Array.of(1)), { instanceOf: RangeError, message: /negative zero/ });
  t.throws(() => decodeInt(Uint8Array.of(2, 5)), { instanceOf: RangeError, message: /sign byte/ });
  t.throws(() => decodeInt(new Uint8Array(0)), { instanceOf: RangeError });
  t.deepEqual(encodeInt(0n), Uint8Array.of(0));
  t.deepEqual(encodeInt(-258n), Uint8Array.of(1, 1, 2));
});

test('a response and its negation give different challenges (explicit sign byte)', (t) => {
  t.not(challenge(new Transcript('x').int('z', 5n)), challenge(new Transcript('x').int('z', -5n)));
});

test('α-shuffle: regrouping list elements or bytes changes the challenge', (t) => {
  t.not(challenge(new Transcript('x').ints('a', [12n, 3n])), challenge(new Transcript('x').ints('a', [1n, 23n])));
  t.not(
    challenge(new Transcript('x').ints('a', [0x0102n, 0x03n])),
    challenge(new Transcript('x').ints('a', [0x01n, 0x0203n])),
  );
  const ab = new TextEncoder().encode('ab');
  const c = new TextEncoder().encode('c');
  const a = new TextEncoder().encode('a');
  const bc = new TextEncoder().encode('bc');
  t.not(
    challenge(new Transcript('x').bytes('p', ab).bytes('q', c)),
    challenge(new Transcript('x').bytes('p', a).bytes('q', bc)),
  );
  t.not(challenge(new Transcript('x').byteList('l', [ab, c])), challenge(new Transcript('x').byteList('l', [a, bc])));
});

test('empty list in the middle is not the same as no list', (t) => {
  const x = new Transcript('x').int('a', 1n).ints('mid', []).int('b', 2n);
  const y = new Transcript('x').int('a', 1n).int('b', 2n);
  t.not(challenge(x), challenge(y));
});

test('labels and domain tags separate transcripts', (t) => {
  t.not(
    challenge(new Transcript('mpc-engine/v1/a').int('z', 1n)),
    challenge(new Transcript('mpc-engine/v1/b').int('z', 1n)),
  );
  t.not(challenge(new Transcript('x').int('z', 1n)), challenge(new Transcript('x').int('w', 1n)));
  const tr = new Transcript('x').int('z', 1n);
  t.not(tr.challenge('e1').bits(256), tr.challenge('e2').bits(256));
});

test('challenges are deterministic for the same transcript', (t) => {
  const mk = () =>
    new Transcript('x')
      .uint('i', 2)
      .int('N', (1n << 3071n) + 5n)
      .text('sid', 'abc');
  t.is(challenge(mk()), challenge(mk()));
  t.deepEqual(mk().challenge('bits').bitArray(128), mk().challenge('bits').bitArray(128));
});

test('rejection sampling stays in range and covers it', (t) => {
  const s = new Transcript('range').challenge('e');
  const seen = new Set<bigint>();
  for (let i = 0; i < 2000; i++) {
    const v = s.below(10n);
    t.true(v >= 0n && v < 10n);
    seen.add(v);
    const w = s.signed(3n);
    t.true(w >= -3n && w <= 3n);
  }
  t.is(seen.size, 10);
  const bits = s.bitArray(1000);
  const ones = bits.filter(Boolean).length;
  t.true(ones > 400 && ones < 600, `ones = ${ones}`);
});
