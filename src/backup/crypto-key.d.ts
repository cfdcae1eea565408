/**
 * `@hpke/core` types its keys as the Web Crypto `CryptoKey`, a DOM global that the ES2022 + Node
 * libraries this project compiles against do not declare; Node's own Web Crypto type is the same
 * object. Without this the HPKE calls would be typed `any`.
 */
export {};

declare global {
  type CryptoKey = import('node:crypto').webcrypto.CryptoKey;
}
