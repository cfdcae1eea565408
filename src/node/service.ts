/**
 * A node's request handler for the coordinator protocol (src/rpc/messages.ts). Every request is
 * validated before use; the coordinator is not an authority (docs/security.md, relay rule 6): the node checks the
 * party list against its own configuration, its own position and nonce, the wallet and signer set
 * against its key share, and refuses any session id it has seen before (docs/security.md, transcript rule 6).
 *
 * Outputs are stored durably, encrypted under the node's KMS, before the node reports a session
 * done; a presignature is durably marked used before its partial signature leaves the node.
 *
 * Several coordinators (COORDINATOR_IDS) may be connected at once. A live session belongs to the
 * coordinator that prepared it: only that one may start, feed or abort it, so one coordinator's
 * requests can never disturb another's run (docs/security.md, relay rule 9). What outlives a
 * session is not bound to any coordinator — stored presignatures, and the pending state that the
 * resolver reads, commits on signed evidence, abandons or archives — so a coordinator can take over
 * what a dead one left.
 * @module
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { randomBytes, sign, type KeyObject } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { equalBytes } from '@noble/curves/utils.js';
import type { Logger } from 'pino';
import { z } from 'zod';
import { startAuxInfo } from '../protocol/aux/index.js';
import { abandonmentDigest, checkAbandonments, verifyAbandonment } from '../protocol/abandonment.js';
import { deriveSessionId } from '../protocol/session-id.js';
import { startKeygen, startRefresh } from '../protocol/keygen/index.js';
import { startPresign, type Presignature } from '../protocol/presign/index.js';
import { startReshare, type ReshareOutput, type ReshareRole } from '../protocol/reshare/index.js';
import type { KeyShare } from '../protocol/keyshare.js';
import type { AuxInfo } from '../protocol/aux-info.js';
import type { Step } from '../protocol/machine.js';
import {
  decodeAuxInfo,
  decodeKeyShare,
  decodePresignature,
  encodeAuxPublic,
  encodeAuxSecret,
  encodePresignaturePublic,
  encodePresignatureSecret,
  encodePublicKeyShare,
  encodeSecretKeyShare,
} from '../protocol/storage-format.js';
import { Reader, Writer } from '../protocol/codec.js';
import { ringPedersenFromPrimes, SECURITY_128, type SecurityParams } from '../protocol/aux/index.js';
import { auxId, stateFingerprint } from '../protocol/state.js';
import { type Point, pointToBytes } from '../curve/secp256k1.js';
import {
  decodeJson,
  encodeJson,
  requestSchema,
  type ProtocolName,
  type Request,
  type SessionResult,
  type SessionUpdate,
} from '../rpc/messages.js';
import {
  AUX_SCOPE,
  CommitError,
  confirmedSidsOfRecord,
  LEGACY_EPOCH,
  Lifecycle,
  scopeOf,
  type Committed,
  type LifecycleProtocol,
} from './lifecycle.js';
import type { AuditEvent } from '../util/audit-log.js';
import { decodeEnvelope, type PartyIdentity } from '../envelope/envelope.js';
import type { RecordStore } from './storage/store.js';
import type { ScopeLock } from './storage/lock.js';
import { Presignatures, SeenSessions, type Claimed } from './storage/presignatures.js';
import { DEFAULT_RETENTION_GRACE_MS, pruneSingleUse, type Pruned, type RetentionPolicy } from './storage/retention.js';
import { DEFAULT_PRESIGN_MAX_AGE_MS } from '../config/index.js';
import { PresignatureUsedError, SessionReplayError } from './storage/errors.js';
import type { ShareBackup } from './backup.js';
import { NodeSession } from './session.js';
import type { PrimeSource } from './primes.js';
import { hex, pack, unpack, unpackVersioned } from './records.js';
import { ArchiveRefusedError, archiveWallet, describeWallet, listWallets } from './archive.js';
import { clearRestored, readRestored } from './restore.js';
import { checkSessionKeys, newSessionKey, type SessionKeyAnswer, type SessionKeyPair } from './session-key.js';
import { MAX_PENDING_SCOPES, type ReshareSetup } from '../rpc/messages.js';
import { decodeReshareSetup, type DecodedReshare } from './reshare-setup.js';
import { rpcFailure, type RpcErrorCode } from '../rpc/errors.js';
import { DEFAULT_COORDINATOR_ID } from '../transport/identity.js';

export interface GroupMember {
  readonly nodeId: string;
  /** pinned identity key (from its CA-signed certificate, provisioned out of band) */
  readonly publicKey: KeyObject;
}

export interface NodeServiceOptions {
  readonly nodeId: string;
  /** every node of the group in index order (NODE_IDS) */
  readonly group: readonly GroupMember[];
  /** this node's identity private key (its TLS key) */
  readonly privateKey: KeyObject;
  /** t: parties needed to sign (MPC_THRESHOLD) */
  readonly threshold: number;
  readonly store: RecordStore;
  readonly primes: PrimeSource;
  readonly log: Logger;
  readonly L?: SecurityParams;
  /** sessions open at once (default 64) */
  readonly maxSessions?: number;
  /** a session idle this long is dropped (default 10 min) */
  readonly sessionTtlMs?: number;
  /**
   * a wallet's run (keygen, refresh, reshare) that staged nothing and was idle this long gives way
   * to a new prepare of its wallet (default 60 s: as long as a coordinator waits for a whole run)
   */
  readonly supersedeIdleMs?: number;
  /**
   * the node's audit trail (commits, burnt presignatures, partial signatures). On the main thread
   * (signing) it resolves once the event is durable, so a partial signature leaves the node only
   * after its event is recorded; the protocol worker hands its events to the main thread.
   */
  readonly audit?: (event: AuditEvent) => Promise<void>;
  /** where each committed key share's encrypted backup goes (BACKUP_PUBLIC_KEY set) */
  readonly backup?: ShareBackup;
  /** how long stored presignatures, used-markers and seen sids are kept (retention.ts; default 24 h and 1 h) */
  readonly retention?: Partial<RetentionPolicy>;
  /**
   * The per-scope lock of the lifecycle (stage, commit, storing a presignature): a node running
   * several protocol workers passes every worker the one the main thread holds (workers.ts).
   */
  readonly scopeLock?: ScopeLock;
  /**
   * Shared by the node's threads (one 32-bit counter): bumped after every aux-info commit, so a
   * protocol worker that cached the previous aux-info re-reads it (the commit ran in another worker).
   */
  readonly auxGeneration?: Int32Array;
  /** the node's protocol workers (NODE_WORKERS), reported in `info` as its capacity for sessions at once */
  readonly workers?: number;
  /**
   * false: this service never runs aux-info (another worker of the node does, the one that owns the
   * safe primes): its prepare is refused, so no two threads could ever take the same primes
   */
  readonly runsAux?: boolean;
  /** told each time a session leaves this service (finished, aborted, expired, cancelled) */
  readonly onSessionClosed?: (sessionId: string) => void;
}

/** A session idle this long is dropped (NodeServiceOptions.sessionTtlMs). */
const DEFAULT_SESSION_TTL_MS = 10 * 60_000;

/** An error answered to the coordinator (code + message; never a secret). */
export class RpcError extends Error {
  constructor(
    readonly code: RpcErrorCode,
    message: string,
  ) {
    super(message);
  }
}

interface Pending {
  /** the coordinator identity that prepared it: the only one that may start or abort it */
  readonly owner: string;
  readonly protocol: ProtocolName;
  readonly participants: readonly number[];
  readonly walletId: string | undefined;
  readonly nonce: string;
  /** fingerprint of the state the session uses (every participant's must be equal) */
  readonly state: string;
  /** this session's encryption key pair (session-key.ts); none on a placeholder */
  readonly sessionKey?: SessionKeyPair;
  readonly request: Extract<Request, { method: 'prepare' }>;
  /** when it was last asked or answered (monotonic ms: a wall-clock step makes no run look idle) */
  touched: number;
  /** a placeholder while `prepare` still awaits: holds the id and the scope, cannot be started */
  readonly preparing?: true;
  /** set (before the first await) by the `start` that goes ahead: a second one is refused at once */
  starting?: true;
  /** the order sessions were created in (prepare): bounds how long an abandoned sid is remembered */
  readonly seq: number;
}

