/**
 * The token bucket on its own: burst, refill by the injected clock, Retry-After, eviction — and
 * its default clock is monotonic, so a wall clock stepped forward (NTP, an operator) neither
 * refills a spent bucket nor, stepped back, freezes one.
 */
import test from 'ava';
import { TokenBucketLimiter } from '../../src/coordinator/rate-limit.js';

test('burst, then refill by the injected clock; Retry-After rounds up to whole seconds', (t) => {
  let now = 50_000;
  const limiter = new TokenBucketLimiter({ capacity: 2, refillPerSecond: 0.5, now: () => now });
  t.deepEqual(limiter.take('a'), { allowed: true });
  t.deepEqual(limiter.take('a'), { allowed: true });
  t.deepEqual(limiter.take('a'), { allowed: false, retryAfterS: 2 });
  t.deepEqual(limiter.take('b'), { allowed: true }, 'buckets are per key');
  now += 1_999;
  t.false(limiter.take('a').allowed);
  now += 1;
  t.true(limiter.take('a').allowed);
  now -= 10_000; // an injected clock that goes back must not drain or break anything
  t.false(limiter.take('a').allowed);
  now += 12_000;
  t.true(limiter.take('a').allowed);
});

test('least recently used buckets are evicted beyond maxClients', (t) => {
  const limiter = new TokenBucketLimiter({ capacity: 1, refillPerSecond: 0.001, maxClients: 2, now: () => 0 });
  t.true(limiter.take('a').allowed);
  t.true(limiter.take('b').allowed);
  t.false(limiter.take('a').allowed);
  t.true(limiter.take('c').allowed); // evicts b (a was used more recently)
  t.true(limiter.take('b').allowed, 'b starts again with a full bucket');
});

test.serial('the default clock is monotonic: a wall-clock step refills nothing', (t) => {
  const realNow = Date.now;
  let wall = realNow();
  Date.now = () => wall;
  try {
    const limiter = new TokenBucketLimiter({ capacity: 1, refillPerSecond: 0.001 });
    t.true(limiter.take('client').allowed);
    t.false(limiter.take('client').allowed);
    wall += 10 * 24 * 3600 * 1000; // the wall clock jumps ten days ahead
    t.false(limiter.take('client').allowed, 'still spent');
  } finally {
    Date.now = realNow;
  }
});
