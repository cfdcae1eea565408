/**
 * Signing a 32-byte digest for a wallet (the API never hashes): choose a live signer pair —
 * preferring pairs with presignatures ready — take one presignature, ask both signers for their
 * partial signatures in parallel, combine, and check the result before it leaves.
 *
 * Faults, each handled by trying another pair (never the same presignature: a taken one is gone):
 * - a node fails or times out → pairs with that node are dropped for this request;
 * - a partial is wrong (`Blame` from combining) → logged with the culprit, counted in metrics,
 *   reported through `onBlame` (the coordinator suspends that node: a verified offence, docs/security.md A9), and
 *   pairs with the culprit dropped;
 * - presigning on demand fails → pairs with the nodes at fault dropped;
 * - a signer refuses to presign because the wallet's key share predates the group's aux-info (a
 *   rotation committed new aux-info) → the wallet is refreshed (`refreshStale`, once per request)
 *   and the same pair tried again; nobody is at fault. A refresh burns the wallet's presignatures,
 *   so a node must not get one for the asking: if this coordinator already refreshed the wallet
 *   under the current aux-info (`refreshStale` declines), the claim is false and the refusing node
 *   is treated as failed — avoided for this request, not blamed (no cryptographic evidence).
 * - a node is shutting down (it answers `unavailable`, NODE_DRAIN_MS) → not a fault: the cluster
 *   leaves it out of new work until it is back, and another pair signs; if none is left the
 *   request is answered 503 nodes-unavailable with Retry-After (retry later), never held against
 *   the node.
 * The combined signature is low-s, verified under the wallet's own public key with an
 * independent verifier (@noble/curves), and its recovery id checked, before it is returned.
 *
 * Audit: with an audit log, every signature is recorded — wallet, digest, signers, presignature
 * id, the signature, and the request's ids (request id, credential id; never a token) — and the
 * record is durable before the signature is returned. If it cannot be recorded the signature is
 * withheld (503): a signature nobody can account for must not leave the coordinator.
 *
 * Latency: the refill a request's take sets off starts only once that request has its answer, so
 * the presign session it starts (seconds of compute on the signers) never competes with the
 * signers' partials, the combining or the check of the request that caused it.
 * @module
 */
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { encodePresignaturePublic } from '../protocol/storage-format.js';
import { Blame, type BlameCode } from '../protocol/machine.js';
import { combineSignature, toDer, toRsv, type EcdsaSignature } from '../protocol/sign/index.js';
import type { PartialSignature } from '../protocol/presign/presignature.js';
import { RPC_VERSION, signResponseSchema } from '../rpc/messages.js';
import { silentLogger, type Logger } from '../util/log.js';
import { abortReason } from './orchestrator.js';
import type { NodeCluster } from './cluster.js';
import { NodesUnavailableError, SigningFailedError, WalletArchivedError, WalletNotFoundError } from './errors.js';
import type { CoordinatorMetrics } from './metrics.js';
import { callNode, NodeCallError, type NodeLink } from './node-link.js';
import {
  combinations,
  PresignBusyError,
  PresignCancelledError,
  PresignTimeoutError,
  signersKey,
  type PoolEntry,
  type PresignPool,
} from './pool.js';
import { PresignFailedError, ShareStaleError } from './presign.js';
import { AuditUnavailableError, type AuditSink, type RequestContext } from './wallets.js';

export interface SignatureResult {
  /** 32-byte hex */
  readonly r: string;
  /** 32-byte hex, low-s */
  readonly s: string;
  /** recovery id: 0 or 1 */
  readonly v: 0 | 1;
  /** strict DER, hex */
  readonly der: string;
  /** 65-byte r‖s‖v, hex */
  readonly signature: string;
  /** node ids of the signers */
  readonly signers: readonly string[];
}

