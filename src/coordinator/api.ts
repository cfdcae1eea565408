/**
 * The wallet HTTPS API as a Koa app factory. Nothing here listens: the entry point mounts the app
 * on an HTTPS server (TLS ≥ 1.2 is the server's job, https.ts), tests on whatever they like.
 *
 *   POST /v1/wallets                    create (optional label; Idempotency-Key honoured) → 201
 *   GET  /v1/wallets                    list, `limit` and `cursor`
 *   GET  /v1/wallets/:walletId          one wallet
 *   POST /v1/wallets/:walletId/sign     { digest: 32-byte hex } → { r, s, v, der, signature, signers }
 *   GET  /health                        no authentication
 *   GET  /metrics                       Prometheus text format
 *   GET  /openapi.json                  the OpenAPI 3.1 document (docs/openapi.json), no authentication
 *
 * One path for errors: everything thrown becomes application/problem+json with its status; 4xx
 * details say what was wrong with the request, 5xx say only what failed (RFC 9457, STYLE.md 13).
 * Order of checks: rate limit (per client IP), authentication, media type, body size, schema.
 * @module
 */
import { readFileSync } from 'node:fs';
import Koa from 'koa';
import { Router } from '@koa/router';
import { bodyParser } from '@koa/bodyparser';
import { z } from 'zod';
import { walletIdSchema } from '../rpc/messages.js';
import { silentLogger, type Logger } from '../util/log.js';
import { authorizationChecker } from './auth.js';
import type { HealthStatus } from './cluster.js';
import { ServiceError } from './errors.js';
import type { CoordinatorMetrics } from './metrics.js';
import { HttpProblem, PROBLEM_CONTENT_TYPE, problemBody } from './problem.js';
import { TokenBucketLimiter, type RateLimitOptions } from './rate-limit.js';
import { InvalidCursorError, MAX_LABEL_LENGTH, MAX_PAGE_SIZE } from './registry.js';
import type { SignatureResult } from './signing.js';
import type { CreateWalletInput, WalletView } from './wallets.js';

/** What the API needs of the wallet service (WalletService has it). */
export interface WalletsApi {
  create(input: CreateWalletInput): Promise<{ wallet: WalletView; replayed: boolean }>;
  get(walletId: string): WalletView | undefined;
  list(options: { limit?: number; cursor?: string }): { wallets: WalletView[]; nextCursor: string | undefined };
}

/** What the API needs of the signing service (SigningService has it). */
export interface SignerApi {
  sign(walletId: string, digest: Uint8Array): Promise<SignatureResult>;
}

export interface ApiOptions {
  readonly wallets: WalletsApi;
  readonly signer: SignerApi;
  readonly health: () => HealthStatus;
  readonly metrics: CoordinatorMetrics;
  /** the whole Authorization value wallet servers present (WALLET_SERVER_AUTH_TOKEN) */
  readonly authorization: string;
  /** the OpenAPI document served at /openapi.json (default: docs/openapi.json) */
  readonly openApi?: unknown;
  /** largest request body in bytes (default 16 KiB) */
  readonly maxBodyBytes?: number;
  /** per client IP (default burst 120, 60 per second) */
  readonly rateLimit?: RateLimitOptions;
  /** trust X-Forwarded-For for the client IP (only behind a proxy you run; default false) */
  readonly trustProxy?: boolean;
  readonly log?: Logger;
}

export const DEFAULT_MAX_BODY_BYTES = 16 * 1024;
export const DEFAULT_RATE_LIMIT: RateLimitOptions = { capacity: 120, refillPerSecond: 60 };

/** docs/openapi.json, read relative to this module (dist/src/coordinator → docs/). */
export function loadOpenApiDocument(): unknown {
  return JSON.parse(readFileSync(new URL('../../../docs/openapi.json', import.meta.url), 'utf8'));
}

const digestSchema = z.string().regex(/^(0x)?[0-9a-fA-F]{64}$/);
const signBodySchema = z.object({ digest: z.unknown() }).strict();
const createBodySchema = z
  .object({
    label: z
      .string()
      .min(1)
      .max(MAX_LABEL_LENGTH)
      .regex(/^[^\p{Cc}]*$/u, 'no control characters')
      .optional(),
  })
  .strict();