/** A committed key share with its epoch and the aux-info epoch it was made or refreshed under. */
interface Share {
  readonly share: KeyShare;
  readonly epoch: number;
  readonly auxEpoch: number;
}

/** A presignature's epochs: the key share's and the aux-info's it was made with. */
interface PresigEpochs {
  readonly share: number;
  readonly aux: number;
}
/** Presignatures stored before epochs existed: the first share and aux-info epochs. */
const LEGACY_PRESIG_EPOCHS: PresigEpochs = { share: 0, aux: 1 };

function encodePresigEpochs(e: PresigEpochs): Uint8Array {
  return new Writer().u32(e.share).u32(e.aux).finish();
}

function decodePresigEpochs(b: Uint8Array | undefined): PresigEpochs {
  if (b === undefined) return LEGACY_PRESIG_EPOCHS;
  const r = new Reader(b);
  const e = { share: r.u32('share epoch'), aux: r.u32('aux epoch') };
  r.end('presignature epochs');
  return e;
}

interface Running {
  /** the coordinator identity that prepared and started it: the only one that may feed or abort it */
  readonly owner: string;
  readonly session: NodeSession<unknown>;
  /** aux, keygen, refresh: the scope the session may switch; its sid */
  readonly scope: string | undefined;
  readonly sid: Uint8Array;
  /** when it was last asked or answered (monotonic ms, as Pending's) */
  touched: number;
  readonly seq: number;
}

/** The key of an aborted session id: per coordinator, so none can bar another's session ids. */
function abortKey(coordinator: string, sessionId: string): string {
  return `${coordinator} ${sessionId}`;
}

/** The open sessions; a removal is reported (the node's main thread routes by session id: workers.ts). */
class SessionTable extends Map<string, Pending | Running> {
  constructor(private readonly onClosed: ((sessionId: string) => void) | undefined) {
    super();
  }

  override delete(sessionId: string): boolean {
    const had = super.delete(sessionId);
    if (had) this.onClosed?.(sessionId);
    return had;
  }
}

/** aborted session ids remembered at most (each for the session TTL) */
const MAX_ABORTED = 4096;

/** abandoned run sids remembered at most while sessions that could still derive them are open */
const MAX_ABANDONED = 4096;

export class NodeService {
  readonly index: number;
  private readonly L: SecurityParams;
  private readonly presigs: Presignatures;
  private readonly seen: SeenSessions;
  private readonly sessions: SessionTable;
  private readonly lifecycle: Lifecycle;
  /**
   * aborted session ids, by the coordinator that aborted them (`abortKey`) → when they may be
   * forgotten (monotonic ms): a later prepare of one by that coordinator is refused
   */
  private readonly aborted = new Map<string, number>();
  /**
   * Runs this node signed an abandonment of (sid hex) → the `seq` of the next session created at
   * that moment. A sid binds every participant's session key, made fresh at prepare, so only a
   * session already created then can ever derive it: the entry is kept while one of those is open
   * (sessions live in memory only, so none survives a restart) and refused a start and a stage.
   */
  private readonly abandoned = new Map<string, number>();
  /** the `seq` the next session gets */
  private nextSeq = 0;
  /** where the next `info` starts listing pending wallet scopes, when there are more than it may list */
  private pendingWindow = 0;
  private aux: { readonly aux: AuxInfo; readonly epoch: number; readonly id: string } | undefined;
  private auxLoaded = false;
  /** the shared aux generation (`auxGeneration`) when `aux` was read */
  private auxSeen = 0;

  constructor(private readonly o: NodeServiceOptions) {
    const index = o.group.findIndex((m) => m.nodeId === o.nodeId);
    if (index < 0) throw new RangeError('this node is not in its own group');
    this.index = index;
    this.L = o.L ?? SECURITY_128;
    this.presigs = new Presignatures(o.store);
    this.seen = new SeenSessions(o.store);
    this.sessions = new SessionTable(o.onSessionClosed);
    this.lifecycle = new Lifecycle({
      store: o.store,
      ...(o.scopeLock ? { lock: o.scopeLock } : {}),
      parties: this.parties(o.group.map((_, k) => k)),
      beforeSwitch: (scope, epoch) => this.burnPresignatures(scope, epoch),
      rememberConfirmed: (scope, sid) => this.seen.rememberConfirmed(scope, sid),
      ...(o.backup
        ? {
            afterCommit: async (scope: string, c: Committed) => {
              await this.backUp(scope, c.epoch, c.parts);
            },
          }
        : {}),
    });
  }

  /**
   * Delete what can no longer matter at time `now` (ms since the epoch): expired or orphaned
   * presignatures (burnt), used-markers without a secret and seen sids past the grace period
   * (storage/retention.ts). The main thread runs it periodically; it is safe beside signing and
   * sessions in any thread.
   */
  async prune(now: number = Date.now()): Promise<Pruned> {
    const policy: RetentionPolicy = {
      presignatureMaxAgeMs: this.o.retention?.presignatureMaxAgeMs ?? DEFAULT_PRESIGN_MAX_AGE_MS,
      graceMs: Math.max(
        this.o.retention?.graceMs ?? DEFAULT_RETENTION_GRACE_MS,
        this.o.sessionTtlMs ?? DEFAULT_SESSION_TTL_MS,
      ),
    };
    return pruneSingleUse(this.presigs, this.seen, policy, now, (kind, id, err) =>
      this.o.log.error({ kind, id, err: err.message }, 'a record past its retention could not be deleted (retried)'),
    );
  }

  /**
   * At start: finish what a crash interrupted — drop pending states already committed, and burn
   * presignatures made under epochs that are no longer committed.
   */
  async recover(): Promise<{ pendingDropped: number; presignaturesBurnt: number; backupsWritten: number }> {
    const pendingDropped = await this.lifecycle.recover();
    // tombstones of every run the records show confirmed, whatever its scope (idempotent): those
    // written before they were scope-free would let this node abandon a confirmed run under
    // another scope's name, which beside its confirmation reads as proof that it lied
    const scopes = new Set([...(await this.o.store.list('pending')), ...(await this.o.store.list('evidence'))]);
    for (const scope of scopes) {
      let sids: Uint8Array[];
      try {
        sids = await this.lifecycle.confirmedSids(scope);
      } catch {
        continue; // unreadable: left for an operator, as lifecycle.recover leaves it
      }
      for (const sid of sids) await this.seen.rememberConfirmed(scope, sid);
    }
    await this.rememberArchivedConfirmations();
    // only the aux epoch: the secret (Paillier, ring-Pedersen) is neither decoded nor cached here,
    // so a thread that runs no protocol (the node's main thread) never holds it
    const committedAux = await this.lifecycle.committed(AUX_SCOPE);
    committedAux?.parts[1]?.fill(0);
    const auxEpoch = committedAux?.epoch;
    const shareEpochs = new Map<string, number | undefined>();
    const presignaturesBurnt = await this.burnWhere(async (walletId, e) => {
      if (!shareEpochs.has(walletId)) {
        const c = await this.lifecycle.committed(walletId);
        c?.parts[1]?.fill(0);
        shareEpochs.set(walletId, c?.epoch);
      }
      return e.aux !== auxEpoch || e.share !== shareEpochs.get(walletId);
    });
    const backupsWritten = await this.backUpMissing();
    return { pendingDropped, presignaturesBurnt, backupsWritten };
  }

  /**
   * Tombstones of the runs whose pending state or evidence was archived before tombstones were
   * scope-free (idempotent). An archived record that does not read is skipped: the archive is the
   * operator's, and nothing here changes it.
   */
  private async rememberArchivedConfirmations(): Promise<void> {
    for (const id of await this.o.store.list('archived')) {
      const rec = await this.o.store.get('archived', id);
      if (!rec) continue;
      try {
        const [meta, record] = unpack(rec, 2, 'archived') as [Uint8Array, Uint8Array];
        const m = JSON.parse(new TextDecoder().decode(meta)) as { kind?: unknown; walletId?: unknown };
        if ((m.kind !== 'pending' && m.kind !== 'evidence') || typeof m.walletId !== 'string') continue;
        for (const sid of confirmedSidsOfRecord(m.kind, record, this.o.group.length))
          await this.seen.rememberConfirmed(m.walletId, sid);
      } catch {
        continue;
      } finally {
        rec.fill(0);
      }
    }
  }

