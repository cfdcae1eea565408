/**
 * Epochs and the atomic switch. State that every node of the group must hold in the same version —
 * the group's aux-info (scope `aux`) and each wallet's key share (scope = wallet id) — carries an
 * epoch, and a protocol run that makes a successor never overwrites the committed one:
 *
 *   stage   before our confirmation leaves, the successor is stored as *pending* beside the
 *           committed state (with the session id, the confirmation round, our c and our signed
 *           confirmation envelope, so the evidence can be gathered from the parties later);
 *   commit  only on transferable evidence that every party finished: the signed confirmation
 *           envelopes of all n parties, each carrying our c. Anyone holding them (a peer, the
 *           coordinator) can hand them to a node that missed the last message (`finalize`); a
 *           relay cannot forge them, so it can delay a switch but never make one.
 *
 * Why this closes the split: a node switches only when every party confirmed, and every honest
 * party that confirmed holds the same pending successor durably, so a node cut off before the end
 * stays on the committed epoch *and* can still finish the switch later from the evidence. A node
 * that restarts mid-switch keeps serving its committed epoch until then (the rollback) and commits
 * when the evidence arrives (the finish).
 *
 * A pending state is never replaced by another run's: a node that confirmed one successor confirms
 * no other of the same scope (otherwise a relay could collect full evidence for two and hand each
 * to different nodes). It is dropped only on proof that it can never be committed: the
 * *abandonments* signed by EVERY other party of the group, each stating that it never confirmed
 * that run and never will (a party signs one only when it holds no pending state or commit of that
 * run, after cancelling the run if it still runs). One party's is not enough: a party that did
 * confirm may sign one anyway after showing its confirmation to some nodes only. With every other
 * party's, at least one honest party never confirmed, so no evidence exists and the dropped state
 * cannot be committed anywhere. The cost: when two honest parties hold the pending state and the
 * third withholds its confirmation, the state stays pending until that party releases it or an
 * operator drops it on every node (`npm run pending`); the committed epoch keeps serving meanwhile.
 * A party's confirmation and its abandonment of the same run, both signed, prove it lied.
 *
 * A key share also records the aux-info epoch it was made or refreshed under (`auxEpoch`): the run
 * binds the aux-info in its state fingerprint at prepare, and its stage is refused as stale if the
 * aux-info committed since (checked under the aux scope's lock, so no aux commit slips in between).
 * The node refuses to presign with a share older than the committed aux-info (service.ts): new
 * Paillier keys with a share that was not refreshed under them would be a mixed state, where a
 * reader of one node before the rotation and another after it still holds a consistent pair.
 *
 * Commit order, crash-safe at every step: every presignature made under the old epoch is burnt
 * (durably marked used) through `beforeSwitch`, then the evidence is stored, then the committed
 * record is replaced atomically, then the pending record is removed. A crash leaves the old epoch
 * with its presignatures gone (harmless: they are disposable) or the new epoch with a leftover
 * pending record, which `recover` removes at start.
 * @module
 */
import { Reader, Writer } from '../protocol/codec.js';
import { decodeHash } from '../protocol/common.js';
import { equalBytes } from '@noble/curves/utils.js';
import { EnvelopeError, decodeEnvelope, openBroadcastEvidence, type PartyIdentity } from '../envelope/envelope.js';
import type { RecordKind, RecordStore } from './storage/store.js';
import { KeyedLock, type ScopeLock } from './storage/lock.js';
import { AUX_RECORD, decodeEpoch, encodeEpoch, pack, unpack, unpackVersioned } from './records.js';
import type { RpcErrorCode } from '../rpc/errors.js';

export const AUX_SCOPE = 'aux';

/**
 * The scope a run of `protocol` switches (the aux-info, or wallet `walletId`'s key share), if any:
 * what "one run per scope at a time" counts in the service, and what the node's main thread routes
 * a wallet's runs to one protocol worker by (workers.ts).
 */
