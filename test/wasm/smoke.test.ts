import test from 'ava';
import { modPow } from '../../src/wasm/index.js';

test('modPow agrees with bigint on a small case', (t) => {
  t.is(modPow(3n, 200n, 1000003n), 3n ** 200n % 1000003n);
});