const listQuerySchema = z
  .object({
    limit: z
      .string()
      .regex(/^\d{1,3}$/)
      .transform(Number)
      .pipe(z.number().int().min(1).max(MAX_PAGE_SIZE))
      .optional(),
    cursor: z.string().min(1).max(200).optional(),
  })
  .strict();
/** Visible ASCII, as the Idempotency-Key draft's examples (UUIDs and the like). */
const idempotencyKeySchema = z.string().regex(/^[\x21-\x7e]{1,255}$/);

function issues(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((i) => `${i.path.length ? i.path.join('.') : 'body'}: ${i.message}`)
    .join('; ');
}

/** A body parsed as JSON by the body parser: `{}` when there was none. */
function body(ctx: Koa.Context): unknown {
  return (ctx.request as unknown as { body?: unknown }).body ?? {};
}

function route(ctx: Koa.Context): string {
  return (ctx as unknown as { _matchedRoute?: string })._matchedRoute ?? 'unmatched';
}

export function createApi(o: ApiOptions): Koa {
  const log = (o.log ?? silentLogger()).child({ component: 'api' });
  const authorized = authorizationChecker(o.authorization);
  const limiter = new TokenBucketLimiter(o.rateLimit ?? DEFAULT_RATE_LIMIT);
  const maxBodyBytes = o.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const openApi = o.openApi ?? loadOpenApiDocument();
  const app = new Koa({ proxy: o.trustProxy ?? false });
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
      log.debug({ ...labels, ms: Math.round(seconds * 1000), ip: ctx.ip }, 'request');
    }
  });

  // The one error path.
  app.use(async (ctx, next) => {
    try {
      await next();
      if (ctx.status === 404 && ctx.body === undefined) throw new HttpProblem(404, 'not-found', `no route ${ctx.method} ${ctx.path}`);
    } catch (e) {
      const p = toProblem(e, log);
      ctx.status = p.status;
      ctx.set(p.headers);
      ctx.type = PROBLEM_CONTENT_TYPE;
      ctx.body = problemBody(p.status, p.slug, p.detail);
    }
  });

  app.use(async (ctx, next) => {
    const decision = limiter.take(ctx.ip);
    if (!decision.allowed) {
      throw new HttpProblem(429, 'rate-limited', `too many requests; retry in ${decision.retryAfterS} s`, { 'Retry-After': String(decision.retryAfterS) });
    }
    await next();
  });

  const requireAuth: Koa.Middleware = async (ctx, next) => {
    const header = ctx.get('authorization');
    if (!authorized(header === '' ? undefined : header)) {
      const detail = header === '' ? 'the Authorization header is required' : 'the Authorization header is not valid';
      throw new HttpProblem(401, 'unauthorized', detail, { 'WWW-Authenticate': 'Bearer realm="mpc-engine"' });
    }
    ctx.set('Cache-Control', 'no-store');
    await next();
  };

  // Only JSON bodies; a request without one (no or zero Content-Length, nothing chunked) is fine.
  const json: Koa.Middleware = async (ctx, next) => {
    if (ctx.request.length !== 0 && ctx.request.is('application/json') === false) {
      throw new HttpProblem(415, 'unsupported-media-type', 'the request body must be application/json');
    }
    await next();
  };
  const parse = bodyParser({ enableTypes: ['json'], jsonLimit: maxBodyBytes, jsonStrict: true, encoding: 'utf-8' });

  const router = new Router();

  router.get('/health', (ctx) => {
    const h = o.health();
    ctx.status = h.status === 'unavailable' ? 503 : 200;
    ctx.set('Cache-Control', 'no-store');
    ctx.body = h;
  });

  router.get('/openapi.json', (ctx) => {
    ctx.body = openApi;
  });

  router.get('/metrics', requireAuth, async (ctx) => {
    const m = await o.metrics.exposition();
    ctx.type = m.contentType;
    ctx.body = m.body;
  });

  router.post('/v1/wallets', requireAuth, json, parse, async (ctx) => {
    const parsed = createBodySchema.safeParse(body(ctx));
    if (!parsed.success) throw new HttpProblem(400, 'invalid-body', issues(parsed.error));
    const keyHeader = ctx.get('idempotency-key');
    let idempotencyKey: string | undefined;
    if (keyHeader !== '') {
      if (!idempotencyKeySchema.safeParse(keyHeader).success) throw new HttpProblem(400, 'invalid-idempotency-key', 'Idempotency-Key must be 1–255 visible ASCII characters');
      idempotencyKey = keyHeader;
    }
    const input: CreateWalletInput = {
      ...(parsed.data.label === undefined ? {} : { label: parsed.data.label }),
      ...(idempotencyKey === undefined ? {} : { idempotencyKey }),
    };
    const { wallet, replayed } = await o.wallets.create(input);
    ctx.status = 201;
    ctx.set('Location', `/v1/wallets/${wallet.walletId}`);
    if (replayed) ctx.set('Idempotent-Replayed', 'true');
    ctx.body = wallet;
  });

  router.get('/v1/wallets', requireAuth, (ctx) => {
    const parsed = listQuerySchema.safeParse(ctx.query);
    if (!parsed.success) throw new HttpProblem(400, 'invalid-query', issues(parsed.error));
    const { limit, cursor } = parsed.data;
    const page = o.wallets.list({ ...(limit === undefined ? {} : { limit }), ...(cursor === undefined ? {} : { cursor }) });
    ctx.body = { wallets: page.wallets, nextCursor: page.nextCursor ?? null };
  });

  const wallet = (walletId: string): WalletView => {
    const w = walletIdSchema.safeParse(walletId).success ? o.wallets.get(walletId) : undefined;
    if (!w) throw new HttpProblem(404, 'wallet-not-found', `no wallet ${JSON.stringify(walletId.slice(0, 80))}`);
    return w;
  };

  router.get('/v1/wallets/:walletId', requireAuth, (ctx) => {
    ctx.body = wallet(ctx.params.walletId as string);
  });

  router.post('/v1/wallets/:walletId/sign', requireAuth, json, parse, async (ctx) => {
    const parsed = signBodySchema.safeParse(body(ctx));
    if (!parsed.success) throw new HttpProblem(400, 'invalid-body', issues(parsed.error));
    const digest = digestSchema.safeParse(parsed.data.digest);
    if (!digest.success) throw new HttpProblem(400, 'invalid-digest', 'digest must be 32 bytes as 64 hex digits (0x optional); the API signs digests and never hashes');
    const { walletId } = wallet(ctx.params.walletId as string);
    const bytes = Uint8Array.from(Buffer.from(digest.data.replace(/^0x/, ''), 'hex'));
    ctx.body = await o.signer.sign(walletId, bytes);
  });

  app.use(router.routes());
  app.use(router.allowedMethods({ throw: true }));
  return app;
}

