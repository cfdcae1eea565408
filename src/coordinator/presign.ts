/**
 * One presignature from a presign session between the chosen signers, checked before the pool
 * admits it: the signers returned byte-identical public presignatures (the orchestrator compares
 * results), it decodes, names exactly these signers, and is for this wallet's public key — a
 * presignature for any other key would let combining produce a signature valid under that key.
 * @module
 */
import { decodePresignaturePublic } from '../protocol/storage-format.js';
import { pointFromBytes } from '../curve/secp256k1.js';
import type { NodeCluster } from './cluster.js';
import type { NodeLink } from './node-link.js';
import { abortReason, type SessionRunner } from './orchestrator.js';
import { PresignCancelledError, signersKey, type PoolEntry, type PresignFn } from './pool.js';

/** A presign session did not give a usable presignature; `nodes` are the ones to avoid next. */
export class PresignFailedError extends Error {
  override readonly name: string = 'PresignFailedError';
  constructor(
    message: string,
    /** node ids at fault (empty: nobody in particular) */
    readonly nodes: readonly string[],
    /** true when the nodes are culprits of a protocol abort (cryptographic misbehaviour) */
    readonly blamed: boolean,
    /** true when the nodes are shutting down (nothing wrong with them: retry elsewhere or later) */
    readonly draining = false,
  ) {
    super(message);
  }
}

/**
 * A signer refused to presign because the wallet's key share predates the group's aux-info (a
 * rotation or an aux-info re-run committed since): the wallet needs a refresh. Nobody is at fault
 * the first time; `refusedBy` names the refusing nodes in case the claim turns out false (the
 * wallet was already refreshed under the current aux-info: signing.ts).
 */
export class ShareStaleError extends PresignFailedError {
  override readonly name = 'ShareStaleError';
  constructor(
    readonly walletId: string,
    /** node ids that answered `share-stale` */
    readonly refusedBy: readonly string[] = [],
  ) {
    super(`the key shares of ${walletId} predate the group's aux-info: a refresh is needed`, [], false);
  }
}

export interface PresignSourceOptions {
  readonly runner: SessionRunner;
  readonly cluster: NodeCluster;
  /** the wallet's public key (33-byte compressed hex), from the registry */
  readonly publicKeyOf: (walletId: string) => string | undefined;
  readonly timeoutMs?: number;
  /**
   * Presign sessions running at once (default 2). Each costs the two signers about a second of
   * compute on their protocol thread; running more at once only queues that work inside the nodes,
   * where it counts against every session's timeout. Waiting here does not.
   */
  readonly maxConcurrent?: number;
}

/** A counting semaphore: at most `n` holders; the others wait in arrival order. */
export class Slots {
  private free: number;
  private readonly waiting: (() => void)[] = [];

  constructor(n: number) {
    if (!Number.isInteger(n) || n < 1) throw new RangeError('slots must be a positive integer');
    this.free = n;
  }

  /** Holders waiting for a slot. */
  get queued(): number {
    return this.waiting.length;
  }

  /**
   * Resolves with the release function once a slot is held. A `signal` that aborts while waiting
   * leaves the queue and rejects with its reason (the slot is never taken).
   */
  async acquire(signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted) throw signal.reason;
    if (this.free > 0) this.free--;
    else {
      await new Promise<void>((resolve, reject) => {
        const granted = (): void => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        };
        const onAbort = (): void => {
          const k = this.waiting.indexOf(granted);
          if (k >= 0) this.waiting.splice(k, 1);
          reject(signal?.reason);
        };
        this.waiting.push(granted);
        signal?.addEventListener('abort', onAbort, { once: true });
      });
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      if (next) next();
      else this.free++;
    };
  }
}

export function orchestratedPresign(o: PresignSourceOptions): PresignFn {
  const slots = new Slots(o.maxConcurrent ?? 2);
  return async (walletId, signers, options = {}) => {
    const { signal } = options;
    let release: () => void;
    try {
      release = await slots.acquire(signal);
    } catch {
      throw new PresignCancelledError('the presign was not started: its request stopped waiting');
    }
    // the request may have gone while the slot was handed over: start nothing for it
    if (signal?.aborted) {
      release();
      throw new PresignCancelledError('the presign was not started: its request stopped waiting');
    }
    try {
      return await presignOnce(o, walletId, signers);
    } finally {
      release();
    }
  };
}

async function presignOnce(o: PresignSourceOptions, walletId: string, signers: readonly number[]): Promise<PoolEntry> {
  const publicKey = o.publicKeyOf(walletId);
  if (publicKey === undefined) throw new PresignFailedError(`no wallet ${walletId}`, [], false);
  const participants = signers.map((i) => o.cluster.link(i)).filter((l): l is NodeLink => l !== undefined);
  const auxId = o.cluster.auxId; // the aux-info the signers were chosen under (an aux commit during the session fails it at the nodes)
  if (participants.length !== signers.length) throw new RangeError(`unknown signer in ${signersKey(signers)}`);
  const outcome = await o.runner.run({
    protocol: 'presign',
    parties: o.cluster.parties,
    participants,
    walletId,
    ...(o.timeoutMs === undefined ? {} : { timeoutMs: o.timeoutMs }),
  });
  if (outcome.status === 'aborted') {
    const culprits = outcome.culprits.map((c) => c.nodeId).filter((id): id is string => id !== undefined);
    throw new PresignFailedError(`presign aborted by ${outcome.reportedBy}: ${abortReason(outcome)}`, culprits, true);
  }
  if (outcome.status === 'failed' && outcome.code === 'share-stale') throw new ShareStaleError(walletId, outcome.nodes);
  if (outcome.status === 'failed') {
    const draining = outcome.failure === 'draining';
    if (draining) for (const id of outcome.nodes) o.cluster.markDraining(o.cluster.parties.indexOf(id));
    throw new PresignFailedError(
      `presign failed (${outcome.failure}): ${outcome.reason}`,
      outcome.nodes,
      false,
      draining,
    );
  }
  let entry: PoolEntry;
  try {
    const pub = decodePresignaturePublic(Uint8Array.from(Buffer.from(outcome.result.presignature, 'base64')));
    entry = {
      walletId,
      signers: [...signers],
      id: Buffer.from(pub.id).toString('hex'),
      pub,
      ...(auxId === undefined ? {} : { auxId }),
      ...(outcome.state === undefined ? {} : { state: outcome.state }),
    };
  } catch (e) {
    throw new PresignFailedError(`presignature does not decode: ${(e as Error).message}`, [], false);
  }
  if (signersKey(entry.pub.signers) !== signersKey(signers))
    throw new PresignFailedError('presignature names other signers', [], false);
  if (!entry.pub.Y.equals(pointFromBytes(Uint8Array.from(Buffer.from(publicKey, 'hex')), 'publicKey'))) {
    throw new PresignFailedError('presignature is for another public key', [], false);
  }
  return entry;
}
