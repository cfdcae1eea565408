/**
 * The wrapped-key encoders and parsers as each provider wrote them before src/kms/blob.ts took over,
 * kept here only so test/kms/blob-format.test.ts can check that the shared module writes the same
 * bytes and accepts and refuses exactly the same blobs. Parsers return the fields or throw (any
 * error: the test compares acceptance, not messages). Not used by the service.
 * @module
 */

const KEY_ARN = /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[A-Za-z0-9-]{1,128}$/;
const IBM_ID = /^[A-Za-z0-9][A-Za-z0-9-]{0,99}$/;

// local.ts: header = "LK" | version | key id (8) | data-key length; then IV (12), ciphertext, tag (16)
export function localEncode(keyId: Uint8Array, iv: Uint8Array, ct: Uint8Array, tag: Uint8Array): Buffer {
  const header = Buffer.alloc(12);
  header.write('LK', 0, 'latin1');
  header[2] = 1;
  Buffer.from(keyId).copy(header, 3);
  header[11] = ct.length;
  return Buffer.concat([header, iv, ct, tag]);
}
export function localDecode(wrapped: Uint8Array): {
  keyId: string;
  n: number;
  header: Buffer;
  iv: Buffer;
  ct: Buffer;
  tag: Buffer;
} {
  const b = Buffer.from(wrapped.buffer, wrapped.byteOffset, wrapped.byteLength);
  if (b.length < 12 + 12 + 16 + 16 || b.toString('latin1', 0, 2) !== 'LK')
    throw new Error('not a local-KMS wrapped key');
  if (b[2] !== 1) throw new Error('version');
  const n = b[11] as number;
  if (n < 16 || n > 64 || b.length !== 12 + 12 + n + 16) throw new Error('length');
  return {
    keyId: b.toString('hex', 3, 11),
    n,
    header: b.subarray(0, 12),
    iv: b.subarray(12, 24),
    ct: b.subarray(24, 24 + n),
    tag: b.subarray(b.length - 16),
  };
}

// aws.ts
export function awsEncode(arn: string, ciphertext: Uint8Array): Buffer {
  const a = Buffer.from(arn, 'latin1');
  const out = Buffer.alloc(3 + 2 + a.length + 2 + ciphertext.length);
  out[0] = 0x41;
  out[1] = 0x4b;
  out[2] = 1;
  out.writeUInt16BE(a.length, 3);
  a.copy(out, 5);
  out.writeUInt16BE(ciphertext.length, 5 + a.length);
  out.set(ciphertext, 7 + a.length);
  return out;
}
export function awsDecode(wrapped: Uint8Array): { arn: string; ciphertext: Uint8Array } {
  if (wrapped.length < 7 || wrapped[0] !== 0x41 || wrapped[1] !== 0x4b) throw new Error('not an aws-KMS wrapped key');
  const b = Buffer.from(wrapped.buffer, wrapped.byteOffset, wrapped.byteLength);
  if (b[2] !== 1) throw new Error('version');
  const arnLength = b.readUInt16BE(3);
  if (arnLength === 0 || arnLength > 2048 || b.length < 7 + arnLength) throw new Error('length');
  const arn = b.toString('latin1', 5, 5 + arnLength);
  if (!KEY_ARN.test(arn)) throw new Error('arn');
  const ctLength = b.readUInt16BE(5 + arnLength);
  if (ctLength === 0 || ctLength > 6144 || b.length !== 7 + arnLength + ctLength) throw new Error('length');
  return { arn, ciphertext: Uint8Array.from(b.subarray(7 + arnLength)) };
}

