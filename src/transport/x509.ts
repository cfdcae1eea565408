/**
 * The one place that loads @peculiar/x509: it needs `reflect-metadata` before it, and node's
 * WebCrypto as its provider (so keys and signatures come from OpenSSL).
 * @module
 */
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { webcrypto } from 'node:crypto';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export { x509 };
export const subtle = webcrypto.subtle;
