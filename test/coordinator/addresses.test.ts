/**
 * Addresses against published vectors: the key of private key 1 (the generator G), BIP-173's
 * P2WPKH example, EIP-55's checksum examples, and the uncompressed form giving the same addresses.
 */
import test from 'ava';
import { bech32 } from '@scure/base';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import {
  bitcoinP2wpkhAddress,
  ethereumAddress,
  hash160,
  toChecksumAddress,
  walletAddresses,
} from '../../src/coordinator/addresses.js';

const G_COMPRESSED = '0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798';

test('private key 1: Ethereum 0x7E5F…5Bdf and P2WPKH bc1qw508…f3t4', (t) => {
  t.deepEqual(walletAddresses(G_COMPRESSED), {
    ethereum: '0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf',
    bitcoin: 'bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4',
  });
  t.is(
    Buffer.from(hash160(Buffer.from(G_COMPRESSED, 'hex'))).toString('hex'),
    '751e76e8199196d454941c45d1b3a323f1433bd6',
  );
});

test('the uncompressed key gives the same addresses (P2WPKH always hashes the compressed form)', (t) => {
  const uncompressed = secp256k1.Point.fromHex(G_COMPRESSED).toBytes(false);
  t.is(ethereumAddress(uncompressed), '0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf');
  t.is(bitcoinP2wpkhAddress(uncompressed), 'bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4');
  t.is(bitcoinP2wpkhAddress(G_COMPRESSED, 'tb'), 'tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx');
});

test('private key 2: known Ethereum address', (t) => {
  const pub = secp256k1.getPublicKey(Uint8Array.from(Buffer.from('00'.repeat(31) + '02', 'hex')), true);
  t.is(ethereumAddress(pub), '0x2B5AD5c4795c026514f8317c7a215E218DcCD6cF');
});

test('EIP-55 checksum examples', (t) => {
  for (const a of [
    '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed',
    '0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359',
    '0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB',
    '0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb',
    '0x52908400098527886E0F7030069857D2E4169EE7',
    '0x8617E340B3D01FA5F11F306F4090FD50E238070D',
    '0xde709f2102306220921060314715629080e2fb77',
    '0x27b1fdb04752bbc536007a920d24acb045561c26',
  ]) {
    t.is(toChecksumAddress(a.toLowerCase()), a);
  }
  t.throws(() => toChecksumAddress('0x1234'), { instanceOf: RangeError });
});

test('the bech32 address decodes to witness version 0 and the 20-byte hash160', (t) => {
  const { prefix, words } = bech32.decode(walletAddresses(G_COMPRESSED).bitcoin as `${string}1${string}`);
  t.is(prefix, 'bc');
  t.is(words[0], 0);
  t.is(Buffer.from(bech32.fromWords(words.slice(1))).toString('hex'), '751e76e8199196d454941c45d1b3a323f1433bd6');
});

test('not a point → RangeError', (t) => {
  t.throws(() => walletAddresses('02' + '00'.repeat(32)), { instanceOf: RangeError });
  t.throws(() => walletAddresses('0279be66'), { instanceOf: RangeError });
  t.throws(() => walletAddresses('05' + G_COMPRESSED.slice(2)), { instanceOf: RangeError });
});