  /**
   * Write the backup of one committed key share (not of the aux-info: the Paillier keys are
   * renewed, never restored). A failure is logged and audited, never thrown: the commit stands,
   * and the backup is written at the next start (`backUpMissing`).
   */
  private async backUp(scope: string, epoch: number, parts: readonly Uint8Array[]): Promise<boolean> {
    const backup = this.o.backup;
    if (!backup || scope === AUX_SCOPE) return false;
    try {
      const share = decodeKeyShare(parts[0] as Uint8Array, parts[1] as Uint8Array);
      const written = await backup.write(scope, epoch, share);
      if (written) await this.o.audit?.({ type: 'backup.written', scope, epoch });
      return written;
    } catch (e) {
      this.o.log.error(
        { walletId: scope, epoch, err: (e as Error).message },
        'the key share backup could not be written (retried at the next start)',
      );
      return false;
    }
  }

  /** At start: the backup of every committed key share that has none (a crash after its commit). */
  private async backUpMissing(): Promise<number> {
    const backup = this.o.backup;
    if (!backup) return 0;
    let written = 0;
    for (const walletId of await this.o.store.list('keyshare')) {
      const c = await this.lifecycle.committed(walletId);
      if (!c) continue;
      try {
        if (!(await backup.has(walletId, c.epoch)) && (await this.backUp(walletId, c.epoch, c.parts))) written++;
      } finally {
        c.parts[1]?.fill(0);
      }
    }
    return written;
  }

  /**
   * Bytes in, bytes out: the transport's request handler. Never throws. `coordinator`: the
   * identity of the link the request came by (its certificate's name); in-process callers are the
   * default coordinator.
   */
  async handleBytes(body: Uint8Array, coordinator: string = DEFAULT_COORDINATOR_ID): Promise<Uint8Array> {
    let parsed: z.ZodSafeParseResult<Request>;
    try {
      parsed = requestSchema.safeParse(decodeJson(body));
    } catch {
      return encodeJson(rpcFailure('bad-request', 'request is not JSON'));
    }
    if (!parsed.success) return encodeJson(rpcFailure('bad-request', z.prettifyError(parsed.error).slice(0, 500)));
    try {
      return encodeJson({ ok: true, ...(await this.handle(parsed.data, coordinator)) });
    } catch (e) {
      if (e instanceof RpcError) return encodeJson(rpcFailure(e.code, e.message));
      if (e instanceof PresignatureUsedError)
        return encodeJson(rpcFailure('presignature-used', 'presignature already used'));
      if (e instanceof SessionReplayError) return encodeJson(rpcFailure('sid-replay', 'session id seen before'));
      this.o.log.error({ err: (e as Error).message, method: parsed.data.method }, 'request failed');
      return encodeJson(rpcFailure('internal', 'internal error'));
    }
  }

  /** Whether a request should run off the main thread (protocol sessions) or inline (info, sign). */
  static isSessionMethod(method: Request['method']): boolean {
    return method !== 'sign';
  }

  async handle(req: Request, coordinator: string = DEFAULT_COORDINATOR_ID): Promise<object> {
    this.expire();
    switch (req.method) {
      case 'info':
        return this.info();
      case 'prepare':
        return this.prepare(req, coordinator);
      case 'start':
        return this.start(req.sessionId, req.nonces, req.states, req.sessionKeys, coordinator);
      case 'deliver':
        return this.deliver(req.sessionId, req.envelopes, coordinator);
      case 'abort': {
        const s = this.ownSession(req.sessionId, coordinator);
        if (s && 'session' in s) s.session.cancel();
        this.sessions.delete(req.sessionId);
        this.rememberAborted(coordinator, req.sessionId);
        // answered once no stage of the session can still be written (a stage holding the scope's
        // lock finishes first; one not yet in it is refused): what the coordinator reads next is final
        const scope = s && ('session' in s ? s.scope : scopeOf(s.protocol, s.walletId));
        if (scope !== undefined) await this.lifecycle.exclusive(scope, () => Promise.resolve());
        return {};
      }
      case 'sign':
        return this.sign(req.walletId, req.presignatureId, req.digest);
      case 'finalize':
        return this.finalize(req.scope, req.envelopes);
      case 'abandon':
        return this.abandon(req.scope, Buffer.from(req.sid, 'hex'), coordinator);
      case 'discard':
        return this.discard(req.scope, Buffer.from(req.sid, 'hex'), req.abandonments);
      case 'wallets':
        return listWallets(this.o.store, req.after, req.limit);
      case 'wallet':
        return describeWallet(this.lifecycle, req.walletId);
      case 'archive':
        return this.archive(req.walletId, req.reason, coordinator);
      case 'reconciled':
        return this.reconciled(req.wallets);
      case 'confirmation': {
        // our own signed confirmation of the run whose successor we hold pending (public: it is broadcast in the run)
        const p = await this.lifecycle.pending(req.scope);
        p?.parts[1]?.fill(0);
        if (!p?.confirmation)
          throw new RpcError('no-confirmation', 'no pending state with a stored confirmation for this scope');
        return {
          protocol: p.protocol,
          epoch: p.epoch,
          sid: hex(p.sid),
          envelope: Buffer.from(p.confirmation).toString('base64'),
        };
      }
      case 'evidence': {
        const e = await this.lifecycle.evidence(req.scope);
        if (!e) throw new RpcError('no-evidence', 'no commit evidence for this scope');
        return {
          protocol: e.protocol,
          epoch: e.epoch,
          envelopes: e.envelopes.map((b) => Buffer.from(b).toString('base64')),
        };
      }
    }
  }

  /**
   * Sign that this node never confirmed run `sid` of `scope` and never will: refused if it holds
   * that run's pending state or committed it; a session of that run still going is cancelled
   * first, and a run that is not going here can never be resumed (sessions live in memory only).
   */
  private async abandon(scope: string, sid: Uint8Array, coordinator: string): Promise<object> {
    // restored from a copy: the tombstones of runs confirmed after the copy are missing, so "never
    // confirmed" cannot be told from "forgot" (restore.ts)
    await this.refuseIfRestored('sign abandonments');
    // A run another coordinator is driving right now is its own (docs/security.md, relay rule 9):
    // another coordinator's resolver sees a pending state at a node that staged first and would
    // otherwise cancel the run here before this node staged. Only a run left idle as long as a
    // superseding prepare waits (its coordinator stopped) is any coordinator's to abandon.
    this.refuseOthersLiveRun(coordinator, 'abandon', (s) => 'session' in s && Buffer.from(s.sid).equals(sid));
    // From this instant no start and no stage of this run passes (the stage checks under the
    // scope's lock). Nothing durable is written: a run no open session here can derive is one this
    // node can never confirm, so a made-up sid costs a bounded, expiring entry and no disk.
    this.rememberAbandoned(hex(sid));
    for (const [id, s] of this.sessions) {
      if ('session' in s && s.scope === scope && Buffer.from(s.sid).equals(sid)) {
        s.session.cancel();
        this.sessions.delete(id);
      }
    }
    // the tombstone: a confirmed run whose records were archived since, or a run of another scope
    // (its confirmation beside an abandonment under this scope would read as a lie)
    if ((await this.lifecycle.confirmed(scope, sid)) || (await this.seen.wasConfirmed(scope, sid)))
      throw new RpcError('confirmed', 'this node confirmed that run: it can only be committed');
    const signature = sign(null, abandonmentDigest(scope, sid), { key: this.o.privateKey, dsaEncoding: 'ieee-p1363' });
    return { by: this.index, signature: signature.toString('hex') };
  }

  /**
   * Refuse (`other-coordinator`) while a session `matches` that another coordinator prepared and
   * has asked or been answered within `supersedeIdleMs`: it is that coordinator's run (docs/security.md,
   * relay rule 9). One left idle that long (its coordinator stopped) is any coordinator's, as for
   * a superseding prepare.
   */
  private refuseOthersLiveRun(coordinator: string, what: string, matches: (s: Pending | Running) => boolean): void {
    const idleSince = performance.now() - (this.o.supersedeIdleMs ?? 60_000);
    for (const s of this.sessions.values())
      if (s.owner !== coordinator && s.touched > idleSince && matches(s))
        throw new RpcError(
          'other-coordinator',
          `a run coordinator ${s.owner} is driving: only it may ${what} it until it has been idle`,
        );
  }