export function scopeOf(protocol: string, walletId: string | undefined): string | undefined {
  if (protocol === 'aux') return AUX_SCOPE;
  return protocol === 'keygen' || protocol === 'refresh' || protocol === 'reshare' ? walletId : undefined;
}
export type LifecycleProtocol = 'aux' | 'keygen' | 'refresh' | 'reshare';
// stored as the index here: new protocols are appended
const PROTOCOL_CODES: readonly LifecycleProtocol[] = ['aux', 'keygen', 'refresh', 'reshare'];
/**
 * Records written before epochs existed: aux-info reads as epoch 1, shares as made at keygen (0).
 * A share written before it recorded its aux epoch reads as made under aux epoch 0 — before any
 * aux-info — so it counts as stale and is refreshed once before it presigns. Reading it as the
 * first aux-info would be wrong: the group monitor could re-run aux-info before epochs existed (that
 * aux-info reads as 1 too), so such a share may predate the current Paillier keys. At worst this
 * costs one refresh per old wallet.
 */
export const LEGACY_EPOCH = { aux: 1, share: 0, shareAux: 0 } as const;
const MAX_ENVELOPES = 64;

export interface PendingState {
  readonly protocol: LifecycleProtocol;
  readonly sid: Uint8Array;
  /** the confirmation round whose envelopes prove the commit */
  readonly round: string;
  /** our confirmation c_i; every party's must equal it */
  readonly c: Uint8Array;
  /** the epoch the state gets when committed */
  readonly epoch: number;
  /** key shares: the aux-info epoch the run ran under (the stage is refused if it moved) */
  readonly auxEpoch?: number;
  /** the state's stored form (public part, secret part) */
  readonly parts: readonly Uint8Array[];
  /**
   * our own signed confirmation envelope of the run (public): handed out on request, so that the
   * evidence can be gathered from the parties themselves when the relay that ran the session lost it
   */
  readonly confirmation?: Uint8Array;
}

export interface Committed {
  readonly epoch: number;
  /** key shares: the aux-info epoch the share was made or refreshed under */
  readonly auxEpoch?: number;
  readonly parts: readonly Uint8Array[];
}

export interface Evidence {
  readonly protocol: LifecycleProtocol;
  readonly epoch: number;
  /** every party's signed confirmation envelope (stored sorted by bytes; order carries nothing) */
  readonly envelopes: readonly Uint8Array[];
}

/** The commit was refused: no pending state, or evidence that does not prove it. */
export class CommitError extends Error {
  constructor(
    readonly code: Extract<RpcErrorCode, 'no-pending' | 'bad-evidence' | 'epoch-moved' | 'pending-unresolved'>,
    message: string,
  ) {
    super(message);
  }
}

export interface LifecycleOptions {
  readonly store: RecordStore;
  /** every party of the group, by index, with pinned identity keys (the evidence's signers) */
  readonly parties: readonly PartyIdentity[];
  /** burn what belongs to epochs before `epoch` of `scope` (presignatures); runs before the switch */
  readonly beforeSwitch: (scope: string, epoch: number) => Promise<void>;
  /**
   * durably remember that this node confirmed run `sid` of `scope` (a tombstone that outlives the
   * pending state and the evidence): runs under the scope's lock just before the stage is stored,
   * so no confirmation ever leaves without it. A later commit replaces the evidence, a discard or an
   * operator's drop removes the pending state; without the tombstone the node would then sign an
   * abandonment of a run it confirmed, and its relayed confirmation beside that abandonment is a
   * "proof" of misbehaviour against an honest node.
   */
  readonly rememberConfirmed?: (scope: string, sid: Uint8Array) => Promise<void>;
  /**
   * runs after a switch is stored, still under the scope's lock (the share backup): must not throw,
   * the commit is done; and must not keep the parts, which the caller zeroises
   */
  readonly afterCommit?: (scope: string, committed: Committed) => Promise<void>;
  /**
   * the lock that serialises stage, commit and `exclusive` per scope (default one of this thread's
   * own). A node with several protocol workers gives each the same lock, held by the main thread
   * (workers.ts): a commit in one worker and a presignature stored in another must exclude each
   * other, or the presignature of the old epoch could be stored after the commit burnt that epoch's.
   */
  readonly lock?: ScopeLock;
}

function where(scope: string): [RecordKind, string] {
  return scope === AUX_SCOPE ? ['aux', AUX_RECORD] : ['keyshare', scope];
}

