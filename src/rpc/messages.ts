/**
 * The coordinator ↔ node application protocol, carried in the request/response frames of the
 * mutual-TLS channel (src/transport). JSON with byte strings as base64 or hex, validated by zod
 * on receipt: a node treats every request as hostile input, the coordinator every response.
 *
 * Session flow (aux-info, keygen, presign, refresh):
 *   prepare  → each participant returns a fresh 32-byte nonce (sid freshness), a fingerprint
 *              of the state the session would use (epochs, aux-info and key share public data)
 *              and a fresh session public key signed with its identity key (point-to-point
 *              envelopes are encrypted to it: forward secrecy, src/envelope/envelope.ts)
 *   start    → with every participant's nonce, fingerprint and session key; a node refuses
 *              fingerprints that differ from its own ("state mismatch", nobody blamed), a key
 *              list without its own key at its position or with a key its party did not sign,
 *              derives sid = H(protocol, sessionId, parties, params, nonces, state, session keys),
 *              refuses a sid it has seen, starts the protocol and returns its first sealed envelopes
 *   deliver  → the envelopes addressed to this node (the coordinator routes by the envelope
 *              header: a broadcast goes to every other participant); returns new envelopes, and
 *              at the end the public result with, for aux/keygen/refresh, the evidence of commit
 *   finalize → a node that missed the last confirmations gets the evidence another node reported
 *              and commits its pending state (src/node/lifecycle.ts); `evidence` reads it back;
 *              `confirmation` gives a node's own signed confirmation of the run it holds pending,
 *              so the evidence can be gathered from the parties when the relay lost it
 * The coordinator only moves envelopes: they are signed, and point-to-point ones encrypted, by
 * the nodes (src/envelope/envelope.ts).
 * Reconciliation (src/coordinator/reconcile.ts): `wallets` lists the wallet scopes a node holds a
 * committed key share or a pending state for, a page at a time; `wallet` describes one; `archive`
 * moves a wallet's records (share, pending state, evidence) to the archived kind — never deleted
 * — and burns its presignatures, so shares no registered wallet owns stop being live.
 * A node restored from a copy (src/node/restore.ts) says `restored` in its `info` and takes part
 * in nothing until the coordinator, having found its committed epochs equal to its peers', sends
 * `reconciled` with the wallets it compared.
 * Signing: `sign` asks a signer for its partial signature with one presignature; the node marks
 * the presignature used durably before it answers.
 * @module
 */
import { z } from 'zod';
import { BLAME_CODES } from '../util/blame-codes.js';
import { RPC_ERROR_CODES } from './errors.js';

export const RPC_VERSION = 1;

const b64 = z
  .string()
  .max(2 * 1024 * 1024)
  .regex(/^[A-Za-z0-9+/]*={0,2}$/, 'base64');
const hex = (bytes: number) => z.string().regex(new RegExp(`^[0-9a-f]{${2 * bytes}}$`), `${bytes}-byte lower-case hex`);
/** A party's session public key (raw P-256 point) and its identity-key signature over it (src/node/session-key.ts). */
const sessionKeySchema = z.object({ key: hex(65), signature: hex(64) }).strict();
const nodeId = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/);
const sessionId = z.string().regex(/^[A-Za-z0-9_-]{8,64}$/);
export const walletIdSchema = z.string().regex(/^[A-Za-z0-9_-]{8,64}$/);

/** The most wallet scopes one `wallets` answer lists. */
export const MAX_WALLETS_PAGE = 500;
/** The most wallets one `reconciled` request names (the node refuses one that leaves out a wallet it holds). */
export const MAX_RECONCILED_WALLETS = 50_000;
/** The most pending wallet scopes one `info` answer names (the rest follow once these are resolved). */
export const MAX_PENDING_SCOPES = 64;

/**
 * Why a wallet's records are archived: `unregistered`, the coordinator's registry never heard of
 * it; `abandoned`, its key generation can no longer complete (the registry says so).
 */
export const ARCHIVE_REASONS = ['unregistered', 'abandoned'] as const;

