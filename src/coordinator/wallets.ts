/**
 * Wallets: creation by distributed key generation with every node, lookup and listing.
 *
 * A wallet exists only once every node has stored its share and the registry has durably recorded
 * it: keygen needs all n nodes (its result is a t-of-n sharing among all of them), each node
 * stores its share before it reports done, the orchestrator waits for all n to report done with
 * the same public key, and only then is the record committed (fsynced) and the wallet returned.
 *
 * Before keygen runs, a *pending* record for the new wallet id is written (fsynced): no node is
 * asked to store a share unless the registry has just proved it can write, and a crash or a
 * failed commit after keygen leaves the id on record (`registry.pending()`) for reconciling the
 * shares nodes hold under it. A registry that failed a write refuses creation (503) before any
 * keygen. A keygen that fails is recorded as abandoned; its id is random and never reused, so
 * shares a node may have kept from it can never be confused with a wallet.
 *
 * Audit: with an audit log, `wallet.created` is recorded (fsynced) before the wallet is returned;
 * if it cannot be, the request fails with 503 (the wallet stays registered: a retry with the same
 * Idempotency-Key returns it).
 *
 * Idempotency-Key: the key's SHA-256 is stored with the wallet. A repeat with the same key and
 * label returns the same wallet; with another label, or while the first is still running, it is
 * a conflict.
 * @module
 */
import { createHash, randomBytes } from 'node:crypto';
import type { AuditEvent } from '../util/audit-log.js';
import { RPC_VERSION, walletResponseSchema } from '../rpc/messages.js';
import { silentLogger, type Logger } from '../util/log.js';
import { walletAddresses, type WalletAddresses } from './addresses.js';
import type { NodeCluster } from './cluster.js';
import {
  IdempotencyConflictError,
  InvalidLabelError,
  KeygenFailedError,
  NodesUnavailableError,
  ServiceError,
  WalletKeyUnverifiedError,
} from './errors.js';
import { callNode } from './node-link.js';
import { abortReason, type SessionRunner } from './orchestrator.js';
import {
  KeygenTakenOverError,
  MAX_LABEL_LENGTH,
  RegistryConflictError,
  RegistryUnavailableError,
  type WalletRecord,
  type WalletStore,
} from './registry.js';

export interface WalletView {
  readonly walletId: string;
  readonly label?: string;
  /** 33-byte compressed SEC1, hex */
  readonly publicKey: string;
  readonly threshold: number;
  readonly totalShards: number;
  readonly addresses: WalletAddresses;
  readonly createdAt: string;
  /**
   * `archived`: it neither signs nor is refreshed until it is restored (archive.ts); `purged`: archived
   * for good, its shares destroyed at the nodes (registry.ts)
   */
  readonly status: 'active' | 'archived' | 'purged';
}

export interface CreateWalletInput {
  readonly label?: string;
  /**
   * stock presignatures for it now (default false: a wallet costs no presign compute until it
   * signs; a deposit address may never sign)
   */
  readonly presign?: boolean;
  readonly idempotencyKey?: string;
  /** who asked, for the audit record (see RequestContext) */
  readonly context?: RequestContext;
}

/** Who made a request, for the audit log: ids only, never a token. */
export interface RequestContext {
  /** the API's id for this request */
  readonly requestId?: string;
  /** the public id of the credential that authenticated it (util/credential-id.ts), never the credential */
  readonly credentialId?: string;
}

/** Where audit events go (an AuditLog): `append` resolves once the event is durable. */
export interface AuditSink {
  append(event: AuditEvent): Promise<void>;
}

/** An audit record that must precede the answer could not be written: the answer is withheld. */
export class AuditUnavailableError extends ServiceError {
  override readonly name = 'AuditUnavailableError';
  readonly status = 503;
  readonly problem = 'audit-unavailable';
  override readonly retryAfterS = 5;
}

