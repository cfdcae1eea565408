/**
 * The routes for operators and tooling: GET /health (status for anyone, node counts for an
 * authenticated caller), GET /openapi.json (no authentication) and GET /metrics (its own
 * credential; the route does not exist without one).
 * @module
 */
import type { Router } from '@koa/router';
import type { HealthStatus } from '../cluster.js';
import type { CoordinatorMetrics } from '../metrics.js';
import { state, type RouteDeps } from './shared.js';

export interface HealthRoutes {
  readonly health: () => HealthStatus;
  readonly metrics: CoordinatorMetrics;
  /** whether GET /metrics exists (a metrics credential is configured) */
  readonly metricsEnabled: boolean;
  /** the OpenAPI document served at /openapi.json */
  readonly openApi: unknown;
}

export function registerHealthRoutes(router: Router, deps: RouteDeps, o: HealthRoutes): void {
  router.get('/health', (ctx) => {
    const h = o.health();
    ctx.status = h.status === 'unavailable' ? 503 : 200;
    ctx.set('Cache-Control', 'no-store');
    // Node counts and suspended node ids help an attacker time an attack on the node group: only
    // for a caller with a credential.
    ctx.body = state(ctx).principal === undefined ? { status: h.status } : h;
  });

  router.get('/openapi.json', (ctx) => {
    ctx.body = o.openApi;
  });

  if (o.metricsEnabled) {
    router.get('/metrics', deps.requireAuth('metrics-scraper'), async (ctx) => {
      const m = await o.metrics.exposition();
      ctx.type = m.contentType;
      ctx.body = m.body;
    });
  }
}
