/**
 * Pieces every protocol's rounds share: the version header of a message, 32-byte hash messages
 * (commitments, echoes), turning a decode or proof failure into an abort naming the sender, and
 * the base of rounds that every party 0 … n − 1 runs.
 * @module
 */
import { DecodeError, Reader, Writer } from './codec.js';
import { BaseRound, Blame } from './machine.js';
import { InvalidProof } from '../zk/errors.js';
import { echoHash, echoMismatches } from './echo.js';

/** Version byte at the start of every protocol message. */
export const MESSAGE_VERSION = 1;

export function readVersion(r: Reader): void {
  const v = r.u8('version');
  if (v !== MESSAGE_VERSION) throw new DecodeError(`unsupported message version ${v}`);
}

export function encodeHash(h: Uint8Array): Uint8Array {
  return new Writer().u8(MESSAGE_VERSION).fixed(h).finish();
}

export function decodeHash(b: Uint8Array): Uint8Array {
  const r = new Reader(b);
  readVersion(r);
  const h = Uint8Array.from(r.fixed(32, 'hash'));
  r.end();
  return h;
}

/** Decode party j's message, or abort blaming j. */
export function decodeFrom<T>(j: number, round: string, decode: () => T): T {
  try {
    return decode();
  } catch (e) {
    throw new Blame([j], 'malformed', `${round}: malformed (${(e as Error).message})`);
  }
}

/** Verify party j's proof, or abort blaming j with the proof's reason code. */
export function verifyFrom(j: number, round: string, verify: () => void): void {
  try {
    verify();
  } catch (e) {
    if (e instanceof InvalidProof) throw new Blame([j], 'proof-invalid', `${round}: ${e.reason}`, e.reason);
    throw e;
  }
}

/** Every party's hash commitment in index order (own included) and our echo over them. */
export function receiveCommitments(
  sid: Uint8Array,
  n: number,
  me: number,
  own: Uint8Array,
  round: string,
  got: ReadonlyMap<number, Uint8Array>,
): { commitments: Uint8Array[]; echo: Uint8Array } {
  const commitments = [...Array(n).keys()].map((j) =>
    j === me ? own : decodeFrom(j, round, () => decodeHash(got.get(j) as Uint8Array)),
  );
  return { commitments, echo: echoHash(sid, round, commitments) };
}

/** Abort unless every echo equals ours (nobody can be named: equivocator or reporter?). */
export function checkEchoes(mine: Uint8Array, round: string, got: ReadonlyMap<number, Uint8Array>): void {
  const echoes = new Map<number, Uint8Array>();
  for (const [j, body] of got)
    echoes.set(
      j,
      decodeFrom(j, round, () => decodeHash(body)),
    );
  const differ = echoMismatches(mine, echoes);
  if (differ.length)
    throw new Blame(
      [],
      'broadcast-mismatch',
      `${round}: broadcasts differ (echo of party ${differ.join(', ')} ≠ ours)`,
    );
}

/** ⊕ of 32-byte contributions (rid, ρ). */
export function xor32(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(32);
  for (const p of parts) for (let b = 0; b < 32; b++) out[b] = (out[b] as number) ^ (p[b] as number);
  return out;
}

/** Party indices 0 … n − 1. */
export function allParties(n: number): number[] {
  return [...Array(n).keys()];
}

/** What a round of a protocol that every party runs keeps: at least its parameters (own index i of n). */
export interface AllPartiesState {
  readonly params: { readonly sid: Uint8Array; readonly n: number; readonly i: number };
}

/** A round of a protocol that all n parties run (keygen, refresh, aux-info): party i of 0 … n − 1. */
export abstract class AllPartiesRound<O, S extends AllPartiesState> extends BaseRound<O, S> {
  get me(): number {
    return this.s.params.i;
  }

  protected get parties(): readonly number[] {
    return allParties(this.s.params.n);
  }
}