export interface WalletServiceOptions {
  readonly registry: WalletStore;
  readonly cluster: NodeCluster;
  readonly runner: SessionRunner;
  readonly log?: Logger;
  readonly keygenTimeoutMs?: number;
  /** a wallet was created; `presign`: its request asked for presignatures ahead of its first sign */
  readonly onCreated?: (walletId: string, options: { readonly presign: boolean }) => void;
  /** a key generation failed and was recorded so (nodes may hold pending states of it: reconcile.ts) */
  readonly onAbandoned?: (walletId: string) => void;
  /** records `wallet.created` before the wallet is returned */
  readonly audit?: AuditSink;
  /** request context used when a request carries none (the one configured credential's id) */
  readonly defaultContext?: RequestContext;
  /**
   * The registry is a database other parties can write (several coordinators): a wallet's public
   * key read from it is shown only once `threshold` nodes confirm they hold that key (see
   * `confirmKey`). Default false: the file registry is this coordinator's own.
   */
  readonly confirmKeys?: boolean;
  /** one node request of that confirmation (default 10 s) */
  readonly confirmTimeoutMs?: number;
}

/** wallets of one page whose keys are confirmed with the nodes at once */
const CONFIRM_CONCURRENCY = 8;

export function idempotencyKeyHash(key: string): string {
  return createHash('sha256').update('mpc-engine/v1/idempotency-key\0').update(key, 'utf8').digest('hex');
}

/**
 * Characters a label may not hold. A label is shown to people (wallet server consoles, logs,
 * spreadsheets), so it must not be able to look like something else:
 * - Cc: control characters (terminal escapes, NUL, new lines);
 * - Cf: format characters — bidirectional overrides and isolates (U+202A–U+202E, U+2066–U+2069),
 *   which reorder what is displayed ("Trojan Source"), and zero-width characters (U+200B–U+200D,
 *   U+2060, U+FEFF), which make two different labels look the same;
 * - Zl, Zp: U+2028 and U+2029, line breaks to many viewers and to JavaScript source;
 * - Cs: lone surrogates (valid JSON, but no character: a label must be well-formed UTF-16 so
 *   that it is valid UTF-8 wherever it is written);
 * - characters that render as nothing although they are letters or marks: the Hangul fillers
 *   (U+115F, U+1160, U+3164, U+FFA0), the combining grapheme joiner (U+034F) and variation
 *   selectors. A label of white space only is refused too: it looks empty.
 */
// U+034F (combining grapheme joiner) is listed alone on purpose: it is refused, not combined
const FORBIDDEN_IN_LABEL =
  // eslint-disable-next-line no-misleading-character-class
  /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}\u115F\u1160\u3164\uFFA0\u034F\uFE00-\uFE0F\u{E0100}-\u{E01EF}]/u;

/** Why a label is refused, or undefined if it is acceptable. */
export function labelIssue(label: string): string | undefined {
  if (label.length < 1 || label.length > MAX_LABEL_LENGTH) return `must be 1–${MAX_LABEL_LENGTH} characters`;
  if (label.trim() === '') return 'must not be white space only';
  const bad = FORBIDDEN_IN_LABEL.exec(label);
  if (bad)
    return `must not contain control, format (bidirectional, zero-width) or separator characters, or lone surrogates (U+${(bad[0].codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')} at ${bad.index})`;
  return undefined;
}

function newWalletId(): string {
  return `w_${randomBytes(16).toString('base64url')}`;
}

export class WalletService {
  private readonly log: Logger;
  private readonly inFlight = new Map<string, Promise<unknown>>();
  /** addresses are derived once per wallet (keccak and hash160 are cheap, but lists repeat them) */
  private readonly addressCache = new Map<string, WalletAddresses>();
  /** public keys the nodes were seen to hold, by wallet id (see `confirmed`) */
  private readonly keys = new Map<string, string>();
  /** confirmations under way, by wallet id and key: concurrent reads share one */
  private readonly confirming = new Map<string, Promise<void>>();

