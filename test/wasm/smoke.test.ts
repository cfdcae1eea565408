import test from 'ava';
import { modPowPublic } from '../../src/wasm/index.js';

test('modPowPublic agrees with bigint on a small case', (t) => {
  t.is(modPowPublic(3n, 200n, 1000003n), 3n ** 200n % 1000003n);
});
