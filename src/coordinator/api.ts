/**
 * The wallet HTTPS API as a Koa app factory. Nothing here listens: the entry point mounts the app
 * on an HTTPS server (TLS ≥ 1.2, timeouts and connection caps are the server's job, https.ts),
 * tests on whatever they like.
 *
 *   POST /v1/wallets                    create (optional label; Idempotency-Key honoured) → 201
 *   GET  /v1/wallets                    list, `limit` and `cursor`
 *   GET  /v1/wallets/:walletId          one wallet
 *   POST /v1/wallets/:walletId/sign     { digest: 32-byte hex } → { r, s, v, der, signature, signers }
 *   POST /v1/wallets/:walletId/refresh  admin: refresh the wallet's key shares → { walletId, publicKey, epoch }
 *   POST /v1/admin/rotation             admin: new aux-info, then every wallet refreshed → 202 job
 *   GET  /v1/admin/jobs/:jobId          admin: a job's progress
 *   DELETE /v1/wallets/:walletId        admin: archive the wallet (no signing, no refresh) → the wallet
 *   POST /v1/wallets/:walletId/restore  admin: bring an archived wallet back → the wallet
 *   GET  /health                        status for anyone; node counts for an authenticated caller
 *   GET  /metrics                       Prometheus text format; its own credential; off without one
 *   GET  /openapi.json                  the OpenAPI 3.1 document (docs/openapi.json), no authentication
 *
 * The routes live in routes/ (wallets, sign, admin, archive, health), one module per group, each
 * registering its routes on the app's router with the shared middleware (routes/shared.ts); this
 * module holds what is common to all of them (credentials, rate limits, errors) and composes them.
 *
 * One path for errors: everything thrown becomes application/problem+json with its status; 4xx
 * details say what was wrong with the request, 5xx say only what failed (RFC 9457). A method a
 * path does not have is 405 with `Allow`; OPTIONS is such a method (no CORS: the API is for a
 * wallet server, and a browser must not be able to call it).
 *
 * The admin routes take their own credential (COORDINATOR_ADMIN_TOKEN), never the wallet server's:
 * the wallet server signs, an operator rotates keys. Without one they do not exist (404).
 *
 * Order of checks: credential (if any), rate limit, route, authorization, media type, body size,
 * schema. The credential comes first so that each has a bucket of its own: a flood of requests
 * without one (or with a wrong one) spends only the small per-address bucket of unauthenticated
 * requests, never the wallet server's.
 * @module
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import Koa from 'koa';
import { Router } from '@koa/router';
import { bodyParser } from '@koa/bodyparser';
import { walletIdSchema } from '../rpc/messages.js';
import { silentLogger, type Logger } from '../util/log.js';
import type { AddressRange } from '../util/ip.js';
import { authorizationChecker, tokenOf } from './auth.js';
import { clientAddressResolver } from './client-ip.js';
import type { HealthStatus } from './cluster.js';
import { ServiceError } from './errors.js';
import type { CoordinatorMetrics } from './metrics.js';
import { HttpProblem, PROBLEM_CONTENT_TYPE, problemBody } from './problem.js';
import { monotonicNow, TokenBucketLimiter, type MonotonicClock, type RateLimitOptions } from './rate-limit.js';
import { InvalidCursorError } from './registry.js';
import type { RequestContext, WalletView } from './wallets.js';
import { registerAdminRoutes, type AdminApi } from './routes/admin.js';
import { registerArchiveRoutes, type ArchiveApi } from './routes/archive.js';
import { registerHealthRoutes } from './routes/health.js';
import { state, type Principal, type RouteDeps } from './routes/shared.js';
import { registerSignRoutes, type SignerApi } from './routes/sign.js';
import { registerWalletRoutes, type WalletsApi } from './routes/wallets.js';

export interface ApiOptions {
  readonly wallets: WalletsApi;
  readonly signer: SignerApi;
  readonly health: () => HealthStatus;
  readonly metrics: CoordinatorMetrics;
  /** the whole Authorization value wallet servers present (WALLET_SERVER_AUTH_TOKEN) */
  readonly authorization: string;
  /**
   * the public id of that credential (util/credential-id.ts), recorded with every wallet created
   * and every signature; computed by the caller once (it is deliberately slow)
   */
  readonly credentialId?: string;
  /** the whole Authorization value for GET /metrics (COORDINATOR_METRICS_TOKEN); undefined: /metrics is off */
  readonly metricsAuthorization?: string | undefined;
  /** the whole Authorization value for the admin routes (COORDINATOR_ADMIN_TOKEN); undefined: they are off */
  readonly adminAuthorization?: string | undefined;
  /** refresh and rotation (required with adminAuthorization) */
  readonly admin?: AdminApi;
  /** archiving and restoring wallets (admin routes; off without it or without adminAuthorization) */
  readonly archive?: ArchiveApi;
  /** the admin credential's public id, for the audit records of admin actions */
  readonly adminCredentialId?: string;
  /** the OpenAPI document served at /openapi.json (default: docs/openapi.json) */
  readonly openApi?: unknown;
  /** largest request body in bytes (default 16 KiB) */
  readonly maxBodyBytes?: number;
  /** per credential (default burst 120, 60 per second) */
  readonly rateLimit?: RateLimitOptions;
  /** per client address, for requests without a valid credential (default burst 20, 5 per second) */
  readonly anonymousRateLimit?: RateLimitOptions;
  /** reverse proxies whose X-Forwarded-For is believed (default none) */
  readonly trustedProxies?: readonly AddressRange[];
  /** monotonic clock in ms for the rate limits (tests) */
  readonly now?: MonotonicClock;
  readonly log?: Logger;
}