  constructor(private readonly o: WalletServiceOptions) {
    this.log = (o.log ?? silentLogger()).child({ component: 'wallets' });
  }

  view(record: WalletRecord): WalletView {
    let addresses = this.addressCache.get(record.walletId);
    if (!addresses) {
      addresses = walletAddresses(record.publicKey);
      this.addressCache.set(record.walletId, addresses);
    }
    return {
      walletId: record.walletId,
      ...(record.label === undefined ? {} : { label: record.label }),
      publicKey: record.publicKey,
      threshold: this.o.cluster.threshold,
      totalShards: this.o.cluster.total,
      addresses,
      createdAt: record.createdAt,
      status: this.o.registry.isPurged(record.walletId)
        ? 'purged'
        : this.o.registry.isArchived(record.walletId)
          ? 'archived'
          : 'active',
    };
  }

  get(walletId: string): WalletView | undefined {
    const record = this.o.registry.get(walletId);
    return record && this.view(record);
  }

  /**
   * `get`, after catching up with a shared store when the wallet is not known here: it may be new.
   * @throws WalletKeyUnverifiedError (a shared store's key the nodes do not confirm)
   */
  async find(walletId: string): Promise<WalletView | undefined> {
    let record = this.o.registry.get(walletId);
    if (!record) {
      await this.o.registry.catchUp();
      record = this.o.registry.get(walletId);
    }
    return record && this.confirmed(record);
  }

  /**
   * The view of a record whose public key is confirmed. A shared database is written by every
   * coordinator and reachable by whoever holds its credentials; a row whose key was changed there
   * would otherwise be served as the wallet's key (and address) to a wallet server that pays to
   * it. The nodes hold the key: it is shown once `threshold` of them (so at least one honest node)
   * report a committed share of that very key. Keys this process saw every node produce, or
   * confirmed before, are not asked again. A purged wallet (no node holds it any more) is shown as
   * recorded: its status says it can never sign.
   * @throws WalletKeyUnverifiedError
   */
  private async confirmed(record: WalletRecord): Promise<WalletView> {
    if (this.o.confirmKeys === true && !this.o.registry.isPurged(record.walletId)) await this.confirmKey(record);
    return this.view(record);
  }

  private async confirmKey(record: WalletRecord): Promise<void> {
    const { walletId, publicKey } = record;
    if (this.keys.get(walletId) === publicKey) return;
    const key = `${walletId} ${publicKey}`;
    let asking = this.confirming.get(key);
    if (!asking) {
      asking = this.askNodes(walletId, publicKey).finally(() => this.confirming.delete(key));
      this.confirming.set(key, asking);
    }
    await asking;
  }

  private async askNodes(walletId: string, publicKey: string): Promise<void> {
    const c = this.o.cluster;
    const held = await Promise.all(
      c.links
        .filter((l) => c.isConnected(l.index))
        .map(async (link) => {
          try {
            const w = await callNode(
              link,
              { v: RPC_VERSION, method: 'wallet', walletId },
              walletResponseSchema,
              this.o.confirmTimeoutMs ?? 10_000,
            );
            return w.walletId === walletId ? w.committed?.publicKey : undefined;
          } catch {
            return undefined;
          }
        }),
    );
    const agree = held.filter((k) => k === publicKey).length;
    if (agree >= Math.max(c.threshold, 1)) {
      this.keys.set(walletId, publicKey);
      return;
    }
    const other = held.filter((k) => k !== undefined && k !== publicKey).length;
    if (other > 0)
      this.log.error(
        { walletId, registry: publicKey, confirming: agree, holdingAnother: other },
        'nodes hold another public key than the wallet registry records: the registry row was changed; its key is not shown',
      );
    else this.log.warn({ walletId, confirming: agree }, 'not enough nodes confirm this wallet’s public key yet');
    throw new WalletKeyUnverifiedError(
      `wallet ${walletId}: ${agree} node(s) confirm the registry's public key, ${c.threshold} needed`,
    );
  }