/** What a commit switches: the group's aux-info, or one wallet's key share. */
export const scopeSchema = z.union([z.literal('aux'), walletIdSchema]);

/**
 * A resharing's setup: the dealers (indices in `parties`, sorted) with their indices in the old
 * group, the key's public data in the old group (n, t, Y, X), and the epoch the new shares take.
 */
export const reshareSetupSchema = z
  .object({
    dealers: z.array(z.number().int().min(0).max(15)).min(1).max(16),
    oldIndices: z.array(z.number().int().min(0).max(63)).min(1).max(16),
    old: z
      .object({
        n: z.number().int().min(2).max(64),
        t: z.number().int().min(1).max(64),
        publicKey: hex(33),
        X: z.array(hex(33)).min(2).max(64),
      })
      .strict(),
    epoch: z.number().int().min(1),
  })
  .strict();
export type ReshareSetup = z.infer<typeof reshareSetupSchema>;

export const PROTOCOLS = ['aux', 'keygen', 'presign', 'refresh', 'reshare'] as const;
export type ProtocolName = (typeof PROTOCOLS)[number];

export const requestSchema = z.discriminatedUnion('method', [
  z.object({ v: z.literal(RPC_VERSION), method: z.literal('info') }).strict(),
  z
    .object({
      v: z.literal(RPC_VERSION),
      method: z.literal('prepare'),
      sessionId,
      protocol: z.enum(PROTOCOLS),
      /** every node of the group, in index order (must equal the node's own configuration) */
      parties: z.array(nodeId).min(2).max(16),
      /** keygen, presign, refresh: the wallet */
      walletId: walletIdSchema.optional(),
      /** presign: the signers' indices, sorted */
      signers: z.array(z.number().int().min(0).max(15)).min(1).max(16).optional(),
      /** reshare: how the wallet's key moves to this group (every node of `parties` receives) */
      reshare: reshareSetupSchema.optional(),
      /**
       * aux: the epoch the new aux-info takes at every node (a group change: a node joining without
       * aux-info takes the group's next epoch); absent: the node's own next epoch
       */
      auxEpoch: z.number().int().min(1).optional(),
    })
    .strict(),
  z
    .object({
      v: z.literal(RPC_VERSION),
      method: z.literal('start'),
      sessionId,
      nonces: z.array(hex(32)).min(2).max(16),
      states: z.array(hex(32)).min(2).max(16),
      /** every participant's session key, in participant order */
      sessionKeys: z.array(sessionKeySchema).min(2).max(16),
    })
    .strict(),
  z
    .object({ v: z.literal(RPC_VERSION), method: z.literal('deliver'), sessionId, envelopes: z.array(b64).max(64) })
    .strict(),
  z.object({ v: z.literal(RPC_VERSION), method: z.literal('abort'), sessionId }).strict(),
  z
    .object({
      v: z.literal(RPC_VERSION),
      method: z.literal('finalize'),
      scope: scopeSchema,
      envelopes: z.array(b64).min(2).max(16),
    })
    .strict(),
  z.object({ v: z.literal(RPC_VERSION), method: z.literal('evidence'), scope: scopeSchema }).strict(),
  /** this node's own signed confirmation of the run whose successor it holds pending for `scope` */
  z.object({ v: z.literal(RPC_VERSION), method: z.literal('confirmation'), scope: scopeSchema }).strict(),
  /** sign that this node never confirmed run `sid` of `scope` and never will (cancelling it if it runs) */
  z.object({ v: z.literal(RPC_VERSION), method: z.literal('abandon'), scope: scopeSchema, sid: hex(32) }).strict(),
  /** drop a pending state of run `sid` on the signed abandonments of it by every other party of the group */
  z
    .object({
      v: z.literal(RPC_VERSION),
      method: z.literal('discard'),
      scope: scopeSchema,
      sid: hex(32),
      abandonments: z
        .array(z.object({ by: z.number().int().min(0).max(15), signature: hex(64) }).strict())
        .min(1)
        .max(15),
    })
    .strict(),
  /** wallet scopes held (committed share or pending state), sorted, after `after`, at most `limit` */
  z
    .object({
      v: z.literal(RPC_VERSION),
      method: z.literal('wallets'),
      after: walletIdSchema.optional(),
      limit: z.number().int().min(1).max(MAX_WALLETS_PAGE).optional(),
    })
    .strict(),
  /** one wallet scope: its committed share's public key and epoch, its pending state's run */
  z.object({ v: z.literal(RPC_VERSION), method: z.literal('wallet'), walletId: walletIdSchema }).strict(),
  /** move every record of a wallet scope to the archived kind (kept, never deleted) and burn its presignatures */
  z
    .object({
      v: z.literal(RPC_VERSION),
      method: z.literal('archive'),
      walletId: walletIdSchema,
      reason: z.enum(ARCHIVE_REASONS),
    })
    .strict(),
  /**
   * a node restored from a copy may clear its restored marker: the coordinator found its committed
   * aux epoch and the epochs of `wallets` (at least every wallet it holds) equal to every peer's
   */
  z
    .object({
      v: z.literal(RPC_VERSION),
      method: z.literal('reconciled'),
      wallets: z.array(walletIdSchema).max(MAX_RECONCILED_WALLETS),
    })
    .strict(),
  z
    .object({
      v: z.literal(RPC_VERSION),
      method: z.literal('sign'),
      walletId: walletIdSchema,
      presignatureId: hex(32),
      digest: hex(32),
    })
    .strict(),
]);
export type Request = z.infer<typeof requestSchema>;