function encodePending(p: PendingState): Uint8Array {
  const meta = new Writer()
    .u8(PROTOCOL_CODES.indexOf(p.protocol))
    .bytes(p.sid)
    .bytes(new TextEncoder().encode(p.round))
    .fixed(p.c)
    .u32(p.epoch);
  // a trailing field: pending records staged before it existed decode without it
  if (p.auxEpoch !== undefined) meta.u32(p.auxEpoch);
  // the confirmation is a trailing part: pending records staged before it existed decode without it
  return pack(meta.finish(), ...p.parts, ...(p.confirmation ? [p.confirmation] : []));
}

function decodePending(b: Uint8Array): PendingState {
  const [meta, pub, secret, confirmation] = unpackVersioned(b, 4, 'pending state', 3) as [
    Uint8Array,
    Uint8Array,
    Uint8Array,
    Uint8Array | undefined,
  ];
  const r = new Reader(meta);
  const protocol = PROTOCOL_CODES[r.u8('protocol')];
  if (!protocol) throw new Error('pending state: unknown protocol');
  const sid = Uint8Array.from(r.bytes(64, 'sid'));
  const round = new TextDecoder().decode(r.bytes(64, 'round'));
  const c = Uint8Array.from(r.fixed(32, 'confirmation'));
  const epoch = r.u32('epoch');
  const auxEpoch = r.remaining > 0 ? r.u32('aux epoch') : undefined;
  r.end('pending state');
  return {
    protocol,
    sid,
    round,
    c,
    epoch,
    ...(auxEpoch === undefined ? {} : { auxEpoch }),
    parts: [pub, secret],
    ...(confirmation === undefined ? {} : { confirmation }),
  };
}

function encodeEvidence(e: Evidence): Uint8Array {
  return pack(new Writer().u8(PROTOCOL_CODES.indexOf(e.protocol)).u32(e.epoch).finish(), ...e.envelopes);
}

function decodeEvidence(b: Uint8Array, n: number): Evidence {
  const parts = unpack(b, n + 1, 'evidence');
  const r = new Reader(parts[0] as Uint8Array);
  const protocol = PROTOCOL_CODES[r.u8('protocol')];
  if (!protocol) throw new Error('evidence: unknown protocol');
  const epoch = r.u32('epoch');
  r.end('evidence');
  return { protocol, epoch, envelopes: parts.slice(1) };
}

/**
 * The runs a stored pending-state or evidence record shows this node confirmed (their sids): for
 * records moved to the archive, whose tombstones must still refuse abandonments of those runs.
 */
export function confirmedSidsOfRecord(kind: 'pending' | 'evidence', record: Uint8Array, n: number): Uint8Array[] {
  if (kind === 'pending') {
    const p = decodePending(record);
    p.parts[1]?.fill(0);
    return [p.sid];
  }
  const sids: Uint8Array[] = [];
  for (const env of decodeEvidence(record, n).envelopes) {
    const sid = decodeEnvelope(env).sid;
    if (!sids.some((s) => equalBytes(s, sid))) sids.push(sid);
  }
  return sids;
}

export class Lifecycle {
  /** serialises stage, commit and whatever the caller runs under `exclusive` per scope */
  private readonly lock: ScopeLock;

  constructor(private readonly o: LifecycleOptions) {
    this.lock = o.lock ?? new KeyedLock();
  }

  /** Run `fn` while no stage or commit of `scope` runs (e.g. storing a presignature of its epoch). */
  exclusive<T>(scope: string, fn: () => Promise<T>): Promise<T> {
    return this.lock.run(scope, fn);
  }