  /**
   * The open session `sessionId`, if any, when `coordinator` owns it.
   * @throws RpcError `other-coordinator` if another coordinator's link opened it (it is left as it is)
   */
  private ownSession(sessionId: string, coordinator: string): Pending | Running | undefined {
    const s = this.sessions.get(sessionId);
    if (s && s.owner !== coordinator)
      throw new RpcError(
        'other-coordinator',
        `session ${sessionId} belongs to coordinator ${s.owner}: only it may start, continue or abort it`,
      );
    return s;
  }

  /** Refuse while this node is restored from a copy and not reconciled (restore.ts). */
  private async refuseIfRestored(what: string): Promise<void> {
    const marker = await readRestored(this.o.store);
    if (marker)
      throw new RpcError(
        'restored-unreconciled',
        `this node was restored from a copy (${marker.restoredAt}) and is not reconciled with its peers: it does not ${what}`,
      );
  }

  /**
   * The coordinator found this restored node's committed epochs (aux-info and every wallet in
   * `wallets`) equal to every peer's: the marker is removed. Refused unless `wallets` names every
   * wallet this node holds a share of, so no wallet is left unchecked by a request made for a
   * shorter list.
   */
  private async reconciled(wallets: readonly string[]): Promise<object> {
    if (!(await readRestored(this.o.store))) return { reconciled: false };
    const checked = new Set(wallets);
    const missing = (await this.o.store.list('keyshare')).filter((w) => !checked.has(w));
    if (missing.length > 0)
      throw new RpcError(
        'bad-request',
        `the reconciliation leaves out ${missing.length} wallet(s) this node holds (e.g. ${missing[0]}); the node stays restored`,
      );
    const cleared = await clearRestored(this.o.store);
    if (cleared) {
      this.o.log.warn({ wallets: wallets.length }, 'restored node reconciled with its peers: back in use');
      await this.o.audit?.({ type: 'node.reconciled', wallets: wallets.length });
    }
    return { reconciled: cleared };
  }

  /**
   * Remember an abandoned sid for as long as a session that could derive it is open; refused
   * (retryable) when MAX_ABANDONED such sids are held, so a flood of requests cannot grow memory.
   */
  private rememberAbandoned(sid: string): void {
    let oldest = this.nextSeq;
    for (const s of this.sessions.values()) oldest = Math.min(oldest, s.seq);
    for (const [k, mark] of this.abandoned) if (mark <= oldest) this.abandoned.delete(k);
    if (!this.abandoned.has(sid) && this.abandoned.size >= MAX_ABANDONED)
      throw new RpcError('busy', 'too many abandoned runs held while their sessions may be open; try again later');
    this.abandoned.set(sid, this.nextSeq);
  }

  /**
   * Take a wallet's records out of use (archive.ts): any run of its scope open here is cancelled
   * first, so none can stage or commit it afterwards.
   */
  private async archive(walletId: string, reason: string, coordinator: string): Promise<object> {
    // a committed share is a finished key (every party confirmed it): refuse before cancelling any
    // of its runs (archiveWallet checks again under the scope's lock)
    const current = await this.lifecycle.committed(walletId);
    current?.parts[1]?.fill(0);
    if (current)
      return this.archiveRefused(
        walletId,
        reason,
        new ArchiveRefusedError(
          `${walletId}: a committed key share (epoch ${current.epoch}) is a finished key that every party confirmed; not archived`,
        ),
      );
    // another coordinator's key generation under way is its own: archiving would cancel it here and
    // move a confirmed pending state aside while the others commit (the node left without its share)
    this.refuseOthersLiveRun(
      coordinator,
      'archive',
      (s) => ('session' in s ? s.scope : scopeOf(s.protocol, s.walletId)) === walletId,
    );
    for (const [id, s] of this.sessions) {
      const scope = 'session' in s ? s.scope : scopeOf(s.protocol, s.walletId);
      if (scope !== walletId) continue;
      if ('session' in s) s.session.cancel();
      this.sessions.delete(id);
    }
    let r: Awaited<ReturnType<typeof archiveWallet>>;
    try {
      r = await archiveWallet(
        {
          store: this.o.store,
          lifecycle: this.lifecycle,
          burnPresignatures: (w) => this.burnWhere(async (of) => of === w),
          rememberConfirmed: (w, sid) => this.seen.rememberConfirmed(w, sid),
        },
        walletId,
        reason,
      );
    } catch (e) {
      if (e instanceof ArchiveRefusedError) return this.archiveRefused(walletId, reason, e);
      throw e;
    }
    if (r.archived.length > 0 || r.presignaturesBurnt > 0) {
      this.o.log.warn({ walletId, reason, ...r }, 'wallet records archived (no registered wallet owns them)');
      await this.o.audit?.({
        type: 'wallet.archived',
        walletId,
        reason,
        archived: r.archived,
        presignaturesBurnt: r.presignaturesBurnt,
      });
    }
    return r;
  }

  /** An archive request for a finished key: logged, audited, answered with its code. */
  private async archiveRefused(walletId: string, reason: string, e: ArchiveRefusedError): Promise<never> {
    this.o.log.error(
      { walletId, reason },
      'archiving a committed key share refused: only unfinished runs are archived (is the coordinator registry wrong?)',
    );
    await this.o.audit?.({ type: 'wallet.archive-refused', walletId, reason });
    throw new RpcError(e.code, e.message);
  }

  /**
   * Drop the pending state of run `sid` on the signed abandonments of every other party of the
   * group. One party's is not enough: a party that confirmed the run may still sign one (it lies)
   * after showing its confirmation to some nodes only, which then commit. With every other party's,
   * at least one honest party never confirmed, so no evidence of the run can exist anywhere.
   */
  private async discard(
    scope: string,
    sid: Uint8Array,
    signed: readonly { by: number; signature: string }[],
  ): Promise<object> {
    const abandonments = signed.map((a) => ({ by: a.by, signature: Uint8Array.from(Buffer.from(a.signature, 'hex')) }));
    // a valid abandonment by a party whose confirmation of that very run we hold is proof that it lied
    const held =
      (await this.lifecycle.evidence(scope))?.envelopes.filter((e) => equalBytes(decodeEnvelope(e).sid, sid)) ?? [];
    for (const a of abandonments) {
      const member = this.o.group[a.by];
      if (
        !member ||
        !held.some((e) => decodeEnvelope(e).from === a.by) ||
        !verifyAbandonment(scope, sid, a, member.publicKey)
      )
        continue;
      this.o.log.error(
        { scope, sid: hex(sid), party: member.nodeId },
        'a party signed an abandonment of a run whose confirmation it signed (misbehaviour)',
      );
      await this.o.audit?.({
        type: 'party.misbehaved',
        scope,
        sid: hex(sid),
        party: member.nodeId,
        offence: 'abandoned a run it confirmed',
      });
      throw new RpcError(
        'abandoned-confirmed-run',
        `${member.nodeId} signed an abandonment of a run whose confirmation it signed`,
      );
    }
    const why = checkAbandonments(
      scope,
      sid,
      abandonments,
      this.o.group.map((m) => m.publicKey),
      this.index,
    );
    if (why !== undefined) throw new RpcError('bad-abandonment', why);
    const discarded = await this.lifecycle.discard(scope, sid);
    if (discarded) {
      const by = abandonments.map((a) => (this.o.group[a.by] as GroupMember).nodeId);
      this.o.log.info({ scope, by }, 'pending state dropped on every other party’s signed abandonment');
      await this.o.audit?.({ type: 'state.discarded', scope, sid: hex(sid), by });
    }
    return { discarded };
  }