export interface SigningOptions {
  readonly cluster: NodeCluster;
  readonly pool: PresignPool;
  /** the wallet's public key (33-byte compressed hex), or undefined if there is no such wallet */
  readonly publicKeyOf: (walletId: string) => string | undefined;
  /** an archived wallet is refused (409) before any presignature is taken for it */
  readonly isArchived?: (walletId: string) => boolean;
  /**
   * brings the registry's copy up to date when it is older than the bound a decision on archive
   * state may rely on (WalletStore.ensureCurrent); rejects (503) if it cannot be
   */
  readonly current?: () => Promise<void>;
  readonly metrics?: CoordinatorMetrics;
  readonly log?: Logger;
  /** a signer's answer to `sign` (default 5 s; a node signs in milliseconds) */
  readonly signTimeoutMs?: number;
  /** pairs tried per request (default: every pair there is) */
  readonly maxAttempts?: number;
  /** a node's partial signature failed the coordinator's own check (a verified offence: quarantine.ts) */
  readonly onBlame?: (nodeId: string, protocol: string, reason: string, code: BlameCode) => void;
  /** records every signature before it is returned */
  readonly audit?: AuditSink;
  /** request context used when a request carries none (the one configured credential's id) */
  readonly defaultContext?: RequestContext;
  /**
   * refresh a wallet whose key share is older than the group's aux-info (rotation.ts): resolves
   * true once committed, or false without a refresh when the wallet was already refreshed under
   * the current aux-info (the `share-stale` answer is then not believed)
   */
  readonly refreshStale?: (walletId: string) => Promise<boolean>;
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

export class SigningService {
  private readonly log: Logger;

  constructor(private readonly o: SigningOptions) {
    this.log = (o.log ?? silentLogger()).child({ component: 'signing' });
  }

  /**
   * @param context who asked, for the audit record
   * @param options.signal aborted when the client has gone: no further pair is tried and no
   *   presign started for it (one running finishes and stocks the pool)
   * @throws WalletNotFoundError, WalletArchivedError, StoreUnavailableError (the registry's copy is
   *   too old to trust and the shared store cannot be read), NodesUnavailableError (fewer than t nodes),
   *   SigningFailedError (every pair failed), AuditUnavailableError (signed, but the audit record could not be written: not returned),
   *   PresignBusyError / PresignTimeoutError (503: no presignature could be made for it in time),
   *   PresignCancelledError (the signal aborted)
   */
  async sign(
    walletId: string,
    digest: Uint8Array,
    context?: RequestContext,
    options: { signal?: AbortSignal } = {},
  ): Promise<SignatureResult> {
    if (!(digest instanceof Uint8Array) || digest.length !== 32) throw new RangeError('digest must be 32 bytes');
    // an archive made at another coordinator holds here within the bound: a copy that old, and a
    // store that cannot be read, sign nothing (StoreUnavailableError, 503)
    if (this.o.current) await this.o.current();
    const publicKey = this.o.publicKeyOf(walletId);
    if (publicKey === undefined) throw new WalletNotFoundError(walletId);
    if (this.o.isArchived?.(walletId) === true) throw new WalletArchivedError(walletId, 'it does not sign');
    const c = this.o.cluster;
    const readiness = c.signReadiness();
    if (!readiness.ready) {
      this.o.metrics?.signatures.inc({ outcome: 'failed' });
      throw new NodesUnavailableError(readiness.reason);
    }
    const avoid = new Set<number>();
    const dropped = new Set<string>();
    const staleOnce = new Set<string>();
    const failures: string[] = [];
    /** every failure so far was a node shutting down: the request may simply be retried */
    let onlyDraining = true;
    const maxAttempts = this.o.maxAttempts ?? combinations(c.links, c.threshold).length;
    let refreshed = false;
    for (let attempt = 0; attempt < maxAttempts; attempt++) {
      if (options.signal?.aborted) {
        this.o.metrics?.signatures.inc({ outcome: 'failed' });
        throw new PresignCancelledError('the request was cancelled');
      }
      const signers = this.choose(walletId, avoid, dropped);
      if (!signers) break;
      const key = signersKey(signers);
      let outcome: Awaited<ReturnType<SigningService['attempt']>>;
      try {
        outcome = await this.attempt(walletId, publicKey, signers, digest, options.signal);
      } catch (e) {
        // the on-demand bound, its timeout or the client leaving: another pair would wait the same
        if (e instanceof PresignBusyError || e instanceof PresignTimeoutError || e instanceof PresignCancelledError) {
          this.o.metrics?.signatures.inc({ outcome: 'failed' });
          this.log.info({ walletId, signers, err: e.message }, 'signing stopped waiting for a presignature');
        }
        throw e;
      }
      this.o.metrics?.signAttempts.inc({ signers: key, outcome: outcome.kind });
      if (outcome.kind === 'share-stale' && !refreshed && this.o.refreshStale) {
        // the wallet's shares must move to the new aux-info first; then the same pair again
        refreshed = true;
        try {
          if (await this.o.refreshStale(walletId)) {
            attempt--;
            continue;
          }
          this.log.warn(
            { walletId, signers, avoided: outcome.avoid.map((i) => c.parties[i]) },
            'share-stale for a wallet already refreshed under the current aux-info: refusing node avoided',
          );
        } catch (e) {
          this.log.warn({ walletId, err: (e as Error).message }, 'refreshing a stale wallet failed');
          failures.push(`refresh of the wallet's key shares: ${(e as Error).message}`);
          // a failed refresh is no node shutting down: the request must not read "retry shortly"
          onlyDraining = false;
          break;
        }
      }
      if (outcome.kind === 'ok') {
        await this.audit(walletId, digest, outcome.result, outcome.presignatureId, {
          ...this.o.defaultContext,
          ...context,
        });
        this.o.metrics?.signatures.inc({ outcome: 'ok' });
        return outcome.result;
      }
      failures.push(`${signers.map((i) => c.parties[i]).join('+')}: ${outcome.reason}`);
      if (outcome.kind !== 'node-draining') onlyDraining = false;
      for (const i of outcome.avoid) avoid.add(i);
      // a stale presignature says nothing against the pair: it may try once more with another
      if (outcome.kind !== 'stale' || staleOnce.has(key)) dropped.add(key);
      if (outcome.kind === 'stale') staleOnce.add(key);
    }
    this.o.metrics?.signatures.inc({ outcome: 'failed' });
    if (failures.length === 0)
      throw new NodesUnavailableError(`signing needs ${c.threshold} live nodes; ${c.connectedCount} connected`);
    if (onlyDraining)
      throw new NodesUnavailableError(`signer nodes are shutting down (${failures.join('; ')}); retry shortly`);
    throw new SigningFailedError(`no signer pair could sign: ${failures.join('; ')}`);
  }

