/**
 * Addresses a wallet's public key receives funds at, for the wallet server to show:
 *
 * - Ethereum: the last 20 bytes of keccak-256 over the uncompressed key without its 0x04 prefix
 *   (the 64 bytes x‖y), written with the EIP-55 mixed-case checksum.
 * - Bitcoin P2WPKH (BIP-141/BIP-173): witness version 0 with program hash160(compressed key) =
 *   RIPEMD-160(SHA-256(33-byte key)), bech32-encoded (`bc1q…`; bech32, not bech32m, for v0).
 * @module
 */
import { bytesToHex } from '@noble/hashes/utils.js';
import { bech32 } from '@scure/base';
import { keccak_256 } from '@noble/hashes/sha3.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { ripemd160 } from '@noble/hashes/legacy.js';
import { Point } from '../curve/secp256k1.js';

export interface WalletAddresses {
  /** EIP-55 checksummed, 0x-prefixed */
  readonly ethereum: string;
  /** P2WPKH, bech32 */
  readonly bitcoin: string;
}

/** Human-readable part of a Bitcoin network: `bc` main net, `tb` test net, `bcrt` regtest. */
export type BitcoinHrp = 'bc' | 'tb' | 'bcrt';

/**
 * The validated point of a SEC1 public key (33 or 65 bytes, or their hex).
 * @throws RangeError if it is not a point of secp256k1 (or is the identity)
 */
function toPoint(publicKey: Uint8Array | string): InstanceType<typeof Point> {
  const bytes =
    typeof publicKey === 'string' ? Uint8Array.from(Buffer.from(publicKey.replace(/^0x/, ''), 'hex')) : publicKey;
  if (bytes.length !== 33 && bytes.length !== 65) throw new RangeError('publicKey must be 33 or 65 bytes (SEC1)');
  try {
    return Point.fromBytes(bytes);
  } catch {
    throw new RangeError('publicKey is not a point of secp256k1');
  }
}

/** EIP-55: a hex digit is upper case when the matching nibble of keccak(lower-case hex) is ≥ 8. */
export function toChecksumAddress(address: string): string {
  const lower = address.replace(/^0x/i, '').toLowerCase();
  if (!/^[0-9a-f]{40}$/.test(lower)) throw new RangeError('address must be 20 bytes of hex');
  const hash = bytesToHex(keccak_256(new TextEncoder().encode(lower)));
  let out = '0x';
  for (let i = 0; i < 40; i++)
    out += parseInt(hash[i] as string, 16) >= 8 ? (lower[i] as string).toUpperCase() : lower[i];
  return out;
}

/** The Ethereum address of a public key (EIP-55 checksummed). */
export function ethereumAddress(publicKey: Uint8Array | string): string {
  const xy = toPoint(publicKey).toBytes(false).subarray(1);
  return toChecksumAddress(bytesToHex(keccak_256(xy).subarray(12)));
}

/** hash160 = RIPEMD-160(SHA-256(data)). */
export function hash160(data: Uint8Array): Uint8Array {
  return ripemd160(sha256(data));
}

/** The Bitcoin P2WPKH address of a public key (always of its compressed form, as BIP-143 requires). */
export function bitcoinP2wpkhAddress(publicKey: Uint8Array | string, hrp: BitcoinHrp = 'bc'): string {
  const program = hash160(toPoint(publicKey).toBytes(true));
  return bech32.encode(hrp, [0, ...bech32.toWords(program)]);
}

export function walletAddresses(publicKey: Uint8Array | string, hrp: BitcoinHrp = 'bc'): WalletAddresses {
  return { ethereum: ethereumAddress(publicKey), bitcoin: bitcoinP2wpkhAddress(publicKey, hrp) };
}