/** Anything thrown → status, problem slug, detail, headers. Unknown errors are logged, not shown. */
function toProblem(e: unknown, log: Logger): HttpProblem {
  if (e instanceof HttpProblem) return e;
  if (e instanceof ServiceError) {
    if (e.status >= 500) log.warn({ problem: e.problem, detail: e.message }, 'request failed');
    return new HttpProblem(e.status, e.problem, e.message, e.retryAfterS === undefined ? {} : { 'Retry-After': String(e.retryAfterS) });
  }
  if (e instanceof InvalidCursorError) return new HttpProblem(400, 'invalid-cursor', 'the cursor is not one this API handed out');
  // Errors of the body parser and the router carry a status (http-errors).
  const status = (e as { status?: unknown } | null)?.status;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    const type = (e as { type?: unknown }).type;
    if (status === 413) return new HttpProblem(413, 'body-too-large', 'the request body is too large');
    if (status === 415) return new HttpProblem(415, 'unsupported-media-type', 'unsupported content encoding or charset');
    if (status === 405) return new HttpProblem(405, 'method-not-allowed', (e as Error).message);
    if (type === 'request.aborted') return new HttpProblem(400, 'request-aborted', 'the request body was cut short');
    return new HttpProblem(status === 400 ? 400 : status, status === 400 ? 'invalid-json' : 'bad-request', status === 400 ? 'the request body is not a JSON object' : 'bad request');
  }
  if (typeof status === 'number' && status === 501) return new HttpProblem(501, 'not-implemented', 'method not implemented');
  log.error({ err: e instanceof Error ? e.message : String(e), stack: e instanceof Error ? e.stack : undefined }, 'unexpected error');
  return new HttpProblem(500, 'internal', 'internal error');
}