// azure.ts (the canonical-kid check, which stays in azure.ts, is left out)
export function azureHeader(kid: string): Buffer {
  const k = Buffer.from(kid, 'latin1');
  const h = Buffer.alloc(6 + k.length);
  h.write('AZ', 0, 'latin1');
  h[2] = 1;
  h[3] = 1;
  h.writeUInt16BE(k.length, 4);
  k.copy(h, 6);
  return h;
}
export function azureEncode(kid: string, wrapped: Uint8Array): Buffer {
  const len = Buffer.alloc(2);
  len.writeUInt16BE(wrapped.length);
  return Buffer.concat([azureHeader(kid), len, wrapped]);
}
export function azureDecode(wrapped: Uint8Array): { kid: string; header: Buffer; wrapped: Buffer } {
  const b = Buffer.from(wrapped.buffer, wrapped.byteOffset, wrapped.byteLength);
  if (b.length < 6 || b.toString('latin1', 0, 2) !== 'AZ') throw new Error('not an Azure-KMS wrapped key');
  if (b[2] !== 1) throw new Error('version');
  if (b[3] !== 1) throw new Error('algorithm');
  const kidLen = b.readUInt16BE(4);
  if (kidLen === 0 || kidLen > 1024 || b.length < 6 + kidLen + 2) throw new Error('length');
  const kidBytes = b.subarray(6, 6 + kidLen);
  if (!kidBytes.every((c) => c > 0x20 && c < 0x7f)) throw new Error('kid');
  const wLen = b.readUInt16BE(6 + kidLen);
  if (wLen < 256 || wLen > 512 || b.length !== 6 + kidLen + 2 + wLen) throw new Error('length');
  return { kid: kidBytes.toString('latin1'), header: b.subarray(0, 6 + kidLen), wrapped: b.subarray(8 + kidLen) };
}

// ibm.ts
export function ibmEncode(b: { instanceId: string; keyId: string; version: string; ciphertext: Uint8Array }): Buffer {
  const short = (s: string): Buffer => {
    const x = Buffer.from(s, 'latin1');
    return Buffer.concat([Uint8Array.of(x.length), x]);
  };
  const len = Buffer.alloc(2);
  len.writeUInt16BE(b.ciphertext.length);
  return Buffer.concat([
    Uint8Array.from([0x49, 0x4b]),
    Uint8Array.of(1),
    short(b.instanceId),
    short(b.keyId),
    short(b.version),
    len,
    b.ciphertext,
  ]);
}
export function ibmDecode(wrapped: Uint8Array): {
  instanceId: string;
  keyId: string;
  version: string;
  ciphertext: Buffer;
} {
  if (wrapped.length < 3 || wrapped[0] !== 0x49 || wrapped[1] !== 0x4b) throw new Error('not an ibm-KMS wrapped key');
  const b = Buffer.from(wrapped.buffer, wrapped.byteOffset, wrapped.byteLength);
  if (b[2] !== 1) throw new Error('version');
  let at = 3;
  const id = (): string => {
    const n = b[at];
    if (n === undefined || at + 1 + n > b.length) throw new Error('length');
    const s = b.toString('latin1', at + 1, at + 1 + n);
    if (!IBM_ID.test(s)) throw new Error('id');
    at += 1 + n;
    return s;
  };
  const instanceId = id();
  const keyId = id();
  const version = id();
  if (at + 2 > b.length) throw new Error('length');
  const n = b.readUInt16BE(at);
  at += 2;
  if (n === 0 || n > 8192 || at + n !== b.length) throw new Error('length');
  return { instanceId, keyId, version, ciphertext: Buffer.from(b.subarray(at)) };
}

// pkcs11.ts: header = "PH" | version | key-id length | key id | data-key length; then IV (12), ciphertext ‖ tag (16)
export function pkcs11Encode(id: Uint8Array, iv: Uint8Array, sealed: Uint8Array): Buffer {
  const header = Buffer.alloc(5 + id.length);
  header.write('PH', 0, 'latin1');
  header[2] = 1;
  header[3] = id.length;
  Buffer.from(id).copy(header, 4);
  header[header.length - 1] = sealed.length - 16;
  return Buffer.concat([header, iv, sealed]);
}
/** parseHeader plus the length check of unwrapKey. */
export function pkcs11Decode(wrapped: Uint8Array): {
  id: Buffer;
  n: number;
  header: Buffer;
  iv: Buffer;
  sealed: Buffer;
} {
  if (wrapped.length < 6 || wrapped[0] !== 0x50 || wrapped[1] !== 0x48)
    throw new Error('not a PKCS#11-KMS wrapped key');
  if (wrapped[2] !== 1) throw new Error('version');
  const idLength = wrapped[3]!;
  const header = 5 + idLength;
  if (idLength === 0 || idLength > 64 || wrapped.length < header) throw new Error('key id');
  const n = wrapped[header - 1]!;
  const b = Buffer.from(wrapped.buffer, wrapped.byteOffset, wrapped.byteLength);
  if (n < 16 || n > 64 || b.length !== header + 12 + n + 16) throw new Error('length');
  return {
    id: Buffer.from(b.subarray(4, 4 + idLength)),
    n,
    header: b.subarray(0, header),
    iv: b.subarray(header, header + 12),
    sealed: b.subarray(header + 12),
  };
}
