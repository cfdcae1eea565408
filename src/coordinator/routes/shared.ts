/**
 * What the route modules share: the per-request state the app keeps on the context, the
 * middleware every route module uses (authentication, media type, body parsing) and small helpers
 * for reading a request. api.ts builds one RouteDeps per app and hands it to each module.
 * @module
 */
import type Koa from 'koa';
import type { z } from 'zod';
import type { RequestContext, WalletView } from '../wallets.js';

/** Who a request authenticated as. */
export type Principal = 'wallet-server' | 'metrics-scraper' | 'admin';

export interface ApiState {
  clientIp?: string;
  principal?: Principal;
  /** this request's id: the client's X-Request-Id when it is acceptable, else a fresh one */
  requestId?: string;
}

/** The per-request state this app keeps on the context. */
export const state = (ctx: Koa.Context): ApiState => ctx.state;

/** What every route module is given by the app that composes them (api.ts). */
export interface RouteDeps {
  /** 401 unless the request authenticated as `principal`; answers are never cached */
  readonly requireAuth: (principal: Principal) => Koa.Middleware;
  /** only JSON bodies (415 otherwise); a request without a body passes */
  readonly json: Koa.Middleware;
  /** parses the JSON body (size limit, strict JSON; 400 for a body that does not decode) */
  readonly parse: Koa.Middleware;
  /** who asked, for the audit records: the request id and the wallet server credential's public id */
  readonly contextOf: (ctx: Koa.Context) => RequestContext;
  /** the wallet of a path parameter, or 404 */
  readonly wallet: (walletId: string) => Promise<WalletView>;
}

export function issues(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((i) => `${i.path.length ? i.path.join('.') : 'body'}: ${i.message}`)
    .join('; ');
}

/** A body parsed as JSON by the body parser: `{}` when there was none. */
export function body(ctx: Koa.Context): unknown {
  return (ctx.request as unknown as { body?: unknown }).body ?? {};
}
