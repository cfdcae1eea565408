/**
 * The logger factory: lines are JSON with the component name, and every field that may hold a
 * secret (key, secret, share, token, authorization, password — alone or as a suffix) is redacted
 * at any depth, while public keys and ordinary fields stay readable.
 */
import test from 'ava';
import { Writable } from 'node:stream';
import { createLogger, isSecretField, redact, REDACTED } from '../../src/util/log.js';

function capture(): { stream: Writable; text: () => string; lines: () => Record<string, unknown>[] } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk.toString());
      cb();
    },
  });
  return {
    stream,
    text: () => chunks.join(''),
    lines: () =>
      chunks
        .join('')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

test('secret-named fields are redacted at any depth, in bindings too', (t) => {
  const out = capture();
  const log = createLogger({ name: 'node_1', destination: out.stream }).child({
    token: 'child-binding-secret',
    session: 's1',
  });
  log.info(
    {
      key: 'k1',
      secret: 's',
      share: 'x_i',
      authorization: 'Bearer wallet_dev_token_12345',
      config: {
        wallet: { url: 'https://w', authorization: 'Bearer nested' },
        nodes: [{ id: 'node_1', privateKey: 'pk', tls: { key: '/certs/node_1.key' } }],
      },
      req: { headers: { authorization: 'Bearer h', 'x-auth-token': 't' } },
      keyShare: 'ks',
      secret_share: 'ss',
      publicKey: '02abcdef',
      keyId: 'kid-1',
      walletId: 'w-1',
    },
    'hello',
  );
  const [line] = out.lines();
  const text = JSON.stringify(line);
  for (const leaked of [
    'k1',
    'x_i',
    'wallet_dev_token_12345',
    'Bearer nested',
    '"pk"',
    'node_1.key',
    'Bearer h',
    '"t"',
    '"ks"',
    '"ss"',
    'child-binding-secret',
  ]) {
    t.false(text.includes(leaked), `${leaked} leaked: ${text}`);
  }
  t.is(line!['name'], 'node_1');
  t.is(line!['msg'], 'hello');
  t.is(line!['publicKey'], '02abcdef');
  t.is(line!['keyId'], 'kid-1');
  t.is(line!['walletId'], 'w-1');
  t.is(line!['session'], 's1');
  t.is(line!['token'], REDACTED);
  t.deepEqual((line!['config'] as { nodes: { id: string }[] }).nodes[0]!.id, 'node_1');
});

test('field-name rules and the walk itself', (t) => {
  for (const name of [
    'key',
    'Key',
    'keys',
    'secret',
    'share',
    'shares',
    'token',
    'authorization',
    'Authorization',
    'password',
    'privateKey',
    'apiKey',
    'authToken',
    'secretShare',
    'private_key',
    'x-auth-token',
  ]) {
    t.true(isSecretField(name), name);
  }
  for (const name of [
    'publicKey',
    'public_key',
    'keyId',
    'monkey',
    'tokenizer',
    'shareholderCount',
    'id',
    'walletId',
    'hockey',
  ]) {
    t.false(isSecretField(name), name);
  }
  const cyclic: Record<string, unknown> = { a: 1 };
  cyclic['self'] = cyclic;
  t.deepEqual(redact(cyclic), { a: 1, self: '[circular]' });
  const shared = { id: 'x', token: 't' };
  t.deepEqual(redact({ a: shared, b: shared }), { a: { id: 'x', token: REDACTED }, b: { id: 'x', token: REDACTED } });
  const err = new Error('boom');
  t.is(redact(err), err, 'class instances are left to serializers');
  t.deepEqual(redact([{ secret: 1 }, 2]), [{ secret: REDACTED }, 2]);
});

test('level silent writes nothing', (t) => {
  const out = capture();
  createLogger({ level: 'silent', destination: out.stream }).error({ a: 1 }, 'x');
  t.is(out.text(), '');
});