  publicKeyOf(walletId: string): string | undefined {
    return this.o.registry.get(walletId)?.publicKey;
  }

  /** @throws InvalidCursorError, RangeError (limit), WalletKeyUnverifiedError */
  async list(options: {
    limit?: number;
    cursor?: string;
  }): Promise<{ wallets: WalletView[]; nextCursor: string | undefined }> {
    const page = this.o.registry.list(options);
    const wallets: WalletView[] = [];
    for (let k = 0; k < page.wallets.length; k += CONFIRM_CONCURRENCY)
      wallets.push(
        ...(await Promise.all(page.wallets.slice(k, k + CONFIRM_CONCURRENCY).map((r) => this.confirmed(r)))),
      );
    return { wallets, nextCursor: page.nextCursor };
  }

  /**
   * Creates a wallet (or returns the one an earlier request with the same Idempotency-Key made).
   * @throws InvalidLabelError, NodesUnavailableError, IdempotencyConflictError, KeygenFailedError
   */
  async create(input: CreateWalletInput): Promise<{ wallet: WalletView; replayed: boolean }> {
    const badLabel = input.label === undefined ? undefined : labelIssue(input.label);
    if (badLabel !== undefined) throw new InvalidLabelError(`label: ${badLabel}`);
    const keyHash = input.idempotencyKey === undefined ? undefined : idempotencyKeyHash(input.idempotencyKey);
    if (keyHash !== undefined) {
      const earlier = this.o.registry.byIdempotencyKeyHash(keyHash);
      if (earlier) {
        if (earlier.label !== input.label)
          throw new IdempotencyConflictError('this Idempotency-Key was used for a request with a different body');
        return { wallet: await this.confirmed(earlier), replayed: true };
      }
      if (this.inFlight.has(keyHash))
        throw new IdempotencyConflictError('a request with this Idempotency-Key is still being processed');
    }
    const readiness = this.o.cluster.keygenReadiness();
    if (!readiness.ready) throw new NodesUnavailableError(readiness.reason);
    if (!this.o.registry.writable)
      throw new RegistryUnavailableError(
        'the wallet registry cannot be written (a write failed); no wallet is created until the coordinator is restarted with the disk fixed',
      );
    const work = this.keygen(
      input.label,
      keyHash,
      { ...this.o.defaultContext, ...input.context },
      input.presign === true,
    );
    if (keyHash !== undefined) {
      this.inFlight.set(keyHash, work);
      void work.catch(() => undefined).finally(() => this.inFlight.delete(keyHash));
    }
    try {
      return { wallet: await work, replayed: false };
    } catch (e) {
      if (!(e instanceof RegistryConflictError) || keyHash === undefined) throw e;
      // A shared store refused the key: another coordinator has begun (or made) a wallet with it.
      await this.o.registry.catchUp();
      const earlier = this.o.registry.byIdempotencyKeyHash(keyHash);
      if (earlier === undefined)
        throw new IdempotencyConflictError('a request with this Idempotency-Key is still being processed');
      if (earlier.label !== input.label)
        throw new IdempotencyConflictError('this Idempotency-Key was used for a request with a different body');
      return { wallet: await this.confirmed(earlier), replayed: true };
    }
  }