  /** Commit a pending state on every party's signed confirmation (sent by the coordinator). */
  private async finalize(scope: string, envelopes: readonly string[]): Promise<object> {
    const bytes = envelopes.map((e) => Uint8Array.from(Buffer.from(e, 'base64')));
    const p = await this.lifecycle.pending(scope);
    const protocol = p?.protocol ?? (await this.lifecycle.evidence(scope))?.protocol;
    try {
      const committed = await this.lifecycle.commit(scope, bytes);
      const result = this.committedResult(
        scope,
        protocol as LifecycleProtocol,
        committed.epoch,
        committed.parts as [Uint8Array, Uint8Array],
      );
      committed.parts[1]?.fill(0);
      this.o.log.info({ scope, epoch: committed.epoch }, 'pending state committed on evidence');
      await this.o.audit?.({
        type: 'state.committed',
        scope,
        protocol: protocol ?? null,
        epoch: committed.epoch,
        via: 'finalize',
      });
      return { result };
    } catch (e) {
      if (e instanceof CommitError) throw new RpcError(e.code, e.message);
      throw e;
    }
  }

  /** The public description of a committed state (as a session reports it). */
  private committedResult(
    scope: string,
    protocol: LifecycleProtocol,
    epoch: number,
    [pub, secret]: [Uint8Array, Uint8Array],
  ): SessionResult {
    if (scope === AUX_SCOPE) {
      const aux = decodeAuxInfo(pub, secret);
      // the old aux-info's secret is dropped now (not kept until the next use); re-read on demand
      this.aux = undefined;
      this.auxLoaded = false;
      // and by the node's other protocol workers, which cached it too (after the commit is stored)
      if (this.o.auxGeneration) Atomics.add(this.o.auxGeneration, 0, 1);
      return { protocol: 'aux', auxId: hex(auxId(aux)) };
    }
    const share = decodeKeyShare(pub, secret);
    const publicKey = hex(pointToBytes(share.public.Y));
    if (protocol === 'keygen') return { protocol: 'keygen', walletId: scope, publicKey };
    return { protocol: protocol === 'reshare' ? 'reshare' : 'refresh', walletId: scope, publicKey, epoch };
  }

  private async info(): Promise<object> {
    const aux = await this.loadAux();
    const info: Record<string, unknown> = {
      nodeId: this.o.nodeId,
      index: this.index,
      primesReady: this.o.primes.ready,
      wallets: (await this.o.store.list('keyshare')).length,
      // left out when 1 (what its absence means): a coordinator older than the field refuses an
      // `info` carrying it (infoSchema is strict), so a node upgraded first still serves it
      ...(this.o.workers === undefined || this.o.workers === 1 ? {} : { workers: this.o.workers }),
    };
    if (aux) {
      info.auxId = aux.id;
      info.auxEpoch = aux.epoch;
    }
    const pending = await this.lifecycle.pending(AUX_SCOPE);
    if (pending) {
      pending.parts[1]?.fill(0);
      info.auxPending = pending.epoch;
      info.auxPendingSid = hex(pending.sid);
    }
    // wallet scopes waiting for their commit or an abandonment: the coordinator's resolver finishes or drops them
    const scopes = (await this.o.store.list('pending')).filter((sc) => sc !== AUX_SCOPE).sort();
    if (scopes.length > MAX_PENDING_SCOPES) {
      // a window that moves on at every answer: scopes stuck for good (a party withholding its
      // confirmation) never keep the ones behind them from being reported and resolved
      const from = this.pendingWindow % scopes.length;
      this.pendingWindow = from + MAX_PENDING_SCOPES;
      info.pendingScopes = [...scopes.slice(from), ...scopes.slice(0, from)].slice(0, MAX_PENDING_SCOPES);
    } else if (scopes.length > 0) info.pendingScopes = scopes;
    if (await readRestored(this.o.store)) info.restored = true;
    return info;
  }

  /**
   * Everything that decides whether this node can take the session is checked before the first
   * await, and the session id is then held by a placeholder at once: an `abort` arriving while the
   * rest of `prepare` awaits the store removes it, and the prepare then fails instead of leaving a
   * session nobody will start (holding the scope and a slot for the whole TTL). A session id that
   * was aborted before its prepare arrived is refused.
   */
  private async prepare(req: Extract<Request, { method: 'prepare' }>, owner: string): Promise<object> {
    const ids = this.o.group.map((m) => m.nodeId);
    if (req.parties.length !== ids.length || req.parties.some((p, k) => p !== ids[k]))
      throw new RpcError('bad-parties', 'party list differs from this node’s configuration');
    if (this.sessions.has(req.sessionId)) throw new RpcError('duplicate-session', 'session id in use');
    if (this.aborted.has(abortKey(owner, req.sessionId))) throw new RpcError('aborted', 'this session was aborted');
    if (this.sessions.size >= (this.o.maxSessions ?? 64)) throw new RpcError('busy', 'too many open sessions');
    const all = ids.map((_, k) => k);
    let participants: number[] = all;
    const needWallet = req.protocol !== 'aux';
    if (needWallet !== (req.walletId !== undefined))
      throw new RpcError('bad-request', needWallet ? 'walletId required' : 'walletId not allowed');
    if ((req.protocol === 'presign') !== (req.signers !== undefined))
      throw new RpcError('bad-request', 'signers required for presign only');
    if ((req.protocol === 'reshare') !== (req.reshare !== undefined))
      throw new RpcError('bad-request', 'a reshare setup is required for reshare only');
    const reshare = req.reshare ? this.reshareSetup(req.reshare) : undefined;
    if (req.auxEpoch !== undefined && req.protocol !== 'aux')
      throw new RpcError('bad-request', 'an aux epoch is for aux-info runs only');
    if (req.protocol === 'aux' && this.o.runsAux === false)
      throw new RpcError('busy', 'aux-info runs on another protocol worker of this node');
    if (req.protocol === 'aux' && this.o.primes.ready < 4)
      throw new RpcError('primes-not-ready', `safe primes not ready (${this.o.primes.ready}/4)`);
    const walletId = req.walletId;
    if (req.signers) {
      const S = req.signers;
      const sorted = S.every((j, k) => k === 0 || j > (S[k - 1] as number));
      if (!sorted || S.some((j) => j >= ids.length) || S.length < this.o.threshold)
        throw new RpcError('bad-signers', 'signers must be sorted, distinct, known and at least t');
      participants = S;
    }
    if (!participants.includes(this.index)) throw new RpcError('not-a-participant', 'this node is not a participant');
    const scope = scopeOf(req.protocol, walletId);
    // one run per scope at a time: two interleaved runs could each gather every confirmation. A
    // wallet's run left idle by a coordinator that died gives way to a new one (see `supersede`),
    // whichever coordinator asks: so another coordinator can take the wallet over.
    const superseded: string[] = [];
    if (scope !== undefined) {
      const idleSince = performance.now() - (this.o.supersedeIdleMs ?? 60_000);
      for (const [id, s] of this.sessions) {
        const other = 'session' in s ? s.scope : scopeOf(s.protocol, s.walletId);
        if (other !== scope) continue;
        if (scope === AUX_SCOPE || s.touched > idleSince)
          throw new RpcError('busy', 'another run of this scope is open');
        superseded.push(id);
      }
    }
    const placeholder: Pending = {
      owner,
      protocol: req.protocol,
      participants,
      walletId,
      nonce: '',
      state: '',
      request: req,
      touched: performance.now(),
      preparing: true,
      seq: this.nextSeq++,
    };
    this.sessions.set(req.sessionId, placeholder);
    try {
      // restored from a copy: its epochs may be older than its peers' and its tombstones are incomplete
      await this.refuseIfRestored('take part in sessions');
      if (req.protocol !== 'aux' && !(await this.loadAux())) throw new RpcError('no-aux', 'aux-info not made yet');
      if (req.protocol === 'keygen' && walletId && (await this.o.store.has('keyshare', walletId)))
        throw new RpcError('wallet-exists', 'wallet already exists');
      if (
        (req.protocol === 'presign' || req.protocol === 'refresh') &&
        walletId &&
        !(await this.o.store.has('keyshare', walletId))
      )
        throw new RpcError('unknown-wallet', 'no such wallet');
      if (req.protocol === 'presign' && walletId) await this.assertFresh(walletId);
      if (reshare && walletId) await this.assertReshareable(walletId, reshare);
      if (req.protocol === 'aux') await this.nextAuxEpoch(req.auxEpoch);
      if (scope !== undefined) await this.supersede(scope, superseded);
      const nonce = randomBytes(32).toString('hex');
      const state = await this.stateFingerprint(req.protocol, walletId, reshare, req.auxEpoch);
      if (this.sessions.get(req.sessionId) !== placeholder)
        throw new RpcError('aborted', 'this session was aborted while it was being prepared');
      const sessionKey = newSessionKey(
        { protocol: req.protocol, sessionId: req.sessionId },
        this.index,
        this.o.nodeId,
        nonce,
        this.o.privateKey,
      );
      this.sessions.set(req.sessionId, {
        owner,
        protocol: req.protocol,
        participants,
        walletId,
        nonce,
        state,
        sessionKey,
        request: req,
        touched: performance.now(),
        seq: placeholder.seq,
      });
      return { nonce, state, sessionKey: sessionKey.answer };
    } catch (e) {
      if (this.sessions.get(req.sessionId) === placeholder) this.sessions.delete(req.sessionId);
      throw e;
    }
  }

