/**
 * The coordinator's handle on one node: a `NodeLink` sends one request of the coordinator ↔ node
 * protocol (src/rpc/messages.ts) and returns the node's decoded JSON answer. Two implementations
 * fit: over the mutual-TLS transport (production) and straight into a node's request handler in
 * the same process (tests, a one-process cluster); see links.ts.
 *
 * `callNode` is the only way the coordinator reads an answer: the response is untrusted input, so
 * it is validated against the method's schema before anything uses it, and every failure becomes
 * a `NodeCallError` of one kind — the node is unreachable, too slow, refused the request, or
 * answered something malformed — never a protocol abort (those come inside valid answers).
 * @module
 */
import { z } from 'zod';
import { ConnectionClosedError, RequestTimeoutError, TransportError } from '../transport/errors.js';
import { errorResponseSchema, type Request } from '../rpc/messages.js';
import type { RpcErrorCode } from '../rpc/errors.js';

export interface NodeLink {
  /** NODE_IDS[index] */
  readonly nodeId: string;
  /** position in NODE_IDS: the node's party index */
  readonly index: number;
  /**
   * Sends one request; resolves with the node's decoded JSON response (`{ ok, ... }`, unchecked).
   * Rejects on transport failure; a timeout rejects with RequestTimeoutError.
   */
  request(req: Request, timeoutMs?: number): Promise<unknown>;
}

/**
 * `draining`: the node is shutting down (it answers every new request with the code `unavailable`
 * while its requests in flight finish, see src/node/main.ts). Nothing is wrong with it: the work
 * goes to other nodes, or is retried once it is back.
 */
export type NodeFailureKind = 'unavailable' | 'timeout' | 'rejected' | 'invalid-response' | 'draining';

/** The error code a node answers with while it shuts down. */
const DRAINING_CODE: RpcErrorCode = 'unavailable';

/** A request to one node failed (transport/timeout kind of failure, or a refusal by the node). */
export class NodeCallError extends Error {
  override readonly name = 'NodeCallError';

  constructor(
    readonly nodeId: string,
    readonly kind: NodeFailureKind,
    message: string,
    /** the node's error code, for `rejected` */
    readonly code?: RpcErrorCode,
  ) {
    super(`${nodeId}: ${message}`);
  }
}

const okSchema = z.object({ ok: z.literal(true) }).loose();
const notOkSchema = errorResponseSchema.extend({ ok: z.literal(false) }).strict();

/** Turns whatever a link threw into a NodeCallError (the message names no payload). */
export function linkFailure(link: NodeLink, e: unknown): NodeCallError {
  if (e instanceof NodeCallError) return e;
  if (e instanceof RequestTimeoutError) return new NodeCallError(link.nodeId, 'timeout', `${e.message}`);
  if (e instanceof ConnectionClosedError || e instanceof TransportError)
    return new NodeCallError(link.nodeId, 'unavailable', e.message);
  return new NodeCallError(link.nodeId, 'unavailable', e instanceof Error ? e.message : 'request failed');
}

/**
 * One request, its answer validated by `schema` (the body without `ok`).
 * @throws NodeCallError
 */
export async function callNode<S extends z.ZodType>(
  link: NodeLink,
  req: Request,
  schema: S,
  timeoutMs?: number,
): Promise<z.output<S>> {
  let raw: unknown;
  try {
    raw = await link.request(req, timeoutMs);
  } catch (e) {
    throw linkFailure(link, e);
  }
  const refused = notOkSchema.safeParse(raw);
  if (refused.success && refused.data.code === DRAINING_CODE)
    throw new NodeCallError(link.nodeId, 'draining', `is shutting down (refused ${req.method})`, refused.data.code);
  if (refused.success)
    throw new NodeCallError(
      link.nodeId,
      'rejected',
      `refused ${req.method}: ${refused.data.error} (${refused.data.code})`,
      refused.data.code,
    );
  if (!okSchema.safeParse(raw).success)
    throw new NodeCallError(link.nodeId, 'invalid-response', `malformed answer to ${req.method}`);
  const { ok: _ok, ...body } = raw as Record<string, unknown>;
  const parsed = schema.safeParse(body);
  if (!parsed.success)
    throw new NodeCallError(
      link.nodeId,
      'invalid-response',
      `malformed answer to ${req.method}: ${z.prettifyError(parsed.error).slice(0, 300)}`,
    );
  return parsed.data;
}
