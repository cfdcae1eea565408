/**
 * The wrapped-key blobs of every provider, in one place: each provider's blob is a two-letter
 * magic, a version byte, then a fixed list of fields; this module declares each layout once and
 * encodes and decodes it strictly (known magic and version, every length within its bounds, text
 * fields matching their pattern, no byte left over). A provider builds its blob with `encode` and
 * reads it with `decode`, never by hand, so the framing of a stored blob has one definition.
 *
 * Field kinds: `u8` a byte with bounds · `fixed` bytes of a fixed length · `bytes` and `text`
 * prefixed by their length (u8 or big-endian u16; text is ASCII matching a pattern) · `rest` the
 * bytes up to the end. A format may name the field its authenticated header ends before
 * (`headerEnd`): `decode` and `header` then give those leading bytes, which the provider binds to
 * the context. These formats are on disk in sealed records: changing one means a new version, never
 * an edit of version 1.
 * @module
 */
import { KmsError } from './kms.js';

export type BlobField =
  | { readonly name: string; readonly kind: 'u8'; readonly min: number; readonly max: number; readonly what: string }
  | { readonly name: string; readonly kind: 'fixed'; readonly length: number }
  | {
      readonly name: string;
      readonly kind: 'bytes';
      readonly prefix: 1 | 2;
      readonly min: number;
      readonly max: number;
    }
  | {
      readonly name: string;
      readonly kind: 'text';
      readonly prefix: 1 | 2;
      readonly min: number;
      readonly max: number;
      readonly pattern: RegExp;
      readonly what: string;
    }
  | { readonly name: string; readonly kind: 'rest'; readonly min: number; readonly max: number };

type ValueOf<F> = F extends { readonly kind: 'u8' }
  ? number
  : F extends { readonly kind: 'text' }
    ? string
    : Uint8Array;

/** The decoded fields of a format, by name. */
export type BlobValues<Fs extends readonly BlobField[]> = { [F in Fs[number] as F['name']]: ValueOf<F> };

export interface BlobSpec<Fs extends readonly BlobField[]> {
  /** Names the provider in messages: "local-KMS", "aws-KMS", … */
  readonly label: string;
  /** Two ASCII letters, different for every provider. */
  readonly magic: string;
  readonly version: number;
  readonly fields: Fs;
  /** The first field after the authenticated header (default: the header is the whole blob). */
  readonly headerEnd?: Fs[number]['name'];
  /** Rules between fields (e.g. a length field and the bytes it counts); returns why the blob is wrong. */
  readonly check?: (values: BlobValues<Fs>) => string | undefined;
}

export interface BlobFormat<Fs extends readonly BlobField[]> {
  readonly label: string;
  readonly magic: string;
  readonly version: number;
  /** The blob of `values`; RangeError for a value the format cannot hold (a bug of the caller). */
  encode(values: BlobValues<Fs>): Buffer;
  /** The bytes before `headerEnd` for `values` (only the header's fields are read). */
  header(values: Partial<BlobValues<Fs>>): Buffer;
  /** Parse strictly; KmsError 'malformed' for anything that is not exactly a blob of this format. Byte fields are copies. */
  decode(blob: Uint8Array): BlobValues<Fs> & { readonly header: Buffer };
  /** A KmsError 'malformed' naming this format. */
  malformed(why: string): KmsError;
}

