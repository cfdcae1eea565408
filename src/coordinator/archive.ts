/**
 * Archiving wallets: an administrator switches a wallet off (`archive`) and on again (`restore`).
 * An archived wallet stays in the registry and its shares stay at the nodes; the coordinator
 * refuses to sign with it (signing.ts) or refresh it (rotation.ts, refresh-schedule.ts), and the
 * presignature pool stops stocking it and drops what it holds for it (the nodes' presignature
 * states of it are left to expire or be replaced: they are useless without a signing request).
 *
 * Each change is recorded in the registry (fsynced) and then in the audit log
 * (`wallet.archived`, `wallet.restored`) before it is answered; a change the audit log cannot take
 * is answered 503 and stays made; a retry by this process records it then. A request for the state a
 * wallet is already in changes nothing and answers the same view.
 * @module
 */
import { silentLogger, type Logger } from '../util/log.js';
import { WalletNotFoundError } from './errors.js';
import type { WalletStore } from './registry.js';
import { AuditUnavailableError, type AuditSink, type RequestContext, type WalletView } from './wallets.js';

export interface WalletArchiveOptions {
  readonly registry: WalletStore;
  /** the API's view of a committed wallet (WalletService.get) */
  readonly view: (walletId: string) => WalletView | undefined;
  readonly audit?: AuditSink;
  readonly log?: Logger;
  /** a wallet was archived: stop stocking it and drop its presignatures (PresignPool.untrack + discard) */
  readonly onArchived?: (walletId: string) => void;
  /** a wallet was restored (PresignPool.track) */
  readonly onRestored?: (walletId: string) => void;
  /** request context used when a request carries none (the admin credential's id) */
  readonly defaultContext?: RequestContext;
}

export class WalletArchive {
  private readonly log: Logger;
  /** changes made whose audit record could not be written: a repeat records them */
  private readonly unaudited = new Set<string>();

  constructor(private readonly o: WalletArchiveOptions) {
    this.log = (o.log ?? silentLogger()).child({ component: 'archive' });
  }

  /** @throws WalletNotFoundError, RegistryUnavailableError, AuditUnavailableError */
  archive(walletId: string, context?: RequestContext): Promise<WalletView> {
    return this.set(walletId, true, context);
  }

  /** @throws WalletNotFoundError, RegistryUnavailableError, AuditUnavailableError */
  restore(walletId: string, context?: RequestContext): Promise<WalletView> {
    return this.set(walletId, false, context);
  }

  private async set(walletId: string, archived: boolean, context: RequestContext = {}): Promise<WalletView> {
    if (this.o.registry.get(walletId) === undefined) throw new WalletNotFoundError(walletId);
    const changed = await this.o.registry.setArchived(walletId, archived);
    // the pool follows the registry even on a repeat: a repeat after a failed audit finishes the job
    if (archived) this.o.onArchived?.(walletId);
    else this.o.onRestored?.(walletId);
    const type = archived ? 'wallet.archived' : 'wallet.restored';
    const key = `${type} ${walletId}`;
    if (changed) {
      this.unaudited.delete(`${archived ? 'wallet.restored' : 'wallet.archived'} ${walletId}`);
      this.unaudited.add(key);
    }
    if (this.o.audit && this.unaudited.has(key)) {
      try {
        await this.o.audit.append({ type, walletId, ...this.o.defaultContext, ...context });
        this.unaudited.delete(key);
      } catch (e) {
        this.log.error({ walletId, type, err: (e as Error).message }, 'audit log: event not recorded; answer withheld');
        throw new AuditUnavailableError(
          `the audit log cannot be written; the wallet was ${archived ? 'archived' : 'restored'} but this is not confirmed`,
        );
      }
    }
    this.unaudited.delete(key);
    if (changed) this.log.info({ walletId }, archived ? 'wallet archived' : 'wallet restored');
    const view = this.o.view(walletId);
    if (!view) throw new WalletNotFoundError(walletId);
    return view;
  }
}
