/**
 * A framed connection over an authenticated TLS socket: one-way messages, request/response with
 * correlation ids and per-request timeouts, heartbeats, and the connection's own safety limits.
 * Anything the peer gets wrong — garbage, an oversized or stalled frame, silence — closes this
 * connection and nothing else; pending requests then fail with the reason.
 *
 * The server side sends READY once it has accepted the client's identity; the client treats the
 * connection as up only then, because under TLS 1.3 a client finishes its handshake before the
 * server has judged the client's certificate.
 * @module
 */
import { EventEmitter } from 'node:events';
import type { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import { silentLogger } from '../util/log.js';
import {
  ConnectionClosedError,
  FrameError,
  FrameTimeoutError,
  HeartbeatTimeoutError,
  RemoteError,
  RequestRejected,
  RequestTimeoutError,
} from './errors.js';
import {
  DEFAULT_MAX_FRAME_BYTES,
  FrameDecoder,
  FrameType,
  MAX_ERROR_REASON_BYTES,
  checkOutgoing,
  encodeHeader,
  typeName,
  withId,
  type Frame,
} from './frame.js';
import { formatIdentity, type PeerIdentity } from './identity.js';

export interface ConnectionOptions {
  /** largest frame payload accepted or sent (default 4 MiB) */
  maxFrameBytes?: number;
  /** a frame must arrive whole within this time from its first byte (default 30 s) */
  frameTimeoutMs?: number;
  /** a PING every interval (default 5 s) … */
  heartbeatIntervalMs?: number;
  /** … and the peer is dead after this many intervals without an answer or other frame (default 3) */
  heartbeatMisses?: number;
  /** default timeout of `request` (default 30 s) */
  requestTimeoutMs?: number;
  /** cap on this side's outstanding requests (default 1024) */
  maxPendingRequests?: number;
  logger?: Logger;
}

export const CONNECTION_DEFAULTS = {
  maxFrameBytes: DEFAULT_MAX_FRAME_BYTES,
  frameTimeoutMs: 30_000,
  heartbeatIntervalMs: 5_000,
  heartbeatMisses: 3,
  requestTimeoutMs: 30_000,
  maxPendingRequests: 1024,
} as const;

/** Only the connection options out of a larger options object (so nothing else is kept around). */
export function connectionOptions(o: ConnectionOptions): ConnectionOptions {
  const out: ConnectionOptions = {};
  for (const k of [
    'maxFrameBytes',
    'frameTimeoutMs',
    'heartbeatIntervalMs',
    'heartbeatMisses',
    'requestTimeoutMs',
    'maxPendingRequests',
  ] as const) {
    const v = o[k];
    if (v !== undefined) out[k] = v;
  }
  if (o.logger) out.logger = o.logger;
  return out;
}

/** Answers a request; throw `RequestRejected` to send its message back, anything else is "internal error". */
export type RequestHandler = (body: Buffer, connection: FrameConnection) => Uint8Array | Promise<Uint8Array>;

interface ConnectionEvents {
  /** client side: the server accepted us */
  ready: [];
  message: [payload: Buffer];
  /** once; undefined when closed locally without error */
  close: [reason: Error | undefined];
}

interface Pending {
  resolve: (body: Buffer) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

export class FrameConnection extends EventEmitter<ConnectionEvents> {
  readonly remoteAddress: string | undefined;
  private readonly opts: Required<Omit<ConnectionOptions, 'logger'>>;
  private readonly log: Logger;
  private readonly decoder: FrameDecoder;
  private readonly pending = new Map<number, Pending>();
  private handler: RequestHandler | undefined;
  private nextId = 1;
  private isReady: boolean;
  private closeReason: Error | undefined;
  private isClosed = false;
  private frameTimer: NodeJS.Timeout | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private pingSeq = 0;
  private awaitingPong = false;
  private misses = 0;
  /** waiting for the next frame from the peer (checkAlive) */
  private readonly frameWaiters = new Set<() => void>();

  /**
   * @param socket an authorised TLS socket whose peer identity was checked
   * @param role `server` sends READY now; `client` waits for it (event `ready`)
   */
  constructor(
    private readonly socket: TLSSocket,
    readonly peer: PeerIdentity,
    readonly role: 'client' | 'server',
    options: ConnectionOptions = {},
  ) {
    super();
    const { logger, ...rest } = options;
    this.opts = { ...CONNECTION_DEFAULTS, ...rest };
    for (const [name, v] of Object.entries(this.opts)) {
      if (!Number.isSafeInteger(v) || v < 1)
        throw new RangeError(`${name} must be a positive integer, got ${String(v)}`);
    }
    this.remoteAddress = socket.remoteAddress;
    this.log = (logger ?? silentLogger()).child({
      peer: formatIdentity(peer),
      remote: `${socket.remoteAddress}:${socket.remotePort}`,
    });
    this.decoder = new FrameDecoder(this.opts.maxFrameBytes);
    this.isReady = role === 'server';
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (e: Error) => this.fail(e));
    socket.on('close', () => this.fail(new ConnectionClosedError(`${formatIdentity(peer)} closed the connection`)));
    this.heartbeatTimer = setInterval(() => this.heartbeat(), this.opts.heartbeatIntervalMs);
    this.heartbeatTimer.unref();
    if (role === 'server') this.writeFrame(FrameType.Ready, Buffer.alloc(0));
  }

  get ready(): boolean {
    return this.isReady;
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /** Why the connection closed (undefined while open or after a clean local close). */
  get reason(): Error | undefined {
    return this.closeReason;
  }

  get pendingRequests(): number {
    return this.pending.size;
  }

  /** Sets the one handler of incoming requests (replacing any earlier one). */
  onRequest(handler: RequestHandler): void {
    this.handler = handler;
  }

  /**
   * Sends a one-way message; resolves once the socket can take more (backpressure).
   * @throws ConnectionClosedError if closed; RangeError if larger than the frame cap
   */
  async send(payload: Uint8Array): Promise<void> {
    if (!this.writeFrame(FrameType.Message, payload)) await this.drained();
  }

  /**
   * Sends a request and waits for its response body.
   * @throws RequestTimeoutError, ConnectionClosedError, RemoteError (the peer refused), RangeError (too large)
   */
  request(body: Uint8Array, options: { timeoutMs?: number } = {}): Promise<Buffer> {
    if (this.isClosed) return Promise.reject(this.closedError());
    if (this.pending.size >= this.opts.maxPendingRequests) {
      return Promise.reject(new RangeError(`too many outstanding requests (${this.opts.maxPendingRequests})`));
    }
    const id = this.allocateId();
    const timeoutMs = options.timeoutMs ?? this.opts.requestTimeoutMs;
    return new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new RequestTimeoutError(`no response from ${formatIdentity(this.peer)} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      try {
        this.writeFrame(FrameType.Request, withId(id, body));
      } catch (e) {
        clearTimeout(timer);
        this.pending.delete(id);
        reject(e);
      }
    });
  }

  /**
   * Closes the connection: gracefully (flushing what was written) without a reason, at once with
   * one. Pending requests fail either way. Idempotent.
   */
  close(reason?: Error): void {
    if (this.isClosed) return;
    this.shutdown(reason);
    if (reason) {
      this.socket.destroy();
    } else {
      this.socket.end();
      // A peer that never finishes the close must not keep the socket open.
      setTimeout(() => this.socket.destroy(), 2_000).unref();
    }
    this.emit('close', reason);
  }

  /**
   * Whether the peer still answers: sends a PING now and resolves true as soon as any frame
   * arrives, false after `timeoutMs` without one or if the connection closes. A server uses it to
   * tell a live link from one whose peer vanished without closing it.
   */
  checkAlive(timeoutMs: number): Promise<boolean> {
    if (this.isClosed) return Promise.resolve(false);
    return new Promise((resolve) => {
      const done = (alive: boolean): void => {
        clearTimeout(timer);
        this.frameWaiters.delete(onFrame);
        this.off('close', onClose);
        resolve(alive);
      };
      const onFrame = (): void => done(true);
      const onClose = (): void => done(false);
      const timer = setTimeout(() => done(false), timeoutMs);
      this.frameWaiters.add(onFrame);
      this.once('close', onClose);
      try {
        this.ping();
      } catch {
        done(false);
      }
    });
  }

  /** Resolves when the socket closed (at once if it already has). */
  async closedPromise(): Promise<void> {
    if (this.socket.closed) return;
    await new Promise<void>((resolve) => this.socket.once('close', () => resolve()));
  }

  private fail(e: Error): void {
    if (this.isClosed) return;
    const level = e instanceof ConnectionClosedError ? 'info' : 'warn';
    this.log[level]({ err: { name: e.name, message: e.message } }, 'connection closed');
    this.close(e);
  }

  private shutdown(reason: Error | undefined): void {
    this.isClosed = true;
    this.closeReason = reason;
    clearTimeout(this.frameTimer);
    clearInterval(this.heartbeatTimer);
    const err = this.closedError();
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this.pending.clear();
  }

  private closedError(): ConnectionClosedError {
    const why = this.closeReason ? `: ${this.closeReason.message}` : '';
    return new ConnectionClosedError(`connection to ${formatIdentity(this.peer)} is closed${why}`);
  }

  private allocateId(): number {
    // u32 ids wrap; skip 0 and any id still pending (only possible after 2^32 requests).
    do {
      this.nextId = (this.nextId % 0xffffffff) + 1;
    } while (this.pending.has(this.nextId));
    return this.nextId;
  }

  /** Writes one frame (header and payload corked together); false when the socket buffer is full. */
  private writeFrame(type: FrameType, payload: Uint8Array): boolean {
    if (this.isClosed) throw this.closedError();
    checkOutgoing(type, payload.length, this.opts.maxFrameBytes);
    this.socket.cork();
    this.socket.write(encodeHeader(type, payload.length));
    const ok = this.socket.write(payload);
    this.socket.uncork();
    return ok;
  }

  private drained(): Promise<void> {
    return new Promise((resolve, reject) => {
      const onDrain = (): void => {
        this.off('close', onClose);
        resolve();
      };
      const onClose = (): void => {
        this.socket.off('drain', onDrain);
        reject(this.closedError());
      };
      this.socket.once('drain', onDrain);
      this.once('close', onClose);
    });
  }

  private onData(chunk: Buffer): void {
    if (this.isClosed) return;
    let frames: Frame[];
    try {
      frames = this.decoder.push(chunk);
    } catch (e) {
      this.fail(e as Error);
      return;
    }
    // The timer covers one frame from its first byte: restarted when a frame completed and
    // another began in the same chunk, never extended by a trickle of bytes.
    if (!this.decoder.partial) {
      clearTimeout(this.frameTimer);
      this.frameTimer = undefined;
    } else if (this.frameTimer === undefined || frames.length > 0) {
      clearTimeout(this.frameTimer);
      this.frameTimer = setTimeout(
        () => this.fail(new FrameTimeoutError(`frame not completed within ${this.opts.frameTimeoutMs} ms`)),
        this.opts.frameTimeoutMs,
      );
    }
    if (frames.length > 0) for (const wake of [...this.frameWaiters]) wake();
    for (const frame of frames) {
      if (this.isClosed) return;
      this.misses = 0;
      try {
        this.onFrame(frame);
      } catch (e) {
        this.fail(e as Error);
      }
    }
  }

  private onFrame({ type, payload }: Frame): void {
    if (!this.isReady && type === FrameType.Error && this.role === 'client') {
      // the server judged our identity and said why it will not have us (e.g. a live link of ours exists)
      throw new RemoteError(
        `${formatIdentity(this.peer)} refused the connection: ${payload.subarray(4).toString('utf8')}`,
      );
    }
    if (!this.isReady && type !== FrameType.Ready) throw new FrameError(`${typeName(type)} frame before READY`);
    switch (type) {
      case FrameType.Ready:
        if (this.role === 'server' || this.isReady) throw new FrameError('unexpected READY frame');
        this.isReady = true;
        this.emit('ready');
        return;
      case FrameType.Ping:
        this.writeFrame(FrameType.Pong, payload);
        return;
      case FrameType.Pong:
        if (payload.readUInt32BE(0) === this.pingSeq) this.awaitingPong = false;
        return;
      case FrameType.Message:
        this.emit('message', payload);
        return;
      case FrameType.Request:
        this.answer(payload.readUInt32BE(0), payload.subarray(4)).catch((e: unknown) =>
          this.log.error({ err: e }, 'cannot answer request'),
        );
        return;
      case FrameType.Response:
      case FrameType.Error: {
        const id = payload.readUInt32BE(0);
        const p = this.pending.get(id);
        // A late answer to a request that timed out: not the peer's fault.
        if (!p) return this.log.debug({ id }, 'response to no pending request');
        this.pending.delete(id);
        clearTimeout(p.timer);
        if (type === FrameType.Response) p.resolve(payload.subarray(4));
        else
          p.reject(
            new RemoteError(
              `${formatIdentity(this.peer)} refused the request: ${payload.subarray(4).toString('utf8')}`,
            ),
          );
        return;
      }
    }
  }

  private async answer(id: number, body: Buffer): Promise<void> {
    let frame: [FrameType, Buffer];
    try {
      if (!this.handler) throw new RequestRejected('no request handler');
      frame = [FrameType.Response, withId(id, await this.handler(body, this))];
    } catch (e) {
      let reason = 'internal error';
      if (e instanceof RequestRejected) reason = e.message;
      else this.log.error({ err: e }, 'request handler failed');
      frame = [FrameType.Error, withId(id, truncateUtf8(reason, MAX_ERROR_REASON_BYTES))];
    }
    if (this.isClosed) return;
    try {
      this.writeFrame(...frame);
    } catch (e) {
      // A response larger than the cap: the requester learns that much, not the bytes.
      this.log.error({ err: e }, 'cannot send response');
      this.writeFrame(FrameType.Error, withId(id, Buffer.from('response too large')));
    }
  }

  private heartbeat(): void {
    if (this.isClosed) return;
    if (this.awaitingPong) {
      this.misses++;
      if (this.misses >= this.opts.heartbeatMisses) {
        this.fail(new HeartbeatTimeoutError(`${formatIdentity(this.peer)} missed ${this.misses} heartbeats`));
        return;
      }
    }
    this.ping();
  }

  private ping(): void {
    this.pingSeq = (this.pingSeq + 1) >>> 0;
    this.awaitingPong = true;
    const seq = Buffer.allocUnsafe(4);
    seq.writeUInt32BE(this.pingSeq, 0);
    this.writeFrame(FrameType.Ping, seq);
  }
}

/** UTF-8 bytes of `s`, cut at a character boundary to at most `max` bytes. */
function truncateUtf8(s: string, max: number): Buffer {
  const b = Buffer.from(s, 'utf8');
  if (b.length <= max) return b;
  let end = max;
  while (end > 0 && ((b[end] as number) & 0xc0) === 0x80) end--;
  return b.subarray(0, end);
}