  /** The signature's audit record, durable before it is returned. @throws AuditUnavailableError */
  private async audit(
    walletId: string,
    digest: Uint8Array,
    result: SignatureResult,
    presignatureId: string,
    context: RequestContext,
  ): Promise<void> {
    if (!this.o.audit) return;
    try {
      await this.o.audit.append({
        type: 'signature',
        walletId,
        digest: hex(digest),
        signers: [...result.signers],
        presignatureId,
        signature: result.signature,
        ...context,
      });
    } catch (e) {
      this.o.metrics?.signatures.inc({ outcome: 'failed' });
      this.log.error({ walletId, err: (e as Error).message }, 'audit log: signature not recorded; withheld');
      throw new AuditUnavailableError('the audit log cannot be written; the signature is withheld');
    }
  }

  /** The usable signer set not yet tried, with the most presignatures ready (then in index order). */
  private choose(walletId: string, avoid: ReadonlySet<number>, dropped: ReadonlySet<string>): number[] | undefined {
    const c = this.o.cluster;
    // usable sets leave out suspended nodes and pairs in dispute after an abort report (quarantine.ts)
    const sets = c.usableSignerSets().filter((s) => !dropped.has(signersKey(s)) && s.every((i) => !avoid.has(i)));
    sets.sort((a, b) => this.o.pool.size(walletId, b) - this.o.pool.size(walletId, a));
    return sets[0];
  }

  private async attempt(
    walletId: string,
    publicKey: string,
    signers: readonly number[],
    digest: Uint8Array,
    signal?: AbortSignal,
  ): Promise<
    | { kind: 'ok'; result: SignatureResult; presignatureId: string }
    | {
        kind: 'node-failed' | 'node-draining' | 'blamed' | 'presign-failed' | 'share-stale' | 'stale';
        reason: string;
        avoid: readonly number[];
      }
  > {
    const c = this.o.cluster;
    const indexOf = (nodeId: string): number => c.parties.indexOf(nodeId);
    try {
      let entry: PoolEntry;
      try {
        entry = await this.o.pool.obtain(walletId, signers, {
          deferRefill: true,
          ...(signal === undefined ? {} : { signal }),
        });
      } catch (e) {
        // the refusers are avoided only if the claim proves false (no refresh was due: sign())
        if (e instanceof ShareStaleError)
          return { kind: 'share-stale', reason: e.message, avoid: e.refusedBy.map(indexOf).filter((i) => i >= 0) };
        if (e instanceof PresignBusyError || e instanceof PresignTimeoutError || e instanceof PresignCancelledError)
          throw e;
        // A presign abort's culprits are already logged and counted with the session's outcome.
        const nodes = e instanceof PresignFailedError ? e.nodes : [];
        this.log.warn(
          { walletId, signers, nodes, err: (e as Error).message },
          'presigning on demand failed; trying another pair',
        );
        // An abort's culprits are only accused: the accusation already put the pair in dispute, and
        // dropping the accused for the whole request would let one liar exclude an honest node.
        const blamed = e instanceof PresignFailedError && e.blamed;
        if (e instanceof PresignFailedError && e.draining)
          return {
            kind: 'node-draining',
            reason: (e as Error).message,
            avoid: nodes.map(indexOf).filter((i) => i >= 0),
          };
        return {
          kind: 'presign-failed',
          reason: (e as Error).message,
          avoid: blamed ? [] : nodes.map(indexOf).filter((i) => i >= 0),
        };
      }
      // From here the presignature is spent, whatever happens: it is never offered again.
      return await this.signWith(entry, walletId, publicKey, signers, digest);
    } finally {
      // once this request's answer is on its way (see the module comment)
      setImmediate(() => this.o.pool.refill(walletId));
    }
  }

