/**
 * A small client of the coordinator's admin routes (routes/admin.ts) for operator tools such as
 * `npm run reshare`: where the API is reached from the configuration, one HTTPS request at a time
 * trusting only the given CA, problem+json answers turned into `AdminApiProblem`, and the job views
 * checked before use. The admin token goes into the Authorization header and nowhere else: no
 * message or error of this module carries it.
 * @module
 */
import { request } from 'node:https';
import { isIP } from 'node:net';
import { z } from 'zod';
import type { Config } from '../config/index.js';
import { PROBLEM_CONTENT_TYPE } from './problem.js';
import type { ReshareJobView } from './reshare.js';

/** Where an operator tool on the coordinator's machine reaches the API listening on `host`:`port`. */
export function adminApiUrl(host: string, port: number): string {
  // A wildcard address is where the server listens, not one a client can dial. 0.0.0.0 takes IPv4
  // only, so 127.0.0.1; `::` takes both families, and `localhost` is named by the development
  // certificate while ::1 is not.
  const target = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? 'localhost' : host;
  return `https://${isIP(target) === 6 ? `[${target}]` : target}:${port}`;
}

/** The API's URL from the configuration (COORDINATOR_HTTPS_HOST, COORDINATOR_HTTPS_PORT). */
export function adminApiUrlOf(config: Config): string {
  return adminApiUrl(config.coordinator.api.host, config.coordinator.httpsPort);
}

/** An answer of the API in problem+json (RFC 9457): status, type, title and detail as sent. */
export class AdminApiProblem extends Error {
  override readonly name = 'AdminApiProblem';
  constructor(
    readonly status: number,
    readonly type: string,
    readonly title: string,
    readonly detail: string,
  ) {
    super(`${status} ${title}${detail === '' ? '' : `: ${detail}`}`);
  }
}

/** An answer that is neither the expected JSON nor a problem (a proxy's page, a wrong server). */
class AdminApiError extends Error {
  override readonly name = 'AdminApiError';
}

export interface AdminClientOptions {
  /** https://host:port */
  readonly baseUrl: string;
  /** PEM of the CA the API's certificate must chain to (nothing else is trusted) */
  readonly ca: string | Buffer;
  /** the whole Authorization value, `Bearer <token>` (COORDINATOR_ADMIN_TOKEN) */
  readonly authorization: string;
  /** per request (default 30 s) */
  readonly timeoutMs?: number;
}

/** Answers larger than this are not an admin job view: the request is cut off. */
const MAX_ANSWER_BYTES = 1 << 20;

const problemSchema = z.object({
  type: z.string().default(''),
  title: z.string().default(''),
  status: z.number().optional(),
  detail: z.string().default(''),
});

const reshareJobSchema = z.object({
  jobId: z.string().regex(/^job_[A-Za-z0-9_-]{16}$/),
  kind: z.literal('reshare'),
  status: z.enum(['running', 'succeeded', 'failed']),
  phase: z.enum(['aux', 'reshare', 'done']),
  createdAt: z.string(),
  finishedAt: z.string().optional(),
  group: z.array(z.string()),
  auxId: z.string().optional(),
  wallets: z.object({
    total: z.number().int().nonnegative(),
    reshared: z.number().int().nonnegative(),
    current: z.number().int().nonnegative(),
    failed: z.number().int().nonnegative(),
  }),
  error: z.string().optional(),
});

interface Answer {
  readonly status: number;
  readonly contentType: string;
  readonly text: string;
}

function reshareJobOf(answer: Answer): ReshareJobView {
  let json: unknown;
  try {
    json = JSON.parse(answer.text);
  } catch {
    throw new AdminApiError(`the API answered ${answer.status} with a body that is not JSON`);
  }
  const job = reshareJobSchema.safeParse(json);
  if (!job.success) throw new AdminApiError(`the API answered ${answer.status} with something that is no reshare job`);
  return job.data as ReshareJobView;
}

export class AdminClient {
  private readonly url: URL;

  constructor(private readonly o: AdminClientOptions) {
    this.url = new URL(o.baseUrl);
    if (this.url.protocol !== 'https:')
      throw new RangeError(`the admin API is reached over https only, not ${o.baseUrl}`);
  }

  /** POST /v1/admin/reshare → the job, started. @throws AdminApiProblem (409 while a rotation or reshare runs) */
  async startReshare(): Promise<ReshareJobView> {
    return reshareJobOf(await this.call('POST', '/v1/admin/reshare', 202));
  }

  /** GET /v1/admin/jobs/{jobId}, for a reshare job. @throws AdminApiProblem (404 once the coordinator forgot it) */
  async reshareJob(jobId: string): Promise<ReshareJobView> {
    return reshareJobOf(await this.call('GET', `/v1/admin/jobs/${encodeURIComponent(jobId)}`, 200));
  }

  /** One request; a problem+json or any status other than `expected` is thrown. */
  private async call(method: 'GET' | 'POST', path: string, expected: number): Promise<Answer> {
    const answer = await this.send(method, path);
    if (answer.contentType === PROBLEM_CONTENT_TYPE) {
      let parsed: z.infer<typeof problemSchema> | undefined;
      try {
        parsed = problemSchema.parse(JSON.parse(answer.text));
      } catch {
        parsed = undefined;
      }
      if (parsed) throw new AdminApiProblem(answer.status, parsed.type, parsed.title, parsed.detail);
    }
    if (answer.status !== expected)
      throw new AdminApiError(`the API answered ${method} ${path} with HTTP ${answer.status}, not ${expected}`);
    return answer;
  }

  private send(method: 'GET' | 'POST', path: string): Promise<Answer> {
    const timeoutMs = this.o.timeoutMs ?? 30_000;
    return new Promise((resolve, reject) => {
      const req = request(
        {
          protocol: 'https:',
          // URL keeps the brackets of an IPv6 literal; the socket wants the bare address
          host: this.url.hostname.replace(/^\[(.*)\]$/, '$1'),
          port: this.url.port === '' ? 443 : Number(this.url.port),
          method,
          path,
          ca: this.o.ca,
          // a fresh connection per request: nothing is kept open between polls
          agent: false,
          timeout: timeoutMs,
          headers: {
            authorization: this.o.authorization,
            accept: `application/json, ${PROBLEM_CONTENT_TYPE}`,
            ...(method === 'POST' ? { 'content-length': '0' } : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (b: Buffer) => {
            size += b.length;
            if (size > MAX_ANSWER_BYTES) {
              req.destroy(new AdminApiError(`the API's answer exceeds ${MAX_ANSWER_BYTES} bytes`));
              return;
            }
            chunks.push(b);
          });
          res.on('error', reject);
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              contentType: (res.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase(),
              text: Buffer.concat(chunks).toString('utf8'),
            }),
          );
        },
      );
      req.on('timeout', () => req.destroy(new AdminApiError(`no answer from the API within ${timeoutMs} ms`)));
      req.on('error', reject);
      req.end();
    });
  }
}
