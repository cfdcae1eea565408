/**
 * The two NodeLinks: over the mutual-TLS transport (one `TransportClient` per node, which keeps
 * reconnecting by itself), and in process, straight into a node's byte handler — the same JSON
 * bytes either way, so a test cluster exercises the encoding the servers use.
 * @module
 */
import { decodeJson, encodeJson, type Request } from '../rpc/messages.js';
import { NodeCallError, type NodeLink } from './node-link.js';
import { RequestTimeoutError } from '../transport/errors.js';

/** What the transport link needs of a client (TransportClient has it). */
export interface RequestChannel {
  request(body: Uint8Array, options?: { timeoutMs?: number }): Promise<Uint8Array>;
}

function decodeAnswer(nodeId: string, bytes: Uint8Array): unknown {
  try {
    return decodeJson(bytes);
  } catch {
    throw new NodeCallError(nodeId, 'invalid-response', 'answer is not JSON');
  }
}

export class TransportNodeLink implements NodeLink {
  constructor(
    readonly nodeId: string,
    readonly index: number,
    private readonly channel: RequestChannel,
  ) {}

  async request(req: Request, timeoutMs?: number): Promise<unknown> {
    const bytes = await this.channel.request(
      encodeJson(req),
      timeoutMs === undefined ? {} : { timeoutMs: Math.max(1, Math.ceil(timeoutMs)) },
    );
    return decodeAnswer(this.nodeId, bytes);
  }
}

/** A node's request handler: bytes in, bytes out (NodeService.handleBytes). */
export type NodeHandler = (request: Uint8Array) => Promise<Uint8Array>;

export class InProcessNodeLink implements NodeLink {
  constructor(
    readonly nodeId: string,
    readonly index: number,
    private readonly handler: NodeHandler,
  ) {}

  async request(req: Request, timeoutMs?: number): Promise<unknown> {
    const answer = this.handler(encodeJson(req));
    if (timeoutMs === undefined) return decodeAnswer(this.nodeId, await answer);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new RequestTimeoutError(`${req.method} got no answer within ${timeoutMs} ms`)),
        timeoutMs,
      );
    });
    try {
      return decodeAnswer(this.nodeId, await Promise.race([answer, timeout]));
    } finally {
      clearTimeout(timer);
    }
  }
}
