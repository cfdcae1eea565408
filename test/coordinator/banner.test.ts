/**
 * The banner is the text of docs/product.md, "The banner", exactly, printed on start and when the connected count
 * changes, never twice for the same count.
 */
import test from 'ava';
import { BannerPrinter, formatBanner } from '../../src/coordinator/banner.js';
import { parseConfig, ConfigError } from '../../src/config/index.js';
import { readEnvFile } from '../../src/config/env-file.js';
import { authorizationChecker } from '../../src/coordinator/auth.js';
import { TokenBucketLimiter } from '../../src/coordinator/rate-limit.js';

test('the banner text, exactly', (t) => {
  t.is(
    formatBanner({ platform: 'LOCAL', connected: 3, total: 3, threshold: 2 }),
    '========================================\nCoordinator Server Running\nPlatform: LOCAL\nConnected Nodes: 3/3\nMPC Threshold: 2/3\n',
  );
});

test('printed on each change of the connected count only', (t) => {
  const out: string[] = [];
  const banner = new BannerPrinter({ platform: 'LOCAL', total: 3, threshold: 2 }, (s) => out.push(s));
  for (const n of [0, 0, 1, 2, 2, 3, 3, 2]) banner.update(n);
  t.deepEqual(
    out.map((s) => /Connected Nodes: (\d)\/3/.exec(s)?.[1]),
    ['0', '1', '2', '3', '2'],
  );
});

test('PRESIGN_POOL_SIZE: default 2, 0–64, anything else is an error naming the variable', (t) => {
  const base = readEnvFile(new URL('../../../env/.env.local', import.meta.url).pathname);
  const pool = (v: string | undefined) => parseConfig({ ...base, PRESIGN_POOL_SIZE: v }).presignPoolSize;
  t.is(pool(undefined), 2);
  t.is(pool('0'), 0);
  t.is(pool('5'), 5);
  for (const bad of ['-1', '65', 'two', '1.5'])
    t.throws(() => pool(bad), { instanceOf: ConfigError, message: /PRESIGN_POOL_SIZE/ });
});

test('authorization: only the exact value matches', (t) => {
  const check = authorizationChecker('Bearer wallet_dev_token_12345');
  t.true(check('Bearer wallet_dev_token_12345'));
  for (const v of [
    undefined,
    '',
    'Bearer wallet_dev_token_1234',
    'Bearer wallet_dev_token_123456',
    'bearer wallet_dev_token_12345',
  ])
    t.false(check(v));
  t.throws(() => authorizationChecker(''), { instanceOf: RangeError });
});

test('token bucket: burst, refill, per client, retry hint', (t) => {
  let now = 0;
  const limiter = new TokenBucketLimiter({ capacity: 2, refillPerSecond: 1, now: () => now });
  t.true(limiter.take('a').allowed);
  t.true(limiter.take('a').allowed);
  t.deepEqual(limiter.take('a'), { allowed: false, retryAfterS: 1 });
  t.true(limiter.take('b').allowed, 'another client has its own bucket');
  now = 1_000;
  t.true(limiter.take('a').allowed, 'refilled');
  t.false(limiter.take('a').allowed);
});
