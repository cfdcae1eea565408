/**
 * RFC 9457 problem details: every error the wallet API answers is `application/problem+json`
 * with `type`, `title`, `status` and `detail`. Details are written for the wallet server's
 * operator and never carry secrets or internal state (a 5xx says only that something failed).
 * @module
 */

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

/** Problem types are URNs under this prefix; the OpenAPI document lists them. */
export const PROBLEM_TYPE_PREFIX = 'urn:mpc-engine:problem:';

export interface ProblemDetails {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail: string;
}

const TITLES: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  409: 'Conflict',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
};

/** An error the API answers as a problem; thrown by handlers and middleware. */
export class HttpProblem extends Error {
  override readonly name = 'HttpProblem';

  constructor(
    readonly status: number,
    /** the type's slug, e.g. `invalid-digest` */
    readonly slug: string,
    readonly detail: string,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(detail);
  }
}

export function problemTitle(status: number): string {
  return TITLES[status] ?? (status >= 500 ? 'Server Error' : 'Client Error');
}

export function problemBody(status: number, slug: string, detail: string): ProblemDetails {
  return { type: PROBLEM_TYPE_PREFIX + slug, title: problemTitle(status), status, detail };
}