export const DEFAULT_MAX_BODY_BYTES = 16 * 1024;
export const DEFAULT_RATE_LIMIT: RateLimitOptions = { capacity: 120, refillPerSecond: 60 };
/** Enough for load-balancer health checks and a person with curl; small, because it is shared by anyone. */
export const DEFAULT_ANONYMOUS_RATE_LIMIT: RateLimitOptions = { capacity: 20, refillPerSecond: 5 };

/**
 * X-Request-Id values taken from a client: short and of characters that cannot break a log line
 * or a header (UUIDs, ULIDs, the ids proxies make). Anything else is replaced by a fresh id.
 */
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

function newRequestId(): string {
  return `req_${randomBytes(16).toString('base64url')}`;
}

/** docs/openapi.json, read relative to this module (dist/src/coordinator → docs/). */
export function loadOpenApiDocument(): unknown {
  return JSON.parse(readFileSync(new URL('../../../docs/openapi.json', import.meta.url), 'utf8'));
}

function route(ctx: Koa.Context): string {
  return (ctx as unknown as { _matchedRoute?: string })._matchedRoute ?? 'unmatched';
}

/**
 * The served document must not carry a credential (it is public): an example token in it would be
 * the one a careless deployment keeps. Refusing to start is louder than redacting.
 */
function assertNoCredential(doc: unknown, credentials: readonly (string | undefined)[]): void {
  const text = JSON.stringify(doc);
  for (const c of credentials) {
    if (c !== undefined && text.includes(tokenOf(c)))
      throw new RangeError('the OpenAPI document contains an API credential; remove it from the document');
  }
}

