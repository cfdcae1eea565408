/**
 * The one WebAssembly instance of the crypto core (assembly/ → build/core.wasm), created at
 * import, and the only code that reads or writes its memory.
 *
 * Numbers cross the boundary as little-endian arrays of 25-bit limbs (one per u32), converted
 * from and to big-endian byte strings inside the core (fromBytes / toBytes).
 * @module
 */
import { readFileSync } from 'node:fs';

/** Bits per limb; must match assembly/limbs.ts. */
export const LIMB_BITS = 25;
/** Spare limbs after every buffer: the SIMD loops read (zeros) past n. */
export const LIMB_PAD = 8;

interface CoreExports {
  memory: WebAssembly.Memory;
  alloc(bytes: number): number;
  free(ptr: number): void;
  ctxNew(n: number): number;
  ctxFree(cp: number): void;
  ctxInit(cp: number): void;
  ctxN(cp: number): number;
  ctxR2(cp: number): number;
  ctxR3(cp: number): number;
  mulMod(cp: number, r: number, a: number, b: number): void;
  powMod(cp: number, r: number, x: number, e: number, en: number, ebits: number): void;
  powModCT(cp: number, r: number, x: number, e: number, en: number, ebits: number): void;
  multiPowMod(cp: number, r: number, xs: number, es: number, ens: number, ebitss: number, count: number): void;
  combCreate(cp: number, x: number, maxBits: number, h: number): number;
  combPowMod(cp: number, tbl: number, r: number, e: number, en: number, ct: number): void;
  combMaxBits(tbl: number): number;
  reduceWide(cp: number, r: number, x: number): void;
  jacobi(a: number, m: number, n: number): number;
  invMod(r: number, a: number, m: number, n: number): number;
  fromBytes(dst: number, n: number, src: number, len: number): void;
  toBytes(dst: number, len: number, src: number, n: number): void;
}

function instantiate(): CoreExports {
  const url = new URL('../../../build/core.wasm', import.meta.url);
  let bytes: Buffer;
  try {
    bytes = readFileSync(url);
  } catch (cause) {
    throw new Error(`crypto core not built: ${url.pathname} is missing (run npm run build:wasm)`, { cause });
  }
  const module = new WebAssembly.Module(bytes);
  const instance = new WebAssembly.Instance(module, {
    env: {
      abort(_msg: number, _file: number, line: number, col: number): never {
        throw new Error(`crypto core aborted at ${line}:${col}`);
      },
    },
  });
  return instance.exports as unknown as CoreExports;
}

/** Raw exports of the core. Callers outside src/wasm/ never use this. */
export const core: CoreExports = instantiate();

let view = new Uint32Array(core.memory.buffer);

/** Current u32 view of the core's memory (re-created after the memory grows). */
export function mem(): Uint32Array {
  if (view.buffer !== core.memory.buffer) view = new Uint32Array(core.memory.buffer);
  return view;
}

/** Number of limbs for a value of `bits` bits. */
export function limbsFor(bits: number): number {
  return Math.max(1, Math.ceil(bits / LIMB_BITS));
}

/** Allocate a zeroed buffer of n limbs plus padding. */
export function allocLimbs(n: number): number {
  const bytes = (n + LIMB_PAD) * 4;
  const ptr = core.alloc(bytes);
  mem().fill(0, ptr >>> 2, (ptr + bytes) >>> 2);
  return ptr;
}

/** Staging area for byte strings crossing the boundary (grows to the largest value seen). */
let stage = 0;
let stageBytes = 0;

function staging(bytes: number): number {
  if (bytes > stageBytes) {
    if (stage) core.free(stage);
    stageBytes = Math.max(bytes, 1024);
    stage = core.alloc(stageBytes);
  }
  return stage;
}

/** Write a non-negative x (known to fit) into n limbs at ptr. */
export function writeLimbs(ptr: number, n: number, x: bigint): void {
  let hex = x.toString(16);
  if (hex.length & 1) hex = '0' + hex;
  const bytes = Buffer.from(hex, 'hex');
  const src = staging(bytes.length);
  new Uint8Array(core.memory.buffer, src, bytes.length).set(bytes);
  core.fromBytes(ptr, n, src, bytes.length);
}

/** Read n limbs at ptr as a bigint. */
export function readLimbs(ptr: number, n: number): bigint {
  const len = Math.ceil((n * LIMB_BITS) / 8);
  const dst = staging(len);
  core.toBytes(dst, len, ptr, n);
  return BigInt('0x' + Buffer.from(core.memory.buffer, dst, len).toString('hex'));
}

/** Bit length of |x| (defined with the host utilities; part of this module's API). */
export { bitLength } from '../util/bits.js';

/** Reusable scratch buffer that grows to the largest size asked for. */
export class Scratch {
  private ptr = 0;
  private limbs = 0;

  /** A buffer of at least n limbs (contents unspecified). */
  get(n: number): number {
    if (n > this.limbs) {
      if (this.ptr) core.free(this.ptr);
      this.ptr = allocLimbs(n);
      this.limbs = n;
    }
    return this.ptr;
  }
}

/** Size of the core's linear memory in bytes (it grows, never shrinks; tests check it stays bounded). */
export function coreMemoryBytes(): number {
  return core.memory.buffer.byteLength;
}
