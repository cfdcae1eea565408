/**
 * The admin routes, behind the admin credential (COORDINATOR_ADMIN_TOKEN), never the wallet
 * server's: POST /v1/wallets/:walletId/refresh (refresh the wallet's key shares), POST
 * /v1/admin/rotation (new aux-info, then every wallet refreshed → 202 job), POST /v1/admin/reshare
 * (every wallet moved to the configured node group → 202 job) and GET /v1/admin/jobs/:jobId (a
 * job's progress). api.ts registers them only with that credential.
 * @module
 */
import type Koa from 'koa';
import type { Router } from '@koa/router';
import { z } from 'zod';
import { HttpProblem } from '../problem.js';
import type { RefreshResult, RotationJobView } from '../rotation.js';
import type { ReshareJobView } from '../reshare.js';
import type { RequestContext } from '../wallets.js';
import { body, type RouteDeps } from './shared.js';

/** What the admin routes need of key rotation (KeyRotation) and of moving wallets to a new group (GroupReshare). */
export interface AdminApi {
  refresh(walletId: string, reason: 'admin', context?: RequestContext): Promise<RefreshResult>;
  startRotation(context?: RequestContext): RotationJobView | Promise<RotationJobView>;
  startReshare?(context?: RequestContext): ReshareJobView | Promise<ReshareJobView>;
  /** a job of this coordinator, or (several coordinators) of any, as the one running it recorded it */
  job(jobId: string): AnyJobView | undefined | Promise<AnyJobView | undefined>;
}

/** A job's view: this coordinator's own, or one another coordinator recorded in the shared database. */
type AnyJobView =
  RotationJobView | ReshareJobView | { readonly jobId: string; readonly kind: string; readonly status: string };

const emptyBodySchema = z.object({}).strict();
const jobIdSchema = z.string().regex(/^job_[A-Za-z0-9_-]{16}$/);

/** 400 unless the request has no body, or an empty JSON object (after deps.parse). */
export const emptyBody: Koa.Middleware = async (ctx, next) => {
  if (!emptyBodySchema.safeParse(body(ctx)).success)
    throw new HttpProblem(400, 'invalid-body', 'this request takes no body, or an empty JSON object');
  await next();
};

/** `adminCredentialId`: the admin credential's public id, for the audit records of admin actions */
export function registerAdminRoutes(
  router: Router,
  deps: RouteDeps,
  admin: AdminApi,
  adminCredentialId: string | undefined,
): void {
  const adminAuth = deps.requireAuth('admin');
  const context = (): RequestContext => (adminCredentialId === undefined ? {} : { credentialId: adminCredentialId });
  const noBody = emptyBody;
  router.post('/v1/wallets/:walletId/refresh', adminAuth, deps.json, deps.parse, noBody, async (ctx) => {
    const { walletId } = await deps.wallet(ctx.params.walletId as string);
    ctx.body = await admin.refresh(walletId, 'admin', context());
  });
  router.post('/v1/admin/rotation', adminAuth, deps.json, deps.parse, noBody, async (ctx) => {
    const job = await admin.startRotation(context());
    ctx.status = 202;
    ctx.set('Location', `/v1/admin/jobs/${job.jobId}`);
    ctx.body = job;
  });
  const startReshare = admin.startReshare?.bind(admin);
  if (startReshare)
    router.post('/v1/admin/reshare', adminAuth, deps.json, deps.parse, noBody, async (ctx) => {
      const job = await startReshare(context());
      ctx.status = 202;
      ctx.set('Location', `/v1/admin/jobs/${job.jobId}`);
      ctx.body = job;
    });
  router.get('/v1/admin/jobs/:jobId', adminAuth, async (ctx) => {
    const jobId = ctx.params.jobId as string;
    const job = jobIdSchema.safeParse(jobId).success ? await admin.job(jobId) : undefined;
    if (!job) throw new HttpProblem(404, 'job-not-found', `no job ${JSON.stringify(jobId.slice(0, 80))}`);
    ctx.body = job;
  });
}