/** Declare a blob format. */
export function blobFormat<const Fs extends readonly BlobField[]>(spec: BlobSpec<Fs>): BlobFormat<Fs> {
  if (!/^[A-Z]{2}$/.test(spec.magic) || !Number.isInteger(spec.version) || spec.version < 0 || spec.version > 255)
    throw new RangeError('a blob format has a two-letter magic and a version byte');
  const magic = Buffer.from(spec.magic, 'latin1');
  const headerFields =
    spec.headerEnd === undefined ? spec.fields.length : spec.fields.findIndex((f) => f.name === spec.headerEnd);
  if (headerFields < 0) throw new RangeError(`headerEnd ${String(spec.headerEnd)} is not a field`);
  const malformed = (why: string): KmsError => new KmsError('malformed', `${spec.label} wrapped key ${why}`);
  const wrongLength = (): KmsError => malformed('has the wrong length');

  /** One field's bytes, length prefix included; RangeError if the value does not fit. */
  const encodeField = (f: BlobField, value: unknown): Buffer => {
    const bad = (): RangeError => new RangeError(`${spec.label} blob: field ${f.name} is out of range`);
    switch (f.kind) {
      case 'u8':
        if (typeof value !== 'number' || !Number.isInteger(value) || value < f.min || value > f.max) throw bad();
        return Buffer.of(value);
      case 'fixed':
        if (!(value instanceof Uint8Array) || value.length !== f.length) throw bad();
        return Buffer.from(value);
      case 'rest':
        if (!(value instanceof Uint8Array) || value.length < f.min || value.length > f.max) throw bad();
        return Buffer.from(value);
      case 'bytes':
      case 'text': {
        let b: Buffer;
        if (f.kind === 'text') {
          if (typeof value !== 'string' || !f.pattern.test(value)) throw bad();
          b = Buffer.from(value, 'latin1');
        } else {
          if (!(value instanceof Uint8Array)) throw bad();
          b = Buffer.from(value);
        }
        if (b.length < f.min || b.length > f.max || b.length >= 256 ** f.prefix) throw bad();
        const len = Buffer.alloc(f.prefix);
        len.writeUIntBE(b.length, 0, f.prefix);
        return Buffer.concat([len, b]);
      }
    }
  };

  const encodeFields = (values: Record<string, unknown>, count: number): Buffer =>
    Buffer.concat([
      magic,
      Buffer.of(spec.version),
      ...spec.fields.slice(0, count).map((f) => encodeField(f, values[f.name])),
    ]);

  return {
    label: spec.label,
    magic: spec.magic,
    version: spec.version,
    malformed,
    encode(values) {
      const why = spec.check?.(values);
      if (why !== undefined) throw new RangeError(`${spec.label} blob: ${why}`);
      return encodeFields(values, spec.fields.length);
    },
    header(values) {
      return encodeFields(values, headerFields);
    },
    decode(blob) {
      if (!(blob instanceof Uint8Array) || blob.length < 3 || blob[0] !== magic[0] || blob[1] !== magic[1])
        throw new KmsError('malformed', `not a ${spec.label} wrapped key`);
      const b = Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength);
      if (b[2] !== spec.version) throw new KmsError('malformed', `unsupported ${spec.label} wrap version ${b[2]}`);
      let at = 3;
      let headerLength = b.length;
      const out: Record<string, unknown> = {};
      const take = (n: number): Buffer => {
        if (at + n > b.length) throw wrongLength();
        const part = Buffer.from(b.subarray(at, at + n)); // a copy: the caller may zeroise the blob
        at += n;
        return part;
      };
      spec.fields.forEach((f, i) => {
        if (i === headerFields) headerLength = at;
        switch (f.kind) {
          case 'u8': {
            const v = take(1)[0]!;
            if (v < f.min || v > f.max) throw malformed(`has an unsupported ${f.what} ${v}`);
            out[f.name] = v;
            break;
          }
          case 'fixed':
            out[f.name] = take(f.length);
            break;
          case 'rest': {
            const n = b.length - at;
            if (n < f.min || n > f.max) throw wrongLength();
            out[f.name] = take(n);
            break;
          }
          case 'bytes':
          case 'text': {
            const n = take(f.prefix).readUIntBE(0, f.prefix);
            if (n < f.min || n > f.max) throw wrongLength();
            const v = take(n);
            if (f.kind === 'bytes') {
              out[f.name] = v;
            } else {
              const s = v.toString('latin1');
              if (!f.pattern.test(s)) throw malformed(`has no valid ${f.what}`);
              out[f.name] = s;
            }
            break;
          }
        }
      });
      if (at !== b.length) throw wrongLength();
      const values = out as BlobValues<Fs>;
      const why = spec.check?.(values);
      if (why !== undefined) throw malformed(why);
      return { ...values, header: Buffer.from(b.subarray(0, headerLength)) };
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The providers' formats, version 1 (all lengths big-endian)

/** Data keys the interface wraps: 16 to 64 bytes (records use 32). */
export const MIN_DATA_KEY = 16;
export const MAX_DATA_KEY = 64;
/** AES-GCM nonce and tag of the local and PKCS#11 blobs. */
export const GCM_IV = 12;
export const GCM_TAG = 16;

/** local (local.ts): "LK" | version | key id (8) | data-key length u8 | IV (12) | ciphertext ‖ GCM tag (16); header = before the IV. */
export const LOCAL_BLOB = blobFormat({
  label: 'local-KMS',
  magic: 'LK',
  version: 1,
  fields: [
    { name: 'keyId', kind: 'fixed', length: 8 },
    { name: 'dataKeyLength', kind: 'u8', min: MIN_DATA_KEY, max: MAX_DATA_KEY, what: 'data-key length' },
    { name: 'iv', kind: 'fixed', length: GCM_IV },
    { name: 'sealed', kind: 'rest', min: MIN_DATA_KEY + GCM_TAG, max: MAX_DATA_KEY + GCM_TAG },
  ],
  headerEnd: 'iv',
  check: (v) => (v.sealed.length === v.dataKeyLength + GCM_TAG ? undefined : 'has the wrong length'),
});

/** An AWS KMS key ARN, in any partition; aliases are resolved at open and never stored. */
export const AWS_KEY_ARN = /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[A-Za-z0-9-]{1,128}$/;
export const AWS_MAX_ARN = 2048;
/** AWS's limit on a CiphertextBlob. */
export const AWS_MAX_CIPHERTEXT = 6144;

/** aws (aws.ts): "AK" | version | ARN length u16 | key ARN (ASCII) | ciphertext length u16 | AWS CiphertextBlob. */
export const AWS_BLOB = blobFormat({
  label: 'aws-KMS',
  magic: 'AK',
  version: 1,
  fields: [
    { name: 'arn', kind: 'text', prefix: 2, min: 1, max: AWS_MAX_ARN, pattern: AWS_KEY_ARN, what: 'key ARN' },
    { name: 'ciphertext', kind: 'bytes', prefix: 2, min: 1, max: AWS_MAX_CIPHERTEXT },
  ],
});

/** The one wrap algorithm of the Azure blob: RSA-OAEP-256. */
export const AZURE_ALG_RSA_OAEP_256 = 1;
/** RSA-2048 to RSA-4096 ciphertexts; Key Vault keys are never shorter than 2048 bits. */
export const AZURE_MIN_WRAPPED = 256;
export const AZURE_MAX_WRAPPED = 512;

/**
 * azure (azure.ts): "AZ" | version | algorithm u8 (1 = RSA-OAEP-256) | kid length u16 | kid (ASCII,
 * full versioned key id) | wrapped length u16 | wrapped bytes; header = before the wrapped length.
 * azure.ts also requires the kid in its canonical form.
 */
export const AZURE_BLOB = blobFormat({
  label: 'Azure-KMS',
  magic: 'AZ',
  version: 1,
  fields: [
    { name: 'algorithm', kind: 'u8', min: AZURE_ALG_RSA_OAEP_256, max: AZURE_ALG_RSA_OAEP_256, what: 'wrap algorithm' },
    { name: 'kid', kind: 'text', prefix: 2, min: 1, max: 1024, pattern: /^[\x21-\x7e]+$/, what: 'key' },
    { name: 'wrapped', kind: 'bytes', prefix: 2, min: AZURE_MIN_WRAPPED, max: AZURE_MAX_WRAPPED },
  ],
  headerEnd: 'wrapped',
});

/** Key Protect instance GUIDs, key ids and key version ids (UUIDs; aliases are never stored). */
export const IBM_ID = /^[A-Za-z0-9][A-Za-z0-9-]{0,99}$/;
export const IBM_MAX_CIPHERTEXT = 8192;

/** ibm (ibm.ts): "IK" | version | (u8 length | ASCII) instance id, key id, key version id | ciphertext length u16 | Key Protect ciphertext. */
export const IBM_BLOB = blobFormat({
  label: 'ibm-KMS',
  magic: 'IK',
  version: 1,
  fields: [
    { name: 'instanceId', kind: 'text', prefix: 1, min: 0, max: 255, pattern: IBM_ID, what: 'instance id' },
    { name: 'keyId', kind: 'text', prefix: 1, min: 0, max: 255, pattern: IBM_ID, what: 'key id' },
    { name: 'version', kind: 'text', prefix: 1, min: 0, max: 255, pattern: IBM_ID, what: 'key version' },
    { name: 'ciphertext', kind: 'bytes', prefix: 2, min: 1, max: IBM_MAX_CIPHERTEXT },
  ],
});

/** The longest CKA_ID a PKCS#11 blob can name. */
export const PKCS11_MAX_KEY_ID = 64;

/** pkcs11 (pkcs11.ts): "PH" | version | key-id length u8 (1..64) | CKA_ID | data-key length u8 | IV (12) | ciphertext ‖ GCM tag (16); header = before the IV. */
export const PKCS11_BLOB = blobFormat({
  label: 'PKCS#11-KMS',
  magic: 'PH',
  version: 1,
  fields: [
    { name: 'keyId', kind: 'bytes', prefix: 1, min: 1, max: PKCS11_MAX_KEY_ID },
    { name: 'dataKeyLength', kind: 'u8', min: MIN_DATA_KEY, max: MAX_DATA_KEY, what: 'data-key length' },
    { name: 'iv', kind: 'fixed', length: GCM_IV },
    { name: 'sealed', kind: 'rest', min: MIN_DATA_KEY + GCM_TAG, max: MAX_DATA_KEY + GCM_TAG },
  ],
  headerEnd: 'iv',
  check: (v) => (v.sealed.length === v.dataKeyLength + GCM_TAG ? undefined : 'has the wrong length'),
});