export function createApi(o: ApiOptions): Koa {
  const log = (o.log ?? silentLogger()).child({ component: 'api' });
  const walletServer = authorizationChecker(o.authorization);
  const metricsScraper =
    o.metricsAuthorization === undefined ? undefined : authorizationChecker(o.metricsAuthorization);
  if (o.metricsAuthorization !== undefined && o.metricsAuthorization === o.authorization)
    throw new RangeError("the metrics credential must differ from the wallet server's");
  const administrator = o.adminAuthorization === undefined ? undefined : authorizationChecker(o.adminAuthorization);
  if (
    o.adminAuthorization !== undefined &&
    (o.adminAuthorization === o.authorization || o.adminAuthorization === o.metricsAuthorization)
  ) {
    throw new RangeError("the admin credential must differ from the wallet server's and the metrics scraper's");
  }
  if (o.adminAuthorization !== undefined && o.admin === undefined)
    throw new RangeError('an admin credential needs the admin service');
  const now = o.now ?? monotonicNow;
  const byCredential = new TokenBucketLimiter({ now, ...(o.rateLimit ?? DEFAULT_RATE_LIMIT) });
  const byAddress = new TokenBucketLimiter({ now, ...(o.anonymousRateLimit ?? DEFAULT_ANONYMOUS_RATE_LIMIT) });
  const clientAddress = clientAddressResolver(o.trustedProxies ?? []);
  const maxBodyBytes = o.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const openApi = o.openApi ?? loadOpenApiDocument();
  assertNoCredential(openApi, [o.authorization, o.metricsAuthorization, o.adminAuthorization]);
  // Never Koa's own X-Forwarded-For handling: it believes any peer (client-ip.ts believes only trusted proxies).
  const app = new Koa({ proxy: false });
  // Koa would print every error itself; ours are answered and logged below.
  app.silent = true;

  // Outermost: metrics and the access log see the final status, errors included.
  app.use(async (ctx, next) => {
    const started = process.hrtime.bigint();
    try {
      await next();
    } finally {
      const labels = { method: ctx.method, route: route(ctx), status: String(ctx.status) };
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      o.metrics.httpRequests.inc(labels);
      o.metrics.httpDuration.observe(labels, seconds);
      log.debug(
        { ...labels, ms: Math.round(seconds * 1000), ip: state(ctx).clientIp, principal: state(ctx).principal },
        'request',
      );
    }
  });

  // Every answer, errors included, carries the request's id: the wallet server can match its own
  // logs with the audit records (wallet created, signature) that name it.
  app.use(async (ctx, next) => {
    const given = ctx.get('x-request-id');
    const requestId = REQUEST_ID.test(given) ? given : newRequestId();
    state(ctx).requestId = requestId;
    ctx.set('X-Request-Id', requestId);
    await next();
  });

  // The one error path.
  app.use(async (ctx, next) => {
    try {
      await next();
      if (ctx.status === 404 && ctx.body === undefined)
        throw new HttpProblem(404, 'not-found', `no route ${ctx.method} ${ctx.path}`);
    } catch (e) {
      const p = toProblem(e, log);
      ctx.status = p.status;
      ctx.set(p.headers);
      ctx.type = PROBLEM_CONTENT_TYPE;
      ctx.body = problemBody(p.status, p.slug, p.detail);
    }
  });

  // Credential, then the rate limit of that credential — or of the client address without one.
  app.use(async (ctx, next) => {
    const s = state(ctx);
    const forwarded = ctx.get('x-forwarded-for');
    s.clientIp = clientAddress(ctx.req.socket.remoteAddress, forwarded === '' ? undefined : forwarded);
    const header = ctx.get('authorization');
    if (header !== '') {
      // both checks always run: which credential a header is close to must not show in the timing
      const isWallet = walletServer(header);
      const isMetrics = metricsScraper?.(header) ?? false;
      const isAdmin = administrator?.(header) ?? false;
      if (isWallet) s.principal = 'wallet-server';
      else if (isMetrics) s.principal = 'metrics-scraper';
      else if (isAdmin) s.principal = 'admin';
    }
    const decision = s.principal !== undefined ? byCredential.take(s.principal) : byAddress.take(`ip:${s.clientIp}`);
    if (!decision.allowed) {
      throw new HttpProblem(429, 'rate-limited', `too many requests; retry in ${decision.retryAfterS} s`, {
        'Retry-After': String(decision.retryAfterS),
      });
    }
    await next();
  });

  const requireAuth =
    (principal: Principal): Koa.Middleware =>
    async (ctx, next) => {
      if (state(ctx).principal !== principal) {
        const detail =
          ctx.get('authorization') === ''
            ? 'the Authorization header is required'
            : 'the Authorization header is not valid';
        throw new HttpProblem(401, 'unauthorized', detail, { 'WWW-Authenticate': 'Bearer realm="mpc-engine"' });
      }
      ctx.set('Cache-Control', 'no-store');
      await next();
    };
  /** Who asked, for the audit records: the request id and the credential's public id (never the token). */
  const contextOf = (ctx: Koa.Context): RequestContext => ({
    ...(state(ctx).requestId === undefined ? {} : { requestId: state(ctx).requestId as string }),
    ...(o.credentialId === undefined ? {} : { credentialId: o.credentialId }),
  });

  // Only JSON bodies; a request without one (no or zero Content-Length, nothing chunked) is fine.
  const json: Koa.Middleware = async (ctx, next) => {
    if (ctx.request.length !== 0 && ctx.request.is('application/json') === false) {
      throw new HttpProblem(415, 'unsupported-media-type', 'the request body must be application/json');
    }
    await next();
  };
  const parseJson = bodyParser({ enableTypes: ['json'], jsonLimit: maxBodyBytes, jsonStrict: true, encoding: 'utf-8' });
  // The parser's own errors carry a 4xx status; a body that does not decompress (gzip, deflate, br)
  // fails inside zlib, with none — that is the client's fault too, not a 500.
  const parse: Koa.Middleware = async (ctx, next) => {
    let parsed = false;
    try {
      await parseJson(ctx, () => {
        parsed = true;
        return next();
      });
    } catch (e) {
      if (parsed) throw e;
      const status = (e as { status?: unknown } | null)?.status;
      if (typeof status === 'number') throw e;
      log.debug(
        { code: (e as { code?: unknown } | null)?.code, encoding: ctx.get('content-encoding') },
        'request body does not decode',
      );
      throw new HttpProblem(400, 'invalid-encoding', 'the request body could not be decoded with its Content-Encoding');
    }
  };

  const wallet = async (walletId: string): Promise<WalletView> => {
    const w = walletIdSchema.safeParse(walletId).success ? await o.wallets.find(walletId) : undefined;
    if (!w) throw new HttpProblem(404, 'wallet-not-found', `no wallet ${JSON.stringify(walletId.slice(0, 80))}`);
    return w;
  };
  const deps: RouteDeps = { requireAuth, json, parse, contextOf, wallet };

  const router = new Router();
  registerHealthRoutes(router, deps, {
    health: o.health,
    metrics: o.metrics,
    metricsEnabled: o.metricsAuthorization !== undefined,
    openApi,
  });
  registerWalletRoutes(router, deps, o.wallets);
  registerSignRoutes(router, deps, o.signer);
  if (o.admin !== undefined && o.adminAuthorization !== undefined)
    registerAdminRoutes(router, deps, o.admin, o.adminCredentialId);
  if (o.archive !== undefined && o.adminAuthorization !== undefined)
    registerArchiveRoutes(router, deps, o.archive, o.adminCredentialId);

  app.use(router.routes());
  // No route for this path and method: 404 if the path has none, else 405 with the methods it has
  // (OPTIONS included: there is no CORS preflight to answer).
  app.use((ctx) => {
    const allowed = [...new Set(router.match(ctx.path, ctx.method).path.flatMap((layer) => layer.methods))].sort();
    if (allowed.length === 0)
      throw new HttpProblem(404, 'not-found', `no route ${ctx.method} ${ctx.path.slice(0, 200)}`);
    throw new HttpProblem(
      405,
      'method-not-allowed',
      `${ctx.method} is not allowed here; allowed: ${allowed.join(', ')}`,
      { Allow: allowed.join(', ') },
    );
  });
  return app;
}

