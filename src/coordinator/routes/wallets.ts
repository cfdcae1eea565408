/**
 * The wallet routes of the wallet server: POST /v1/wallets (create; optional label and presign,
 * Idempotency-Key honoured) → 201, GET /v1/wallets (list, `limit` and `cursor`) and
 * GET /v1/wallets/:walletId.
 * @module
 */
import type { Router } from '@koa/router';
import { z } from 'zod';
import { HttpProblem } from '../problem.js';
import { MAX_LABEL_LENGTH, MAX_PAGE_SIZE } from '../registry.js';
import { labelIssue, type CreateWalletInput, type WalletView } from '../wallets.js';
import { body, issues, type RouteDeps } from './shared.js';

/** What the API needs of the wallet service (WalletService has it). */
export interface WalletsApi {
  create(input: CreateWalletInput): Promise<{ wallet: WalletView; replayed: boolean }>;
  /** the wallet, after catching up with the shared store when it is not known here (yet) */
  find(walletId: string): Promise<WalletView | undefined>;
  list(options: {
    limit?: number;
    cursor?: string;
  }): Promise<{ wallets: WalletView[]; nextCursor: string | undefined }>;
}

const createBodySchema = z
  .object({
    label: z
      .string()
      .min(1)
      .max(MAX_LABEL_LENGTH)
      .superRefine((label, ctx) => {
        const issue = labelIssue(label);
        if (issue !== undefined) ctx.addIssue({ code: 'custom', message: issue });
      })
      .optional(),
    presign: z.boolean().optional(),
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

export function registerWalletRoutes(router: Router, deps: RouteDeps, wallets: WalletsApi): void {
  const walletAuth = deps.requireAuth('wallet-server');

  router.post('/v1/wallets', walletAuth, deps.json, deps.parse, async (ctx) => {
    const parsed = createBodySchema.safeParse(body(ctx));
    if (!parsed.success) throw new HttpProblem(400, 'invalid-body', issues(parsed.error));
    const keyHeader = ctx.get('idempotency-key');
    let idempotencyKey: string | undefined;
    if (keyHeader !== '') {
      if (!idempotencyKeySchema.safeParse(keyHeader).success)
        throw new HttpProblem(400, 'invalid-idempotency-key', 'Idempotency-Key must be 1–255 visible ASCII characters');
      idempotencyKey = keyHeader;
    }
    const input: CreateWalletInput = {
      ...(parsed.data.label === undefined ? {} : { label: parsed.data.label }),
      ...(parsed.data.presign === undefined ? {} : { presign: parsed.data.presign }),
      ...(idempotencyKey === undefined ? {} : { idempotencyKey }),
      context: deps.contextOf(ctx),
    };
    const { wallet, replayed } = await wallets.create(input);
    ctx.status = 201;
    ctx.set('Location', `/v1/wallets/${wallet.walletId}`);
    if (replayed) ctx.set('Idempotent-Replayed', 'true');
    ctx.body = wallet;
  });

  router.get('/v1/wallets', walletAuth, async (ctx) => {
    const parsed = listQuerySchema.safeParse(ctx.query);
    if (!parsed.success) throw new HttpProblem(400, 'invalid-query', issues(parsed.error));
    const { limit, cursor } = parsed.data;
    const page = await wallets.list({
      ...(limit === undefined ? {} : { limit }),
      ...(cursor === undefined ? {} : { cursor }),
    });
    ctx.body = { wallets: page.wallets, nextCursor: page.nextCursor ?? null };
  });

  router.get('/v1/wallets/:walletId', walletAuth, async (ctx) => {
    ctx.body = await deps.wallet(ctx.params.walletId as string);
  });
}
