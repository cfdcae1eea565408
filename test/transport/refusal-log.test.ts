/**
 * Refusal logging: one line per source per interval with the count it hid, bounded memory.
 */
import test from 'ava';
import { pino } from 'pino';
import { RefusalLog } from '../../src/transport/refusal-log.js';

function setup(maxKeys = 1024) {
  const lines: Record<string, unknown>[] = [];
  let now = 0;
  const log = new RefusalLog(
    pino({ level: 'warn' }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) }),
    {
      intervalMs: 1_000,
      maxKeys,
      now: () => now,
    },
  );
  return { log, lines, advance: (ms: number) => (now += ms) };
}

test('one line per source per interval; the next line says how many were hidden', (t) => {
  const { log, lines, advance } = setup();
  for (let k = 0; k < 100; k++) log.note('capacity 10.0.0.1', { remote: '10.0.0.1' }, 'connection refused');
  log.note('capacity 10.0.0.2', { remote: '10.0.0.2' }, 'connection refused');
  t.deepEqual(
    lines.map((l) => l.remote),
    ['10.0.0.1', '10.0.0.2'],
  );
  advance(999);
  log.note('capacity 10.0.0.1', { remote: '10.0.0.1' }, 'connection refused');
  t.is(lines.length, 2);
  advance(1);
  log.note('capacity 10.0.0.1', { remote: '10.0.0.1' }, 'connection refused');
  t.is(lines.length, 3);
  t.is(lines[2]?.suppressedSinceLastLine, 100);
});

test('past maxKeys sources, the rest share one line per interval', (t) => {
  const { log, lines } = setup(4);
  for (let k = 0; k < 1000; k++)
    log.note(`tls 10.0.${k >> 8}.${k & 255}`, { remote: `10.0.${k >> 8}.${k & 255}` }, 'connection refused');
  t.is(lines.length, 5);
  t.true(lines[4]?.manySources);
});
