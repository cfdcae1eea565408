/**
 * A node's request handler for the coordinator protocol (src/rpc/messages.ts). Every request is
 * validated before use; the coordinator is not an authority (SECURITY.md d.6): the node checks the
 * party list against its own configuration, its own position and nonce, the wallet and signer set
 * against its key share, and refuses any session id it has seen before (transcript rule 6).
 *
 * Outputs are stored durably, encrypted under the node's KMS, before the node reports a session
 * done; a presignature is durably marked used before its partial signature leaves the node.
 * @module
 */
import { createHash, randomBytes, type KeyObject } from 'node:crypto';
import type { Logger } from 'pino';
import { z } from 'zod';
import { startAuxInfo } from '../protocol/aux/index.js';
import { startKeygen, startRefresh } from '../protocol/keygen/index.js';
import { startPresign, type Presignature } from '../protocol/presign/index.js';
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
import { ringPedersenFromPrimes } from '../paillier/ring-pedersen.js';
import { SECURITY_128, type SecurityParams } from '../zk/params.js';
import { Transcript } from '../zk/transcript.js';
import { pointToBytes } from '../curve/secp256k1.js';
import { RPC_VERSION, decodeJson, encodeJson, requestSchema, type ProtocolName, type Request, type SessionResult, type SessionUpdate } from '../rpc/messages.js';
import type { PartyIdentity } from '../transport/envelope.js';
import type { RecordStore } from './storage/store.js';
import { Presignatures, SeenSessions, type Claimed } from './storage/presignatures.js';
import { PresignatureUsedError, SessionReplayError } from './storage/errors.js';
import { NodeSession } from './session.js';
import { PrimeSource } from './primes.js';
import { AUX_RECORD, auxId, hex, pack, unpack } from './records.js';

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
}

/** An error answered to the coordinator (code + message; never a secret). */
export class RpcError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

interface Pending {
  readonly protocol: ProtocolName;
  readonly participants: readonly number[];
  readonly walletId: string | undefined;
  readonly nonce: string;
  readonly request: Extract<Request, { method: 'prepare' }>;
  touched: number;
}

interface Running {
  readonly session: NodeSession<unknown>;
  touched: number;
}

const SESSION_TAG = 'mpc-engine/v1/session';

export class NodeService {
  readonly index: number;
  private readonly L: SecurityParams;
  private readonly presigs: Presignatures;
  private readonly seen: SeenSessions;
  private readonly sessions = new Map<string, Pending | Running>();
  private aux: AuxInfo | undefined;
  private auxLoaded = false;

  constructor(private readonly o: NodeServiceOptions) {
    const index = o.group.findIndex((m) => m.nodeId === o.nodeId);
    if (index < 0) throw new RangeError('this node is not in its own group');
    this.index = index;
    this.L = o.L ?? SECURITY_128;
    this.presigs = new Presignatures(o.store);
    this.seen = new SeenSessions(o.store);
  }

  /** Bytes in, bytes out: the transport's request handler. Never throws. */
  async handleBytes(body: Uint8Array): Promise<Uint8Array> {
    let parsed: z.ZodSafeParseResult<Request>;
    try {
      parsed = requestSchema.safeParse(decodeJson(body));
    } catch {
      return encodeJson({ ok: false, code: 'bad-request', error: 'request is not JSON' });
    }
    if (!parsed.success) return encodeJson({ ok: false, code: 'bad-request', error: z.prettifyError(parsed.error).slice(0, 500) });
    try {
      return encodeJson({ ok: true, ...(await this.handle(parsed.data)) });
    } catch (e) {
      if (e instanceof RpcError) return encodeJson({ ok: false, code: e.code, error: e.message });
      if (e instanceof PresignatureUsedError) return encodeJson({ ok: false, code: 'presignature-used', error: 'presignature already used' });
      if (e instanceof SessionReplayError) return encodeJson({ ok: false, code: 'sid-replay', error: 'session id seen before' });
      this.o.log.error({ err: (e as Error).message, method: parsed.data.method }, 'request failed');
      return encodeJson({ ok: false, code: 'internal', error: 'internal error' });
    }
  }

  /** Whether a request should run off the main thread (protocol sessions) or inline (info, sign). */
  static isSessionMethod(method: Request['method']): boolean {
    return method === 'prepare' || method === 'start' || method === 'deliver' || method === 'abort';
  }

  async handle(req: Request): Promise<object> {
    this.expire();
    switch (req.method) {
      case 'info':
        return this.info();
      case 'prepare':
        return this.prepare(req);
      case 'start':
        return this.start(req.sessionId, req.nonces);
      case 'deliver':
        return this.deliver(req.sessionId, req.envelopes);
      case 'abort': {
        const s = this.sessions.get(req.sessionId);
        if (s && 'session' in s) s.session.cancel();
        this.sessions.delete(req.sessionId);
        return {};
      }
      case 'sign':
        return this.sign(req.walletId, req.presignatureId, req.digest);
    }
  }

