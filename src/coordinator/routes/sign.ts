/**
 * The signing route of the wallet server: POST /v1/wallets/:walletId/sign with
 * { digest: 32-byte hex } → { r, s, v, der, signature, signers }.
 * @module
 */
import type { Router } from '@koa/router';
import { z } from 'zod';
import { HttpProblem } from '../problem.js';
import type { SignatureResult } from '../signing.js';
import type { RequestContext } from '../wallets.js';
import { body, issues, type RouteDeps } from './shared.js';

/** What the API needs of the signing service (SigningService has it). */
export interface SignerApi {
  /** `signal` aborts when the client has gone: no work is started for it any more */
  sign(
    walletId: string,
    digest: Uint8Array,
    context?: RequestContext,
    options?: { signal?: AbortSignal },
  ): Promise<SignatureResult>;
}

const digestSchema = z.string().regex(/^(0x)?[0-9a-fA-F]{64}$/);
const signBodySchema = z.object({ digest: z.unknown() }).strict();

export function registerSignRoutes(router: Router, deps: RouteDeps, signer: SignerApi): void {
  router.post('/v1/wallets/:walletId/sign', deps.requireAuth('wallet-server'), deps.json, deps.parse, async (ctx) => {
    const parsed = signBodySchema.safeParse(body(ctx));
    if (!parsed.success) throw new HttpProblem(400, 'invalid-body', issues(parsed.error));
    const digest = digestSchema.safeParse(parsed.data.digest);
    if (!digest.success)
      throw new HttpProblem(
        400,
        'invalid-digest',
        'digest must be 32 bytes as 64 hex digits (0x optional); the API signs digests and never hashes',
      );
    const { walletId } = await deps.wallet(ctx.params.walletId as string);
    const bytes = Uint8Array.from(Buffer.from(digest.data.replace(/^0x/, ''), 'hex'));
    // The client leaving (the response closed before it was written) cancels work not yet started
    // for it: a presignature made on demand for nobody would only cost the signers.
    const gone = new AbortController();
    const onClose = (): void => {
      if (!ctx.res.writableEnded) gone.abort();
    };
    ctx.res.once('close', onClose);
    try {
      ctx.body = await signer.sign(walletId, bytes, deps.contextOf(ctx), { signal: gone.signal });
    } finally {
      ctx.res.off('close', onClose);
    }
  });
}
