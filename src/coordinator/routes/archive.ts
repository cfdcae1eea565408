/**
 * The archive routes, behind the admin credential (COORDINATOR_ADMIN_TOKEN) like the other admin
 * routes: DELETE /v1/wallets/:walletId archives a wallet (it stays listed, with
 * `status: "archived"`, and neither signs nor is refreshed) and POST /v1/wallets/:walletId/restore
 * brings it back. Both answer 200 with the wallet, and the same for a wallet already in that state.
 * api.ts registers them only with that credential.
 * @module
 */
import type Koa from 'koa';
import type { Router } from '@koa/router';
import { HttpProblem } from '../problem.js';
import type { RequestContext, WalletView } from '../wallets.js';
import type { RouteDeps } from './shared.js';
import { emptyBody } from './admin.js';

/** What the archive routes need (WalletArchive has it). */
export interface ArchiveApi {
  archive(walletId: string, context?: RequestContext): Promise<WalletView>;
  restore(walletId: string, context?: RequestContext): Promise<WalletView>;
}

/** DELETE bodies are not parsed: any body at all is refused rather than ignored. */
const withoutBody: Koa.Middleware = async (ctx, next) => {
  if (ctx.get('transfer-encoding') !== '' || (ctx.request.length ?? 0) > 0)
    throw new HttpProblem(400, 'invalid-body', 'this request takes no body');
  await next();
};

/** `adminCredentialId`: the admin credential's public id, for the audit records */
export function registerArchiveRoutes(
  router: Router,
  deps: RouteDeps,
  archive: ArchiveApi,
  adminCredentialId: string | undefined,
): void {
  const adminAuth = deps.requireAuth('admin');
  const context = (requestId: string | undefined): RequestContext => ({
    ...(requestId === undefined ? {} : { requestId }),
    ...(adminCredentialId === undefined ? {} : { credentialId: adminCredentialId }),
  });
  router.delete('/v1/wallets/:walletId', adminAuth, withoutBody, async (ctx) => {
    const { walletId } = await deps.wallet(ctx.params.walletId as string);
    ctx.body = await archive.archive(walletId, context(deps.contextOf(ctx).requestId));
  });
  router.post('/v1/wallets/:walletId/restore', adminAuth, deps.json, deps.parse, emptyBody, async (ctx) => {
    const { walletId } = await deps.wallet(ctx.params.walletId as string);
    ctx.body = await archive.restore(walletId, context(deps.contextOf(ctx).requestId));
  });
}
