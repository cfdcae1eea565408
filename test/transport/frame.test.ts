/**
 * The frame codec alone: round trips whatever the chunking, each header field checked as soon as
 * its byte arrives, control frame shapes, the size cap before buffering, and a failed decoder
 * staying failed.
 */
import test from 'ava';
import fc from 'fast-check';
import { FrameError } from '../../src/transport/errors.js';
import {
  DEFAULT_MAX_FRAME_BYTES,
  FRAME_VERSION,
  FrameDecoder,
  FrameType,
  HEADER_BYTES,
  checkOutgoing,
  encodeFrame,
  encodeHeader,
  withId,
  type Frame,
} from '../../src/transport/frame.js';

const frames = (): Frame[] => [
  { type: FrameType.Ready, payload: Buffer.alloc(0) },
  { type: FrameType.Ping, payload: Buffer.from([0, 0, 0, 1]) },
  { type: FrameType.Message, payload: Buffer.from('hello') },
  { type: FrameType.Message, payload: Buffer.alloc(0) },
  { type: FrameType.Request, payload: withId(7, Buffer.from('body')) },
  { type: FrameType.Error, payload: withId(7, Buffer.from('no')) },
];

function split(bytes: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of [...points, bytes.length]) {
    out.push(bytes.subarray(prev, p));
    prev = p;
  }
  return out;
}

test('frames round-trip however the stream is cut', (t) => {
  const stream = Buffer.concat(frames().map((f) => encodeFrame(f.type, f.payload)));
  fc.assert(
    fc.property(fc.array(fc.nat(), { maxLength: 20 }), (cuts) => {
      const d = new FrameDecoder();
      const got = split(stream, cuts).flatMap((c) => d.push(c));
      t.false(d.partial);
      return (
        got.length === frames().length &&
        got.every((g, k) => g.type === frames()[k]!.type && g.payload.equals(frames()[k]!.payload))
      );
    }),
  );
  // One byte at a time, with the partial flag tracking an incomplete frame.
  const d = new FrameDecoder();
  const got: Frame[] = [];
  for (const byte of stream) {
    got.push(...d.push(Buffer.from([byte])));
  }
  t.is(got.length, frames().length);
  const one = encodeFrame(FrameType.Message, Buffer.from('abc'));
  t.deepEqual(d.push(one.subarray(0, 4)), []);
  t.true(d.partial);
  t.is(d.push(one.subarray(4)).length, 1);
  t.false(d.partial);
});

test('the header layout is version ‖ type ‖ u32 length', (t) => {
  t.deepEqual([...encodeHeader(FrameType.Message, 0x01020304)], [FRAME_VERSION, FrameType.Message, 1, 2, 3, 4]);
  t.is(HEADER_BYTES, 6);
  t.is(DEFAULT_MAX_FRAME_BYTES, 4 * 1024 * 1024);
});

test('a bad version or unknown type fails on its first byte', (t) => {
  t.throws(() => new FrameDecoder().push(Buffer.from([2])), { instanceOf: FrameError, message: /version 2/ });
  t.throws(() => new FrameDecoder().push(Buffer.from('G')), { instanceOf: FrameError });
  const d = new FrameDecoder();
  d.push(Buffer.from([FRAME_VERSION]));
  t.throws(() => d.push(Buffer.from([0x7f])), { instanceOf: FrameError, message: /type 0x7f/ });
});

test('an oversized length fails on the header, before any payload', (t) => {
  const d = new FrameDecoder(1024);
  t.notThrows(() => d.push(encodeHeader(FrameType.Message, 1024)));
  const e = new FrameDecoder(1024);
  t.throws(() => e.push(encodeHeader(FrameType.Message, 1025)), {
    instanceOf: FrameError,
    message: /exceeds the limit of 1024/,
  });
  t.throws(() => new FrameDecoder().push(encodeHeader(FrameType.Message, 0xffffffff)), { instanceOf: FrameError });
});

test('control frames have fixed shapes', (t) => {
  const bad: [FrameType, number][] = [
    [FrameType.Ready, 1],
    [FrameType.Ping, 3],
    [FrameType.Pong, 5],
    [FrameType.Request, 3],
    [FrameType.Response, 0],
    [FrameType.Error, 4 + 257],
  ];
  for (const [type, length] of bad) {
    t.throws(
      () => new FrameDecoder().push(encodeHeader(type, length)),
      { instanceOf: FrameError },
      `type ${type} length ${length}`,
    );
    t.throws(() => checkOutgoing(type, length, DEFAULT_MAX_FRAME_BYTES), { instanceOf: RangeError });
  }
  t.throws(() => encodeFrame(FrameType.Message, Buffer.alloc(11), 10), { instanceOf: RangeError });
});

test('a failed decoder stays failed', (t) => {
  const d = new FrameDecoder();
  t.throws(() => d.push(Buffer.from([9])), { instanceOf: FrameError });
  t.throws(() => d.push(encodeFrame(FrameType.Message, Buffer.from('valid'))), {
    instanceOf: FrameError,
    message: /already failed/,
  });
  t.throws(() => new FrameDecoder(0), { instanceOf: RangeError });
});