  /** The committed state of a scope, or undefined. The caller zeroises the parts after use. */
  async committed(scope: string): Promise<Committed | undefined> {
    const [kind, id] = where(scope);
    const rec = await this.o.store.get(kind, id);
    if (!rec) return undefined;
    if (scope === AUX_SCOPE) {
      const [pub, secret, epoch] = unpackVersioned(rec, 3, 'aux-info') as [
        Uint8Array,
        Uint8Array,
        Uint8Array | undefined,
      ];
      rec.fill(0);
      return { epoch: decodeEpoch(epoch, LEGACY_EPOCH.aux, scope), parts: [pub, secret] };
    }
    const [pub, secret, epoch, auxEpoch] = unpackVersioned(rec, 4, 'key share', 2) as [
      Uint8Array,
      Uint8Array,
      Uint8Array | undefined,
      Uint8Array | undefined,
    ];
    rec.fill(0);
    return {
      epoch: decodeEpoch(epoch, LEGACY_EPOCH.share, scope),
      auxEpoch: decodeEpoch(auxEpoch, LEGACY_EPOCH.shareAux, `${scope} aux`),
      parts: [pub, secret],
    };
  }

  async pending(scope: string): Promise<PendingState | undefined> {
    const rec = await this.o.store.get('pending', scope);
    return rec ? decodePending(rec) : undefined;
  }

  /**
   * Store a successor as pending. `base` is the committed epoch the run started from (undefined:
   * none, for keygen); if the committed state has moved since, the run is stale and refused.
   */
  stage(scope: string, p: PendingState, base: number | undefined, allowed: () => boolean = () => true): Promise<void> {
    const stage = () =>
      this.lock.run(scope, async () => {
        // checked under the lock: an abandonment of this run (taken before `confirmed` under the same lock) wins
        if (!allowed()) throw new CommitError('epoch-moved', `${scope}: this node abandoned the run`);
        const current = await this.committed(scope);
        current?.parts[1]?.fill(0);
        if (current?.epoch !== base)
          throw new CommitError('epoch-moved', `${scope}: the committed epoch changed during the run`);
        if (p.auxEpoch !== undefined) {
          // under the aux scope's lock (taken first, as everywhere): no aux commit between this check and the stage
          const aux = await this.committed(AUX_SCOPE);
          aux?.parts[1]?.fill(0);
          if (aux?.epoch !== p.auxEpoch)
            throw new CommitError('epoch-moved', `${scope}: the aux-info changed during the run`);
        }
        const other = await this.pending(scope);
        if (other && !equalBytes(other.sid, p.sid))
          throw new CommitError(
            'pending-unresolved',
            `${scope}: another run's successor awaits its commit or an abandonment`,
          );
        await this.o.rememberConfirmed?.(scope, p.sid);
        await this.o.store.put('pending', scope, encodePending(p));
      });
    return p.auxEpoch !== undefined && scope !== AUX_SCOPE ? this.lock.run(AUX_SCOPE, stage) : stage();
  }

  /**
   * Switch to the pending state on the evidence (every party's signed confirmation carrying our
   * c). Idempotent for evidence of the epoch already committed. Returns the committed state.
   */
  commit(scope: string, envelopes: readonly Uint8Array[]): Promise<Committed> {
    return this.lock.run(scope, async () => {
      const p = await this.pending(scope);
      if (!p) {
        const current = await this.committed(scope);
        const stored = current && (await this.evidence(scope));
        if (current && stored && stored.epoch === current.epoch && sameEnvelopes(stored.envelopes, envelopes))
          return current;
        current?.parts[1]?.fill(0);
        throw new CommitError('no-pending', `${scope}: nothing pending to commit`);
      }
      this.check(p, envelopes);
      await this.o.beforeSwitch(scope, p.epoch);
      const ordered = [...envelopes].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
      await this.o.store.put(
        'evidence',
        scope,
        encodeEvidence({ protocol: p.protocol, epoch: p.epoch, envelopes: ordered }),
      );
      const [kind, id] = where(scope);
      const record =
        scope === AUX_SCOPE
          ? pack(...p.parts, encodeEpoch(p.epoch))
          : pack(...p.parts, encodeEpoch(p.epoch), encodeEpoch(p.auxEpoch ?? LEGACY_EPOCH.shareAux));
      if (p.protocol === 'keygen') {
        // a wallet id is never overwritten
        if (!(await this.o.store.create(kind, id, record)))
          throw new CommitError('epoch-moved', `${scope}: a committed key share already exists`);
      } else {
        await this.o.store.put(kind, id, record);
      }
      await this.o.store.delete('pending', scope);
      const committed: Committed = {
        epoch: p.epoch,
        ...(scope === AUX_SCOPE ? {} : { auxEpoch: p.auxEpoch ?? LEGACY_EPOCH.shareAux }),
        parts: p.parts,
      };
      await this.o.afterCommit?.(scope, committed);
      return committed;
    });
  }

