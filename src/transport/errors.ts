/**
 * Transport failures: one of the three kinds of failure (protocol aborts and bugs are the others).
 * They say what happened to a connection, never what was in it: no payload bytes, no key material.
 * @module
 */

/** Base class: anything that went wrong with a peer connection. */
export class TransportError extends Error {
  override readonly name: string = 'TransportError';
}

/** The peer sent bytes that are not a valid frame (version, type, size, shape). */
export class FrameError extends TransportError {
  override readonly name = 'FrameError';
}

/** A frame started but did not complete in time (a stalled or deliberately slow peer). */
export class FrameTimeoutError extends TransportError {
  override readonly name = 'FrameTimeoutError';
}

/** The peer's certificate does not carry the identity this end requires. */
export class IdentityError extends TransportError {
  override readonly name = 'IdentityError';
}

/** The peer answered no heartbeat for the configured number of intervals. */
export class HeartbeatTimeoutError extends TransportError {
  override readonly name = 'HeartbeatTimeoutError';
}

/** A request got no response within its timeout. */
export class RequestTimeoutError extends TransportError {
  override readonly name = 'RequestTimeoutError';
}

/** The connection closed (or was never up) while something was waiting on it. */
export class ConnectionClosedError extends TransportError {
  override readonly name = 'ConnectionClosedError';
}

/** The peer's request handler refused the request; `message` is the peer's short reason. */
export class RemoteError extends TransportError {
  override readonly name = 'RemoteError';
}

/**
 * Thrown by a request handler to send its message back to the requester. Any other error is
 * answered with a generic "internal error", so a handler cannot leak state by accident.
 */
export class RequestRejected extends Error {
  override readonly name = 'RequestRejected';
}