  private async info(): Promise<object> {
    const aux = await this.loadAux();
    const info: Record<string, unknown> = { nodeId: this.o.nodeId, index: this.index, primesReady: this.o.primes.ready, wallets: (await this.o.store.list('keyshare')).length };
    if (aux) info.auxId = hex(auxId(aux));
    return info;
  }

  private async prepare(req: Extract<Request, { method: 'prepare' }>): Promise<object> {
    const ids = this.o.group.map((m) => m.nodeId);
    if (req.parties.length !== ids.length || req.parties.some((p, k) => p !== ids[k])) throw new RpcError('bad-parties', 'party list differs from this node’s configuration');
    if (this.sessions.has(req.sessionId)) throw new RpcError('duplicate-session', 'session id in use');
    if (this.sessions.size >= (this.o.maxSessions ?? 64)) throw new RpcError('busy', 'too many open sessions');
    const all = ids.map((_, k) => k);
    let participants: number[] = all;
    const needWallet = req.protocol !== 'aux';
    if (needWallet !== (req.walletId !== undefined)) throw new RpcError('bad-request', needWallet ? 'walletId required' : 'walletId not allowed');
    if ((req.protocol === 'presign') !== (req.signers !== undefined)) throw new RpcError('bad-request', 'signers required for presign only');
    if (req.protocol === 'aux') {
      if (this.o.primes.ready < 4) throw new RpcError('primes-not-ready', `safe primes not ready (${this.o.primes.ready}/4)`);
    } else if (!(await this.loadAux())) {
      throw new RpcError('no-aux', 'aux-info not made yet');
    }
    const walletId = req.walletId;
    if (req.protocol === 'keygen' && walletId && (await this.o.store.has('keyshare', walletId))) throw new RpcError('wallet-exists', 'wallet already exists');
    if ((req.protocol === 'presign' || req.protocol === 'refresh') && walletId && !(await this.o.store.has('keyshare', walletId))) throw new RpcError('unknown-wallet', 'no such wallet');
    if (req.signers) {
      const S = req.signers;
      const sorted = S.every((j, k) => k === 0 || j > (S[k - 1] as number));
      if (!sorted || S.some((j) => j >= ids.length) || S.length < this.o.threshold) throw new RpcError('bad-signers', 'signers must be sorted, distinct, known and at least t');
      participants = S;
    }
    if (!participants.includes(this.index)) throw new RpcError('not-a-participant', 'this node is not a participant');
    const nonce = randomBytes(32).toString('hex');
    this.sessions.set(req.sessionId, { protocol: req.protocol, participants, walletId, nonce, request: req, touched: Date.now() });
    return { nonce };
  }

  private async start(sessionId: string, nonces: readonly string[]): Promise<SessionUpdate> {
    const p = this.sessions.get(sessionId);
    if (!p || 'session' in p) throw new RpcError('unknown-session', 'no prepared session with this id');
    if (nonces.length !== p.participants.length || nonces[p.participants.indexOf(this.index)] !== p.nonce) throw new RpcError('bad-nonces', 'nonces do not include ours at our position');
    const r = p.request;
    const sid = new Transcript(SESSION_TAG)
      .text('protocol', p.protocol)
      .text('session', sessionId)
      .byteList('parties', r.parties.map((id) => new TextEncoder().encode(id)))
      .text('wallet', p.walletId ?? '')
      .ints('signers', p.participants.map(BigInt))
      .byteList('nonces', nonces.map((n) => Buffer.from(n, 'hex')))
      .digest('sid');
    await this.seen.rememberSid(sid);
    const session = await this.newSession(p, sid);
    this.sessions.set(sessionId, { session, touched: Date.now() });
    const update = await session.start();
    if (update.status !== 'running') this.sessions.delete(sessionId);
    return update;
  }

  private async deliver(sessionId: string, envelopes: readonly string[]): Promise<SessionUpdate> {
    const s = this.sessions.get(sessionId);
    if (!s || !('session' in s)) throw new RpcError('unknown-session', 'no running session with this id');
    s.touched = Date.now();
    const update = await s.session.deliver(envelopes.map((e) => Uint8Array.from(Buffer.from(e, 'base64'))));
    if (update.status !== 'running') {
      this.sessions.delete(sessionId);
      if (update.status === 'aborted') this.o.log.warn({ sessionId, culprits: update.abort?.culprits, reason: update.abort?.reason }, 'session aborted');
    }
    return update;
  }

  private parties(indices: readonly number[]): PartyIdentity[] {
    return indices.map((index) => {
      const m = this.o.group[index] as GroupMember;
      return { index, nodeId: m.nodeId, publicKey: m.publicKey };
    });
  }