  /**
   * Drop the pending state of run `sid` (the caller checked every other party's signed abandonment of it).
   * False if the pending state belongs to another run, or there is none.
   */
  discard(scope: string, sid: Uint8Array): Promise<boolean> {
    return this.lock.run(scope, async () => {
      const p = await this.pending(scope);
      if (!p || !equalBytes(p.sid, sid)) return false;
      return this.o.store.delete('pending', scope);
    });
  }

  /** Whether this node confirmed run `sid` of `scope` (it holds its pending state or committed it). */
  async confirmed(scope: string, sid: Uint8Array): Promise<boolean> {
    return this.lock.run(scope, async () => {
      const p = await this.pending(scope);
      if (p && equalBytes(p.sid, sid)) return true;
      const e = await this.evidence(scope);
      return e !== undefined && e.envelopes.some((env) => equalBytes(decodeEnvelope(env).sid, sid));
    });
  }

  /**
   * The runs of `scope` this node's records show it confirmed (its pending state's, and the last
   * commit's): what must stay refused for abandonment after the records are archived. The caller
   * holds the scope (exclusive).
   */
  async confirmedSids(scope: string): Promise<Uint8Array[]> {
    const sids: Uint8Array[] = [];
    const p = await this.pending(scope);
    if (p) {
      p.parts[1]?.fill(0);
      sids.push(p.sid);
    }
    for (const env of (await this.evidence(scope))?.envelopes ?? []) {
      const sid = decodeEnvelope(env).sid;
      if (!sids.some((s) => equalBytes(s, sid))) sids.push(sid);
    }
    return sids;
  }

  /** The evidence of the last commit of a scope (public: signed confirmations). */
  async evidence(scope: string): Promise<Evidence | undefined> {
    const rec = await this.o.store.get('evidence', scope);
    return rec ? decodeEvidence(rec, this.o.parties.length) : undefined;
  }

  /** At start: drop pending states that a commit before a crash already made current. */
  async recover(): Promise<number> {
    let dropped = 0;
    for (const scope of await this.o.store.list('pending')) {
      let p: PendingState | undefined;
      try {
        p = await this.pending(scope);
      } catch {
        continue; // unreadable: it can never be committed (commit reads it); left for an operator
      }
      const current = await this.committed(scope);
      current?.parts[1]?.fill(0);
      if (p && current && current.epoch >= p.epoch) {
        await this.o.store.delete('pending', scope);
        dropped++;
      }
    }
    return dropped;
  }

  private check(p: PendingState, envelopes: readonly Uint8Array[]): void {
    if (envelopes.length === 0 || envelopes.length > MAX_ENVELOPES)
      throw new CommitError('bad-evidence', 'evidence must hold one envelope per party');
    let bodies: Map<number, Uint8Array>;
    try {
      bodies = openBroadcastEvidence(
        { sid: p.sid, protocol: `mpc-engine/${p.protocol}`, parties: this.o.parties },
        p.round,
        envelopes,
      );
    } catch (e) {
      if (e instanceof EnvelopeError) throw new CommitError('bad-evidence', e.message);
      throw e;
    }
    for (const [j, body] of bodies) {
      let c: Uint8Array;
      try {
        c = decodeHash(body);
      } catch {
        throw new CommitError('bad-evidence', `party ${j}'s confirmation is malformed`);
      }
      if (!equalBytes(c, p.c)) throw new CommitError('bad-evidence', `party ${j}'s confirmation differs from ours`);
    }
  }
}

function sameEnvelopes(a: readonly Uint8Array[], b: readonly Uint8Array[]): boolean {
  if (a.length !== b.length) return false;
  const key = (x: readonly Uint8Array[]) =>
    x
      .map((e) => Buffer.from(e).toString('base64'))
      .sort()
      .join(',');
  return key(a) === key(b);
}