  private async signWith(
    entry: PoolEntry,
    walletId: string,
    publicKey: string,
    signers: readonly number[],
    digest: Uint8Array,
  ): Promise<
    | { kind: 'ok'; result: SignatureResult; presignatureId: string }
    | { kind: 'node-failed' | 'node-draining' | 'blamed' | 'stale'; reason: string; avoid: readonly number[] }
  > {
    const c = this.o.cluster;
    const links = signers.map((i) => c.link(i) as NodeLink);
    const req = { v: RPC_VERSION, method: 'sign', walletId, presignatureId: entry.id, digest: hex(digest) } as const;
    const answers = await Promise.allSettled(
      links.map((l) => callNode(l, req, signResponseSchema, this.o.signTimeoutMs ?? 5_000)),
    );
    const failed = answers.flatMap((a, k) =>
      a.status === 'rejected' ? [{ link: links[k] as NodeLink, err: a.reason as Error }] : [],
    );
    // Only every signer saying so makes the entry stale. One signer's word is not evidence (a used
    // marker proves nothing to us), and believing it let one node, by answering `presignature-used`
    // to everything, drop the wallet's whole stock at every coordinator and spend each request's
    // attempts on the pairs that include it (retried, never avoided) until the request failed.
    // Alone, it is a node that failed: avoided for this request, not blamed.
    if (
      failed.length === links.length &&
      failed.every((f) => f.err instanceof NodeCallError && f.err.code === 'presignature-used')
    ) {
      // Not a node failure: the presignature was burnt by a commit of a newer aux-info or key share
      // (or spent before a coordinator restart). Its siblings of the same state are stale too.
      const dropped = await this.o.pool.dropState(walletId, entry.state);
      this.log.info(
        { walletId, presignatureId: entry.id, dropped },
        'presignature already used at a signer (stale pool entry): trying another',
      );
      return { kind: 'stale', reason: failed.map((f) => f.err.message).join('; '), avoid: [] };
    }
    if (
      failed.length === links.length &&
      failed.every(
        (f) =>
          f.err instanceof NodeCallError && (f.err.code === 'unknown-presignature' || f.err.code === 'wrong-wallet'),
      )
    ) {
      // No signer holds it for this wallet: the entry is wrong, not the nodes (a row made up or
      // relabelled in the shared database). Avoiding both honest signers would end the request
      // with one such row; like a stale entry, the pair may try once more with another.
      this.log.error(
        { walletId, signers, presignatureId: entry.id },
        'no signer holds this presignature for the wallet (a changed inventory row): trying another',
      );
      return { kind: 'stale', reason: failed.map((f) => f.err.message).join('; '), avoid: [] };
    }
    if (failed.length > 0) {
      let draining = true;
      for (const f of failed) {
        const kind = f.err instanceof NodeCallError ? f.err.kind : 'unavailable';
        if (kind === 'draining') {
          // shutting down: left out of new work until it is back, and never blamed
          c.markDraining(f.link.index);
          this.log.info({ walletId, node: f.link.nodeId }, 'signer is shutting down; trying another pair');
          continue;
        }
        draining = false;
        this.log.warn(
          { walletId, node: f.link.nodeId, kind, err: f.err.message },
          'signer failed; trying another pair',
        );
      }
      return {
        kind: draining ? 'node-draining' : 'node-failed',
        reason: failed.map((f) => f.err.message).join('; '),
        avoid: failed.map((f) => f.link.index),
      };
    }
    const partials: PartialSignature[] = [];
    // An entry read from the shared database is evidence only if every signer holds exactly it.
    const expected = entry.shared ? hex(sha256(encodePresignaturePublic(entry.pub))) : undefined;
    /** signers whose answer names another presignature than the row */
    const unconfirmed: number[] = [];
    for (const [k, a] of answers.entries()) {
      const link = links[k] as NodeLink;
      const body = (a as PromiseFulfilledResult<{ signer: number; sigma: string; presignature?: string }>).value;
      if (expected !== undefined && body.presignature !== expected) unconfirmed.push(link.index);
      // A node answering for another index is lying about who it is: its partial is its fault.
      if (body.signer !== link.index) {
        this.blame(link.nodeId, 'sign', `answered as signer ${body.signer}`, 'unknown-sender');
        return { kind: 'blamed', reason: `${link.nodeId} answered as signer ${body.signer}`, avoid: [link.index] };
      }
      partials.push({ presignatureId: entry.pub.id, signer: body.signer, sigma: BigInt(`0x${body.sigma}`) });
    }
    let sig: EcdsaSignature;
    try {
      sig = combineSignature(entry.pub, digest, partials);
    } catch (e) {
      if (!(e instanceof Blame)) throw e;
      if (unconfirmed.length > 0) {
        // The public parts came from the database and a signer holds others: a changed row (or a
        // signer lying about its presignature as well as its partial) — no evidence against anyone.
        // When a partner names the row, the one that does not is avoided for this request, as a
        // failed node is: else a node could spoil each pair it is in, one after the other. That
        // partner may be the liar (with a changed row), so nothing more is held against anyone.
        this.log.error(
          { walletId, signers, presignatureId: entry.id, unconfirmed: unconfirmed.map((i) => c.parties[i]) },
          'a presignature from the shared inventory does not match what its signers hold: nobody blamed',
        );
        return {
          kind: 'node-failed',
          reason: 'the stored presignature does not match the signers’ (not blamed)',
          avoid: unconfirmed.length < signers.length ? unconfirmed : [],
        };
      }
      for (const j of e.culprits) this.blame(c.parties[j] ?? `index-${j}`, 'sign', e.reason, e.code);
      if (e.culprits.length === 0)
        this.log.error({ walletId, signers, code: e.code, reason: e.reason }, 'combining failed with nobody to blame');
      return { kind: 'blamed', reason: abortReason(e), avoid: e.culprits };
    }
    const result = this.check(sig, digest, publicKey, signers);
    if (!result) {
      this.log.error(
        { walletId, signers },
        'combined signature failed the independent check (presignature/key mismatch): not returned',
      );
      return { kind: 'blamed', reason: 'signature did not verify under the wallet key', avoid: [] };
    }
    return { kind: 'ok', result, presignatureId: entry.id };
  }