/** Anything thrown → status, problem slug, detail, headers. Unknown errors are logged, not shown. */
function toProblem(e: unknown, log: Logger): HttpProblem {
  if (e instanceof HttpProblem) return e;
  if (e instanceof ServiceError) {
    // the message may quote a node (abort reasons, node errors): logged here, never answered
    if (e.status >= 500) log.warn({ problem: e.problem, detail: e.message }, 'request failed');
    return new HttpProblem(
      e.status,
      e.problem,
      e.publicDetail,
      e.retryAfterS === undefined ? {} : { 'Retry-After': String(e.retryAfterS) },
    );
  }
  if (e instanceof InvalidCursorError)
    return new HttpProblem(400, 'invalid-cursor', 'the cursor is not one this API handed out');
  // Errors of the body parser and the router carry a status (http-errors).
  const status = (e as { status?: unknown } | null)?.status;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    const type = (e as { type?: unknown }).type;
    if (status === 413) return new HttpProblem(413, 'body-too-large', 'the request body is too large');
    if (status === 415)
      return new HttpProblem(415, 'unsupported-media-type', 'unsupported content encoding or charset');
    if (type === 'request.aborted') return new HttpProblem(400, 'request-aborted', 'the request body was cut short');
    return new HttpProblem(
      status === 400 ? 400 : status,
      status === 400 ? 'invalid-json' : 'bad-request',
      status === 400 ? 'the request body is not a JSON object' : 'bad request',
    );
  }
  if (typeof status === 'number' && status === 501)
    return new HttpProblem(501, 'not-implemented', 'method not implemented');
  log.error(
    { err: e instanceof Error ? e.message : String(e), stack: e instanceof Error ? e.stack : undefined },
    'unexpected error',
  );
  return new HttpProblem(500, 'internal', 'internal error');
}