export const outboxSchema = z
  .array(z.object({ to: z.union([z.number().int().min(0).max(15), z.literal('all')]), envelope: b64 }).strict())
  .max(64);

const resultSchema = z.discriminatedUnion('protocol', [
  z.object({ protocol: z.literal('aux'), auxId: hex(32) }).strict(),
  z.object({ protocol: z.literal('keygen'), walletId: walletIdSchema, publicKey: hex(33) }).strict(),
  /** epoch: the key share's epoch after the refresh (the same at every node) */
  z
    .object({
      protocol: z.literal('refresh'),
      walletId: walletIdSchema,
      publicKey: hex(33),
      epoch: z.number().int().min(1),
    })
    .strict(),
  z.object({ protocol: z.literal('presign'), walletId: walletIdSchema, presignature: b64 }).strict(),
  /** epoch: the key share's epoch in the new group (the same at every node) */
  z
    .object({
      protocol: z.literal('reshare'),
      walletId: walletIdSchema,
      publicKey: hex(33),
      epoch: z.number().int().min(1),
    })
    .strict(),
]);
export type SessionResult = z.infer<typeof resultSchema>;

export const sessionUpdateSchema = z
  .object({
    status: z.enum(['running', 'done', 'aborted']),
    outbox: outboxSchema,
    result: resultSchema.optional(),
    /** aux, keygen, refresh, reshare when done: every party's signed confirmation envelope, in party order */
    evidence: z.array(b64).min(2).max(16).optional(),
    /** aborted: whom the node blames, the failed check (a closed list) and the reason in words */
    abort: z
      .object({
        culprits: z.array(z.number().int().min(0).max(15)).max(16),
        code: z.enum(BLAME_CODES),
        reason: z.string().max(512),
      })
      .strict()
      .optional(),
  })
  .strict();
export type SessionUpdate = z.infer<typeof sessionUpdateSchema>;