  /**
   * Independent verification under the wallet key (@noble/curves): r and s in range, low-s, and
   * the recovery id recovers exactly that key. Recovery computes Q = r⁻¹·(s·R − m·G) from the R
   * that r and v name, so Q = Y holds iff R = s⁻¹·(m·G + r·Y) with R.x = r: the ECDSA verification
   * equation itself. A separate verify call would repeat that work (a double scalar
   * multiplication, milliseconds) and decide nothing more.
   */
  private check(
    sig: EcdsaSignature,
    digest: Uint8Array,
    publicKey: string,
    signers: readonly number[],
  ): SignatureResult | undefined {
    const rsv = toRsv(sig);
    const compact = rsv.subarray(0, 64);
    try {
      const parsed = secp256k1.Signature.fromBytes(compact, 'compact'); // throws unless 0 < r, s < n
      if (parsed.hasHighS()) return undefined;
      const recovered = parsed.addRecoveryBit(sig.v).recoverPublicKey(digest);
      if (hex(recovered.toBytes(true)) !== publicKey) return undefined;
    } catch {
      return undefined;
    }
    return {
      r: hex(compact.subarray(0, 32)),
      s: hex(compact.subarray(32, 64)),
      v: sig.v,
      der: hex(toDer(sig)),
      signature: hex(rsv),
      signers: signers.map((i) => this.o.cluster.parties[i] as string),
    };
  }

  private blame(nodeId: string, protocol: string, reason: string, code: BlameCode): void {
    this.log.warn({ culprit: nodeId, protocol, code, reason }, 'node blamed for a wrong protocol message');
    this.o.metrics?.blames.inc({ node: nodeId, protocol });
    this.o.onBlame?.(nodeId, protocol, reason, code);
  }
}