  /**
   * Refuse a new run of `scope` while a run's successor awaits its commit or abandonment; else
   * cancel the idle runs `superseded` of it. Under the scope's lock, so a stage is either stored
   * before (and the new run refused: the old one may have confirmed, and only the resolver may
   * finish or drop it) or refused after (its session no longer runs). A run that staged nothing
   * confirmed nothing, so no party can commit it: cancelling it loses nothing but that run.
   */
  private supersede(scope: string, superseded: readonly string[]): Promise<void> {
    return this.lifecycle.exclusive(scope, async () => {
      const p = await this.lifecycle.pending(scope);
      if (p)
        throw new RpcError(
          'pending-unresolved',
          `a run of this scope awaits its commit or an abandonment (sid ${hex(p.sid)})`,
        );
      for (const id of superseded) {
        const s = this.sessions.get(id);
        if (!s) continue;
        if ('session' in s) s.session.cancel();
        this.sessions.delete(id);
        this.rememberAborted(s.owner, id);
        this.o.log.warn({ sessionId: id, scope }, 'an idle run of this wallet gave way to a new one');
      }
    });
  }

  /** Remember an aborted session id (bounded, expiring) so a prepare arriving after its abort is refused. */
  private rememberAborted(coordinator: string, sessionId: string): void {
    const now = performance.now();
    const key = abortKey(coordinator, sessionId);
    this.aborted.delete(key);
    this.aborted.set(key, now + (this.o.sessionTtlMs ?? DEFAULT_SESSION_TTL_MS));
    for (const [id, until] of this.aborted) {
      if (this.aborted.size <= MAX_ABORTED && until > now) break;
      this.aborted.delete(id); // oldest first: insertion order
    }
  }

  /**
   * Presigning needs a key share refreshed under the committed aux-info: after an aux-info commit
   * (a rotation) the share must move too before any presignature is made with the new Paillier
   * keys (lifecycle.ts). The coordinator refreshes the wallet on this refusal and retries.
   */
  private async assertFresh(walletId: string): Promise<Share> {
    const s = await this.loadShare(walletId);
    const aux = await this.loadAux();
    if (aux && s.auxEpoch < aux.epoch)
      throw new RpcError(
        'share-stale',
        `the key share predates the committed aux-info (share made under aux epoch ${s.auxEpoch}, aux epoch ${aux.epoch}): refresh the wallet first`,
      );
    return s;
  }

  /**
   * The epoch a new aux-info takes here: the one the coordinator names for the run (a group change:
   * a node without aux-info joins at the group's next epoch, so every node's aux epoch stays the
   * same), which must follow this node's own; by default its own next one.
   */
  private async nextAuxEpoch(requested: number | undefined): Promise<number> {
    const current = (await this.loadAux())?.epoch;
    const own = (current ?? 0) + 1;
    if (requested === undefined) return own;
    if (current !== undefined && requested !== own)
      throw new RpcError('state-mismatch', `the new aux epoch must follow this node's (${own})`);
    return requested;
  }

  /** A reshare request's setup, decoded and checked against this node's group (docs/security.md A19). */
  private reshareSetup(setup: ReshareSetup): DecodedReshare {
    try {
      return decodeReshareSetup(setup, this.o.group.length, this.o.threshold);
    } catch (e) {
      throw new RpcError('bad-request', `reshare: ${(e as Error).message}`);
    }
  }

  /**
   * This node may take part in a resharing of the wallet: a dealer holds exactly the old key the
   * setup describes, at its old index, and the new epoch follows its own; any node already holding a
   * share of the wallet holds the same key, at an older epoch (the reshare replaces it).
   */
  private async assertReshareable(walletId: string, setup: DecodedReshare): Promise<void> {
    const held = await this.heldShare(walletId);
    const role = setup.roles[this.index] as ReshareRole;
    if (role.old !== undefined) {
      const p = held?.share.public;
      if (!held || !p) throw new RpcError('unknown-wallet', 'this node deals but holds no share of the wallet');
      const { old } = setup;
      if (p.i !== role.old || p.n !== old.n || p.t !== old.t || p.X.some((X, j) => !X.equals(old.X[j] as Point)))
        throw new RpcError('state-mismatch', 'the old key in the request is not the one this node holds');
      if (held.epoch + 1 !== setup.epoch)
        throw new RpcError('state-mismatch', `a dealer's new epoch is its own plus one (${held.epoch + 1})`);
    }
    if (held && !held.share.public.Y.equals(setup.old.Y))
      throw new RpcError('wallet-exists', 'this node holds another key under this wallet id');
    if (held && held.epoch >= setup.epoch)
      throw new RpcError('state-mismatch', `the new epoch must follow this node's (${held.epoch})`);
  }

  /** The wallet's committed share whatever group it was made in (undefined: none), secret zeroed by the caller's scope. */
  private async heldShare(walletId: string): Promise<{ share: KeyShare; epoch: number } | undefined> {
    const c = await this.lifecycle.committed(walletId);
    if (!c) return undefined;
    const [pub, secret] = c.parts as [Uint8Array, Uint8Array];
    const share = decodeKeyShare(pub, secret);
    secret.fill(0);
    return { share, epoch: c.epoch };
  }

  /**
   * What the session's participants must hold alike, hashed: the aux-info (by content) for every
   * protocol but aux, for refresh and presign the wallet's key share epoch and public data, and for
   * reshare the run's setup (roles, old key, new epoch).
   * Compared before any proof, so signers on different states abort as a mismatch instead of
   * blaming each other for failing proofs.
   */
  private async stateFingerprint(
    protocol: ProtocolName,
    walletId: string | undefined,
    reshare?: DecodedReshare,
    auxEpoch?: number,
  ): Promise<string> {
    const aux = protocol === 'aux' ? undefined : ((await this.loadAux())?.id ?? '');
    // an aux-info run: every party commits the same epoch (a node joining the group takes the group's)
    const nextAux = protocol === 'aux' ? await this.nextAuxEpoch(auxEpoch) : undefined;
    const share =
      protocol === 'refresh' || protocol === 'presign' ? await this.loadShare(walletId as string) : undefined;
    return hex(
      stateFingerprint({
        protocol,
        ...(aux === undefined ? {} : { auxId: aux }),
        ...(share ? { share: { epoch: share.epoch, public: share.share.public } } : {}),
        ...(reshare ? { reshare } : {}),
        ...(nextAux === undefined ? {} : { auxEpoch: nextAux }),
      }),
    );
  }