  private async newSession(p: Pending, sid: Uint8Array): Promise<NodeSession<unknown>> {
    const n = this.o.group.length;
    const i = this.index;
    const L = this.L;
    const base = { protocol: p.protocol, sid, parties: this.parties(p.participants), me: i, privateKey: this.o.privateKey };
    const walletId = p.walletId as string;
    const make = <O>(begin: () => Step<O>, finish: (o: O) => Promise<SessionResult>) => new NodeSession<O>({ ...base, begin, finish }) as unknown as NodeSession<unknown>;
    switch (p.protocol) {
      case 'aux': {
        const [pp, qq, ph, qh] = (await this.o.primes.take()) as [bigint, bigint, bigint, bigint];
        return make(
          () => startAuxInfo({ sid, n, i, L, paillier: { p: pp, q: qq }, ringPedersen: ringPedersenFromPrimes(ph, qh, { checkPrimes: false }) }),
          async (aux: AuxInfo) => {
            await this.o.store.put('aux', AUX_RECORD, pack(encodeAuxPublic(aux), encodeAuxSecret(aux)));
            await this.o.primes.consumed();
            this.aux = aux;
            return { protocol: 'aux', auxId: hex(auxId(aux)) };
          },
        );
      }
      case 'keygen':
        return make(
          () => startKeygen({ sid, n, t: this.o.threshold, i }),
          async (share: KeyShare) => {
            // create, not put: a wallet id is never overwritten
            if (!(await this.o.store.create('keyshare', walletId, pack(encodePublicKeyShare(share.public), encodeSecretKeyShare(share.secret))))) {
              throw new Error('wallet already exists');
            }
            return { protocol: 'keygen', walletId, publicKey: hex(pointToBytes(share.public.Y)) };
          },
        );
      case 'refresh': {
        const share = await this.loadShare(walletId);
        return make(
          () => startRefresh({ sid, share }),
          async (fresh: KeyShare) => {
            await this.o.store.put('keyshare', walletId, pack(encodePublicKeyShare(fresh.public), encodeSecretKeyShare(fresh.secret)));
            return { protocol: 'refresh', walletId, publicKey: hex(pointToBytes(fresh.public.Y)) };
          },
        );
      }
      case 'presign': {
        const key = await this.loadShare(walletId);
        const aux = (await this.loadAux()) as AuxInfo;
        return make(
          () => startPresign({ sid, signers: p.participants, key, aux, L }),
          async (ps: Presignature) => {
            const pub = encodePresignaturePublic(ps.pub);
            await this.presigs.save(hex(ps.id), pack(new TextEncoder().encode(walletId), pub, encodePresignatureSecret(ps)));
            return { protocol: 'presign', walletId, presignature: Buffer.from(pub).toString('base64') };
          },
        );
      }
    }
  }

  /**
   * σ_i for one digest: validate, durably mark the presignature used, then compute (A10). The
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
        parts = unpack(record, 3, 'presignature');
        if (new TextDecoder().decode(parts[0]) !== walletId) throw new RpcError('wrong-wallet', 'presignature belongs to another wallet');
      });
    } catch (e) {
      for (const p of parts) p.fill(0);
      if (e instanceof PresignatureUsedError || loaded) throw e;
      throw new RpcError('unknown-presignature', 'no such presignature');
    }
    void claimed.deleted.then((deleted) => {
      if (!deleted) this.o.log.warn({ presignatureId }, 'used presignature: its stored secret could not be deleted (sweep removes it)');
    });
    try {
      const [, pub, secret] = parts as [Uint8Array, Uint8Array, Uint8Array];
      const partial = decodePresignature(pub, secret).consume().sign(Uint8Array.from(Buffer.from(digestHex, 'hex')));
      return { signer: partial.signer, sigma: partial.sigma.toString(16).padStart(64, '0') };
    } finally {
      claimed.secret.fill(0);
      for (const p of parts) p.fill(0);
    }
  }

  private async loadShare(walletId: string): Promise<KeyShare> {
    const rec = await this.o.store.get('keyshare', walletId);
    if (!rec) throw new RpcError('unknown-wallet', 'no such wallet');
    const [pub, secret] = unpack(rec, 2, 'key share') as [Uint8Array, Uint8Array];
    const share = decodeKeyShare(pub, secret);
    if (share.public.i !== this.index || share.public.n !== this.o.group.length) throw new RpcError('bad-share', 'stored key share does not match this node');
    return share;
  }

  private async loadAux(): Promise<AuxInfo | undefined> {
    if (!this.auxLoaded) {
      const rec = await this.o.store.get('aux', AUX_RECORD);
      if (rec) {
        const [pub, secret] = unpack(rec, 2, 'aux-info') as [Uint8Array, Uint8Array];
        this.aux = decodeAuxInfo(pub, secret);
      }
      this.auxLoaded = true;
    }
    return this.aux;
  }

  /** Drop sessions idle longer than the TTL (the coordinator died or gave up). */
  private expire(): void {
    const cutoff = Date.now() - (this.o.sessionTtlMs ?? 10 * 60_000);
    for (const [id, s] of this.sessions) {
      if (s.touched < cutoff) {
        if ('session' in s) s.session.cancel();
        this.sessions.delete(id);
      }
    }
  }
}

/** A digest for logs: never the data itself. */
export function fingerprint(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex').slice(0, 12);
}

export { RPC_VERSION };