  private async keygen(
    label: string | undefined,
    keyHash: string | undefined,
    context: RequestContext,
    presign: boolean,
  ): Promise<WalletView> {
    const walletId = newWalletId();
    // Durable before any node stores a share (RegistryUnavailableError, 503, if it cannot be). A
    // shared store reserves the idempotency key with it (RegistryConflictError: taken elsewhere).
    await this.o.registry.begin({
      walletId,
      ...(label === undefined ? {} : { label }),
      startedAt: new Date().toISOString(),
      ...(keyHash === undefined ? {} : { idempotencyKeyHash: keyHash }),
    });
    let view: WalletView;
    try {
      view = await this.generate(walletId, label, keyHash);
    } catch (e) {
      if (e instanceof KeygenFailedError) {
        // refused with KeygenTakenOverError when another coordinator claimed it (logged, not thrown)
        await this.o.registry.abandon(walletId).then(
          () => this.o.onAbandoned?.(walletId),
          (err: unknown) =>
            this.log.error({ walletId, err: (err as Error).message }, 'could not record a failed key generation'),
        );
      } else if (e instanceof KeygenTakenOverError) {
        // another coordinator's reconciliation owns the pending record now and settles it
        this.log.warn({ walletId, err: e.message }, 'wallet not answered: its key generation was taken over');
      } else {
        this.log.error(
          { walletId, err: (e as Error).message },
          'wallet not committed after key generation; nodes may hold shares no wallet owns (listed as pending at the next start)',
        );
      }
      throw e;
    }
    if (this.o.audit) {
      try {
        await this.o.audit.append({
          type: 'wallet.created',
          walletId,
          publicKey: view.publicKey,
          ...(label === undefined ? {} : { label }),
          ...(keyHash === undefined ? {} : { idempotencyKeyHash: keyHash }),
          ...context,
        });
      } catch (e) {
        this.log.error(
          { walletId, err: (e as Error).message },
          'audit log: wallet.created not recorded; answer withheld',
        );
        throw new AuditUnavailableError(
          'the audit log cannot be written; the wallet was created but is not returned (retry with the same Idempotency-Key)',
        );
      }
    }
    this.log.info({ walletId, publicKey: view.publicKey }, 'wallet created');
    this.o.onCreated?.(walletId, { presign });
    return view;
  }

  /** Keygen for a pending wallet id, then the commit. */
  private async generate(
    walletId: string,
    label: string | undefined,
    keyHash: string | undefined,
  ): Promise<WalletView> {
    const c = this.o.cluster;
    const outcome = await this.o.runner.run({
      protocol: 'keygen',
      parties: c.parties,
      participants: c.links,
      walletId,
      ...(this.o.keygenTimeoutMs === undefined ? {} : { timeoutMs: this.o.keygenTimeoutMs }),
    });
    if (outcome.status === 'aborted') {
      const culprits = outcome.culprits.map((x) => x.nodeId ?? `index ${x.index}`);
      throw new KeygenFailedError(
        `key generation aborted (${abortReason(outcome)}${culprits.length ? `; blamed: ${culprits.join(', ')}` : ''}); no wallet was created`,
        502,
      );
    }
    if (outcome.status === 'failed') {
      // a node shutting down is no fault: left out until it is back (creation answers 503 meanwhile)
      if (outcome.failure === 'draining') for (const id of outcome.nodes) c.markDraining(c.parties.indexOf(id));
      throw new KeygenFailedError(
        `key generation failed (${outcome.failure}: ${outcome.nodes.join(', ') || 'no node'}); no wallet was created`,
        503,
      );
    }
    const publicKey = outcome.result.publicKey;
    const record: WalletRecord = {
      walletId,
      ...(label === undefined ? {} : { label }),
      publicKey,
      createdAt: new Date().toISOString(),
      ...(keyHash === undefined ? {} : { idempotencyKeyHash: keyHash }),
    };
    let view: WalletView;
    try {
      view = this.view(record); // derives the addresses, so the key is checked to be a point before it is recorded
    } catch {
      throw new KeygenFailedError('key generation produced an invalid public key; no wallet was created', 502);
    }
    // every node reported this key (the orchestrator checks they agree): confirmed for `confirmed`
    this.keys.set(walletId, publicKey);
    await this.o.registry.append(record); // RegistryUnavailableError (503) if the commit fails
    return view;
  }
}