  private async start(
    sessionId: string,
    nonces: readonly string[],
    states: readonly string[],
    sessionKeys: readonly SessionKeyAnswer[],
    coordinator: string,
  ): Promise<SessionUpdate> {
    const p = this.ownSession(sessionId, coordinator);
    if (!p || 'session' in p || p.preparing || p.starting || !p.sessionKey)
      throw new RpcError('unknown-session', 'no prepared session with this id');
    if (nonces.length !== p.participants.length || nonces[p.participants.indexOf(this.index)] !== p.nonce)
      throw new RpcError('bad-nonces', 'nonces do not include ours at our position');
    const keys = checkSessionKeys(
      { protocol: p.protocol, sessionId },
      sessionKeys,
      p.participants,
      nonces,
      this.o.group,
      this.index,
      p.sessionKey.answer,
    );
    if (typeof keys === 'string') throw new RpcError('bad-session-keys', keys);
    if (states.length !== nonces.length || states.some((s) => s !== p.state)) {
      this.sessions.delete(sessionId);
      throw new RpcError('state-mismatch', 'participants hold different states (epochs, aux-info or key share)');
    }
    const r = p.request;
    const sid = deriveSessionId({
      protocol: p.protocol,
      sessionId,
      parties: r.parties,
      walletId: p.walletId,
      participants: p.participants,
      nonces,
      state: p.state,
      sessionKeys: sessionKeys.map((k) => k.key),
    });
    // from here on this start owns the prepared session: a concurrent second start must not reach
    // newSession (an aux-info run would take, and so spend, four more safe primes)
    p.starting = true;
    if (this.abandoned.has(hex(sid))) {
      this.sessions.delete(sessionId);
      throw new RpcError('abandoned', 'this node signed an abandonment of this run');
    }
    await this.seen.rememberSid(sid);
    const session = await this.newSession(p, sid, keys);
    // the state the session loaded must still be the one fingerprinted at prepare (a commit in between)
    const setup = p.request.reshare ? this.reshareSetup(p.request.reshare) : undefined;
    if ((await this.stateFingerprint(p.protocol, p.walletId, setup, r.auxEpoch)) !== p.state) {
      session.cancel();
      if (this.sessions.get(sessionId) === p) this.sessions.delete(sessionId);
      throw new RpcError('state-mismatch', 'the state changed between prepare and start');
    }
    // while this start awaited, an abort or the idle timeout may have removed the prepared session
    // (and with it the only reason `abandoned` kept an abandonment of this run): it is not revived
    if (this.sessions.get(sessionId) !== p || this.abandoned.has(hex(sid))) {
      session.cancel();
      if (this.sessions.get(sessionId) === p) this.sessions.delete(sessionId);
      throw new RpcError('aborted', 'the session was aborted or its run abandoned while it was being started');
    }
    const running: Running = {
      owner: p.owner,
      session,
      scope: scopeOf(p.protocol, p.walletId),
      sid,
      touched: performance.now(),
      seq: p.seq,
    };
    this.sessions.set(sessionId, running);
    const update = await session.start();
    // idle from its first answer, not from the request: a long first round is not idleness (`supersede`)
    running.touched = performance.now();
    if (update.status !== 'running') this.sessions.delete(sessionId);
    return update;
  }

  private async deliver(sessionId: string, envelopes: readonly string[], coordinator: string): Promise<SessionUpdate> {
    const s = this.ownSession(sessionId, coordinator);
    if (!s || !('session' in s)) throw new RpcError('unknown-session', 'no running session with this id');
    s.touched = performance.now();
    const update = await s.session.deliver(envelopes.map((e) => Uint8Array.from(Buffer.from(e, 'base64'))));
    // idle from its last answer, not from the request: a long round is not idleness (`supersede`)
    s.touched = performance.now();
    if (update.status !== 'running') {
      this.sessions.delete(sessionId);
      if (update.status === 'aborted')
        this.o.log.warn(
          { sessionId, culprits: update.abort?.culprits, code: update.abort?.code, reason: update.abort?.reason },
          'session aborted',
        );
    }
    return update;
  }

  private parties(indices: readonly number[]): PartyIdentity[] {
    return indices.map((index) => {
      const m = this.o.group[index] as GroupMember;
      return { index, nodeId: m.nodeId, publicKey: m.publicKey };
    });
  }

  private async newSession(
    p: Pending,
    sid: Uint8Array,
    sessionKeys: readonly KeyObject[],
  ): Promise<NodeSession<unknown>> {
    const n = this.o.group.length;
    const i = this.index;
    const L = this.L;
    const base = {
      protocol: p.protocol,
      sid,
      parties: this.parties(p.participants),
      me: i,
      privateKey: this.o.privateKey,
      sessionKeys,
      sessionKey: p.sessionKey as SessionKeyPair,
    };
    const walletId = p.walletId as string;
    const make = <O>(
      begin: () => Step<O>,
      finish: (o: O, evidence: readonly Uint8Array[] | undefined) => Promise<SessionResult>,
      stage?: (
        o: O,
        c: { round: string; c: Uint8Array; envelope: Uint8Array | undefined; live: () => boolean },
      ) => Promise<void>,
    ) => new NodeSession<O>({ ...base, begin, finish, ...(stage ? { stage } : {}) }) as unknown as NodeSession<unknown>;
    // aux, keygen, refresh: stage as pending before confirming, commit on every party's confirmation
    // baseEpoch: the committed epoch the run starts from (undefined: none); epoch: the successor's
    // auxEpoch (keygen, refresh): the aux-info epoch the run binds (its id is in the state fingerprint);
    // recorded with the share, and the stage is refused if the aux-info committed a newer one since
    const lifecycle = <O>(
      scope: string,
      protocol: LifecycleProtocol,
      baseEpoch: number | undefined,
      epoch: number,
      parts: (o: O) => Uint8Array[],
      auxEpoch?: number,
    ) => ({
      stage: (o: O, c: { round: string; c: Uint8Array; envelope: Uint8Array | undefined; live: () => boolean }) =>
        this.lifecycle.stage(
          scope,
          {
            protocol,
            sid,
            round: c.round,
            c: c.c,
            epoch,
            ...(auxEpoch === undefined ? {} : { auxEpoch }),
            parts: parts(o),
            ...(c.envelope ? { confirmation: c.envelope } : {}),
          },
          baseEpoch,
          // a session cancelled (an abandonment, an abort) while its stage waited for the lock stores
          // nothing: it may be out of `sessions` already, so its sid may be forgotten by `abandoned`
          () => c.live() && !this.abandoned.has(hex(sid)),
        ),
      finish: async (_o: O, evidence: readonly Uint8Array[] | undefined): Promise<SessionResult> => {
        const committed = await this.lifecycle.commit(scope, evidence ?? []);
        await this.o.audit?.({ type: 'state.committed', scope, protocol, epoch: committed.epoch, via: 'session' });
        try {
          return this.committedResult(scope, protocol, committed.epoch, committed.parts as [Uint8Array, Uint8Array]);
        } finally {
          committed.parts[1]?.fill(0);
        }
      },
    });
    switch (p.protocol) {
      case 'aux': {
        const current = await this.loadAux();
        const [pp, qq, ph, qh] = (await this.o.primes.take()) as [bigint, bigint, bigint, bigint];
        const epoch = await this.nextAuxEpoch(p.request.auxEpoch);
        const l = lifecycle<AuxInfo>(AUX_SCOPE, 'aux', current?.epoch, epoch, (aux) => [
          encodeAuxPublic(aux),
          encodeAuxSecret(aux),
        ]);
        return make(
          () =>
            startAuxInfo({
              sid,
              n,
              i,
              L,
              paillier: { p: pp, q: qq },
              ringPedersen: ringPedersenFromPrimes(ph, qh, { checkPrimes: false }),
            }),
          l.finish,
          // the primes left the store when taken (primes.ts): a revealed modulus is never presented again
          l.stage,
        );
      }
      case 'keygen': {
        const auxEpoch = (await this.loadAux())?.epoch as number; // prepare refused a node without aux-info
        const l = lifecycle<KeyShare>(
          walletId,
          'keygen',
          undefined,
          0,
          (share) => [encodePublicKeyShare(share.public), encodeSecretKeyShare(share.secret)],
          auxEpoch,
        );
        return make(() => startKeygen({ sid, n, t: this.o.threshold, i }), l.finish, l.stage);
      }
      case 'refresh': {
        const { share, epoch } = await this.loadShare(walletId);
        const auxEpoch = (await this.loadAux())?.epoch as number;
        const l = lifecycle<KeyShare>(
          walletId,
          'refresh',
          epoch,
          epoch + 1,
          (fresh) => [encodePublicKeyShare(fresh.public), encodeSecretKeyShare(fresh.secret)],
          auxEpoch,
        );
        return make(() => startRefresh({ sid, share }), l.finish, l.stage);
      }
      case 'reshare': {
        const setup = this.reshareSetup(p.request.reshare as ReshareSetup);
        const held = await this.heldShare(walletId);
        const dealer = setup.roles[i]?.old !== undefined;
        const auxEpoch = (await this.loadAux())?.epoch as number;
        const l = lifecycle<ReshareOutput>(
          walletId,
          'reshare',
          held?.epoch,
          setup.epoch,
          // every node of the group receives (decodeReshareSetup): the output has its share
          ({ share }) => [
            encodePublicKeyShare((share as KeyShare).public),
            encodeSecretKeyShare((share as KeyShare).secret),
          ],
          auxEpoch,
        );
        const params = { sid, roles: setup.roles, me: i, old: setup.old, n: setup.n, t: setup.t };
        return make(() => startReshare(dealer && held ? { ...params, share: held.share } : params), l.finish, l.stage);
      }
      case 'presign': {
        const { share: key, epoch: shareEpoch } = await this.assertFresh(walletId);
        const aux = (await this.loadAux()) as NonNullable<NodeService['aux']>;
        const epochs: PresigEpochs = { share: shareEpoch, aux: aux.epoch };
        return make(
          () => startPresign({ sid, signers: p.participants, key, aux: aux.aux, L }),
          async (ps: Presignature) => {
            const pub = encodePresignaturePublic(ps.pub);
            // stored only while its epochs are still the committed ones: a commit burns older presignatures
            await this.lifecycle.exclusive(AUX_SCOPE, () =>
              this.lifecycle.exclusive(walletId, async () => {
                const share = await this.lifecycle.committed(walletId);
                share?.parts[1]?.fill(0);
                const auxNow = await this.lifecycle.committed(AUX_SCOPE);
                auxNow?.parts[1]?.fill(0);
                if (share?.epoch !== epochs.share || auxNow?.epoch !== epochs.aux)
                  throw new Error('the key share or aux-info was replaced during presigning');
                await this.presigs.save(
                  hex(ps.id),
                  pack(
                    new TextEncoder().encode(walletId),
                    pub,
                    encodePresignatureSecret(ps),
                    encodePresigEpochs(epochs),
                  ),
                );
              }),
            );
            return { protocol: 'presign', walletId, presignature: Buffer.from(pub).toString('base64') };
          },
        );
      }
    }
  }