export const infoSchema = z
  .object({
    nodeId,
    index: z.number().int().min(0),
    /** hash of the node group's aux-info public data, when the node has it */
    auxId: hex(32).optional(),
    /** the committed aux-info's epoch */
    auxEpoch: z.number().int().min(0).optional(),
    /** the epoch of an aux-info waiting for its commit evidence */
    auxPending: z.number().int().min(0).optional(),
    /** the session id of that pending aux-info's run */
    auxPendingSid: hex(32).optional(),
    /** safe primes ready for a new aux-info (4 are needed) */
    primesReady: z.number().int().min(0),
    wallets: z.number().int().min(0),
    /** wallet scopes holding a pending state (sorted, the first MAX_PENDING_SCOPES) */
    pendingScopes: z.array(walletIdSchema).min(1).max(MAX_PENDING_SCOPES).optional(),
    /** restored from a copy and not reconciled yet: it takes part in no session (src/node/restore.ts) */
    restored: z.literal(true).optional(),
    /**
     * its protocol workers (NODE_WORKERS): sessions it runs at once without queueing one behind
     * another (absent: one; a node with one leaves it out, so coordinators that predate the field
     * still accept its `info`)
     */
    workers: z.number().int().min(1).max(256).optional(),
  })
  .strict();
export type NodeInfo = z.infer<typeof infoSchema>;

export const prepareResponseSchema = z
  .object({ nonce: hex(32), state: hex(32), sessionKey: sessionKeySchema })
  .strict();
export const abandonResponseSchema = z.object({ by: z.number().int().min(0).max(15), signature: hex(64) }).strict();
export const discardResponseSchema = z.object({ discarded: z.boolean() }).strict();
export const finalizeResponseSchema = z.object({ result: resultSchema }).strict();
export const evidenceResponseSchema = z
  .object({
    protocol: z.enum(['aux', 'keygen', 'refresh', 'reshare']),
    epoch: z.number().int().min(0),
    envelopes: z.array(b64).min(2).max(16),
  })
  .strict();
export const confirmationResponseSchema = z
  .object({
    protocol: z.enum(['aux', 'keygen', 'refresh', 'reshare']),
    epoch: z.number().int().min(0),
    sid: hex(32),
    envelope: b64,
  })
  .strict();
export const walletsResponseSchema = z
  .object({
    wallets: z
      .array(z.object({ walletId: walletIdSchema, committed: z.boolean(), pending: z.boolean() }).strict())
      .max(MAX_WALLETS_PAGE),
    /** pass as `after` for the next page; absent on the last */
    next: walletIdSchema.optional(),
  })
  .strict();
export const walletResponseSchema = z
  .object({
    walletId: walletIdSchema,
    /** auxEpoch: the aux-info epoch the share was made or refreshed under (older than the group's: stale) */
    committed: z
      .object({
        publicKey: hex(33),
        epoch: z.number().int().min(0),
        auxEpoch: z.number().int().min(0).optional(),
        /** the key's public data in the group holding it: n, t, this node's index i, every X_j */
        key: z
          .object({
            n: z.number().int().min(2).max(64),
            t: z.number().int().min(1).max(64),
            i: z.number().int().min(0).max(63),
            X: z.array(hex(33)).min(2).max(64),
          })
          .strict()
          .optional(),
      })
      .strict()
      .optional(),
    pending: z
      .object({ protocol: z.enum(['keygen', 'refresh', 'reshare']), epoch: z.number().int().min(0), sid: hex(32) })
      .strict()
      .optional(),
  })
  .strict();
export const archiveResponseSchema = z
  .object({
    /** the record kinds moved to the archive (empty: the node held nothing of it) */
    archived: z.array(z.enum(['keyshare', 'pending', 'evidence'])).max(3),
    presignaturesBurnt: z.number().int().min(0),
  })
  .strict();
/** reconciled: false when the node held no restored marker (nothing to clear) */
export const reconciledResponseSchema = z.object({ reconciled: z.boolean() }).strict();
/**
 * `presignature`: SHA-256 of the public presignature the node holds under that id (its stored
 * encoding), so a coordinator that read the public parts from a shared database can tell a changed
 * row from a signer's wrong partial before it blames anyone (signing.ts).
 */
export const signResponseSchema = z
  .object({ signer: z.number().int().min(0), sigma: hex(32), presignature: hex(32).optional() })
  .strict();
export const errorResponseSchema = z.object({ error: z.string().max(512), code: z.enum(RPC_ERROR_CODES) }).strict();

export function encodeJson(value: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(value));
}

export function decodeJson(bytes: Uint8Array): unknown {
  return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
}