  /** beforeSwitch: burn (durably mark used) every presignature made under an epoch of `scope` older than `epoch`. */
  private async burnPresignatures(scope: string, epoch: number): Promise<void> {
    const burnt = await this.burnWhere(async (walletId, e) =>
      scope === AUX_SCOPE ? e.aux < epoch : walletId === scope && e.share < epoch,
    );
    if (burnt > 0) {
      this.o.log.info({ scope, epoch, burnt }, 'presignatures of the previous epoch destroyed');
      await this.o.audit?.({ type: 'presignatures.burnt', scope, epoch, count: burnt });
    }
  }

  private async burnWhere(stale: (walletId: string, e: PresigEpochs) => Promise<boolean>): Promise<number> {
    let burnt = 0;
    for (const id of await this.o.store.list('presig')) {
      let rec: Uint8Array | undefined;
      try {
        rec = await this.o.store.get('presig', id);
      } catch {
        // unreadable now (a KMS outage?) but perhaps not later: burn it; if even that fails, the
        // commit fails and is retried, rather than leave a presignature that might sign later
        if (await this.burn(id)) burnt++;
        continue;
      }
      if (!rec) continue;
      const [w, , secret, e] = unpackVersioned(rec, 4, 'presignature') as [
        Uint8Array,
        Uint8Array,
        Uint8Array,
        Uint8Array | undefined,
      ];
      secret.fill(0);
      rec.fill(0);
      if (!(await stale(new TextDecoder().decode(w), decodePresigEpochs(e)))) continue;
      if (await this.burn(id)) burnt++;
    }
    return burnt;
  }

  /**
   * Mark one presignature used and delete its secret. True if this call marked it; a marker that
   * already existed (its secret left behind by a failed deletion) gets the deletion retried. A
   * secret that still cannot be deleted is logged: it refuses every use, and the start's sweep
   * tries again.
   */
  private async burn(id: string): Promise<boolean> {
    const { marked, deleted } = await this.presigs.burn(id);
    if (!deleted)
      this.o.log.error(
        { presigId: id },
        'the secret of a burnt presignature could not be deleted (it can never sign; retried at the next burn or start)',
      );
    return marked;
  }

  /**
   * σ_i for one digest: validate, durably mark the presignature used, then compute (docs/security.md A10). The
   * record is read once; the wallet is checked before anything is marked. The stored secret's
   * deletion runs after the answer (the durable marker already refuses any other use).
   */
  private async sign(walletId: string, presignatureId: string, digestHex: string): Promise<object> {
    let loaded = false;
    let parts: Uint8Array[] = [];
    let claimed: Claimed;
    try {
      claimed = await this.presigs.claim(presignatureId, (record) => {
        loaded = true;
        parts = unpackVersioned(record, 4, 'presignature');
        if (new TextDecoder().decode(parts[0]) !== walletId)
          throw new RpcError('wrong-wallet', 'presignature belongs to another wallet');
      });
    } catch (e) {
      for (const p of parts) p.fill(0);
      if (e instanceof PresignatureUsedError || loaded) throw e;
      throw new RpcError('unknown-presignature', 'no such presignature');
    }
    void claimed.deleted.then((deleted) => {
      if (!deleted)
        this.o.log.warn(
          { presignatureId },
          'used presignature: its stored secret could not be deleted (sweep removes it)',
        );
    });
    try {
      const [, pub, secret] = parts as [Uint8Array, Uint8Array, Uint8Array];
      const partial = decodePresignature(pub, secret)
        .consume()
        .sign(Uint8Array.from(Buffer.from(digestHex, 'hex')));
      await this.o.audit?.({ type: 'signature.partial', walletId, presignatureId, digest: digestHex });
      return {
        signer: partial.signer,
        sigma: partial.sigma.toString(16).padStart(64, '0'),
        presignature: bytesToHex(sha256(pub)),
      };
    } finally {
      claimed.secret.fill(0);
      for (const p of parts) p.fill(0);
    }
  }

  private async loadShare(walletId: string): Promise<Share> {
    const c = await this.lifecycle.committed(walletId);
    if (!c) throw new RpcError('unknown-wallet', 'no such wallet');
    const [pub, secret] = c.parts as [Uint8Array, Uint8Array];
    const share = decodeKeyShare(pub, secret);
    secret.fill(0);
    if (share.public.i !== this.index || share.public.n !== this.o.group.length)
      throw new RpcError('bad-share', 'stored key share does not match this node');
    return { share, epoch: c.epoch, auxEpoch: c.auxEpoch ?? LEGACY_EPOCH.shareAux };
  }

  private async loadAux(): Promise<NodeService['aux']> {
    // read before the record: a commit stored after this read bumps it again, so it is seen next time
    const generation = this.o.auxGeneration ? Atomics.load(this.o.auxGeneration, 0) : 0;
    if (!this.auxLoaded || generation !== this.auxSeen) {
      this.aux = undefined;
      this.auxSeen = generation;
      const c = await this.lifecycle.committed(AUX_SCOPE);
      if (c) {
        const [pub, secret] = c.parts as [Uint8Array, Uint8Array];
        const aux = decodeAuxInfo(pub, secret);
        secret.fill(0);
        this.aux = { aux, epoch: c.epoch, id: hex(auxId(aux)) };
      }
      this.auxLoaded = true;
    }
    return this.aux;
  }

  /** Whether a session of this id is open here (prepared or running). */
  hasSession(sessionId: string): boolean {
    return this.sessions.has(sessionId);
  }

  /**
   * Drop sessions idle longer than the TTL (the coordinator died or gave up). Runs at every
   * request, and on a timer in a protocol worker, which may get no request for a long while.
   */
  expire(): void {
    const cutoff = performance.now() - (this.o.sessionTtlMs ?? DEFAULT_SESSION_TTL_MS);
    for (const [id, s] of this.sessions) {
      if (s.touched < cutoff) {
        if ('session' in s) s.session.cancel();
        this.sessions.delete(id);
      }
    }
  }
}
