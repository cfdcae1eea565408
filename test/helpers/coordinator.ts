/**
 * Coordinator test helpers: scripted node links that record every request, a trusted dealer that
 * makes valid presignatures and partial signatures for a known key in microseconds (so signing and
 * the API can be tested without running presign's Paillier arithmetic), a fake session runner,
 * and a small HTTP client for a Koa app on an ephemeral port.
 *
 * The dealer knows the secret key: it exists only in tests, to produce the public presignature
 * data a real presign session would (R = k⁻¹·G, Δ̃_j = k_j·R, S̃_j = χ_j·R with Σk_j = k and
 * Σχ_j = k·x), so that σ_j = k_j·m + r·χ_j sums to a valid ECDSA s.
 */
import { randomBytes } from 'node:crypto';
import { sha256 } from '@noble/hashes/sha2.js';
import { encodePresignaturePublic } from '../../src/protocol/storage-format.js';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type Koa from 'koa';
import { G, modq, mulG, mulPublic, q, randomScalar, type Point } from '../../src/curve/secp256k1.js';
import { digestScalar, nonceR, type PresignaturePublic } from '../../src/protocol/presign/presignature.js';
import type { ProtocolName, Request } from '../../src/rpc/messages.js';
import type { NodeLink } from '../../src/coordinator/node-link.js';
import type { PoolEntry } from '../../src/coordinator/pool.js';
import type { SessionOutcome, SessionRunner, SessionSpec } from '../../src/coordinator/orchestrator.js';
import { NodeCluster } from '../../src/coordinator/cluster.js';

export const NODE_IDS = ['node_1', 'node_2', 'node_3'] as const;

/** A scripted node's session key in its prepare answer (the orchestrator passes it on unchecked; real nodes check it). */
export const fakeSessionKey = (i: number): { key: string; signature: string } => ({
  key: '04' + (i + 1).toString(16).padStart(2, '0').repeat(64),
  signature: 'cd'.repeat(64),
});

/** A 2-of-n cluster whose `connected` nodes are up and agree on `auxId` (what the group monitor would find). */
export function readyCluster(
  links: readonly NodeLink[],
  connected: readonly number[] = links.map((l) => l.index),
  auxId = 'ab'.repeat(32),
): NodeCluster {
  const cluster = new NodeCluster(links, 2);
  for (const k of connected) {
    cluster.setConnected(k, true);
    cluster.setInfo(k, { nodeId: links[k]?.nodeId as string, index: k, auxId, primesReady: 4, wallets: 0 });
  }
  cluster.setAux(auxId, 'ready');
  return cluster;
}

export type Handler = (req: Request, link: FakeLink) => unknown;

/** A NodeLink whose answers come from a function; every request is recorded. */
export class FakeLink implements NodeLink {
  readonly requests: Request[] = [];
  readonly timeouts: (number | undefined)[] = [];

  constructor(
    readonly nodeId: string,
    readonly index: number,
    public handler: Handler,
  ) {}

  async request(req: Request, timeoutMs?: number): Promise<unknown> {
    this.requests.push(req);
    this.timeouts.push(timeoutMs);
    return this.handler(req, this);
  }

  methods(): string[] {
    return this.requests.map((r) => r.method);
  }
}

export function fakeLinks(handler: (index: number) => Handler, ids: readonly string[] = NODE_IDS): FakeLink[] {
  return ids.map((id, k) => new FakeLink(id, k, handler(k)));
}

/** A promise that never settles (a node that does not answer). */
export function never<T>(): Promise<T> {
  return new Promise<T>(() => undefined);
}

function powmod(b: bigint, e: bigint, m: bigint): bigint {
  let r = 1n;
  b %= m;
  while (e > 0n) {
    if (e & 1n) r = (r * b) % m;
    b = (b * b) % m;
    e >>= 1n;
  }
  return r;
}

const invq = (x: bigint): bigint => powmod(modq(x), q - 2n, q);

interface DealtSecret {
  readonly k: bigint;
  readonly chi: bigint;
}

/** A trusted dealer for one key: presignatures, partial signatures, and their secrets by id. */
export class Dealer {
  readonly x: bigint;
  readonly Y: Point;
  private readonly secrets = new Map<string, Map<number, DealtSecret>>();
  private readonly pubs = new Map<string, PresignaturePublic>();

  constructor(x?: bigint) {
    this.x = x ?? randomScalar();
    this.Y = mulG(this.x);
  }

  get publicKeyHex(): string {
    return Buffer.from(this.Y.toBytes(true)).toString('hex');
  }

  presignature(signers: readonly number[]): PresignaturePublic {
    for (;;) {
      const k = randomScalar();
      const R = mulG(invq(k));
      if (R.toAffine().x >= q) continue; // as the real output check: r = R.x must be < q
      const ks = signers.map(() => randomScalar());
      ks[ks.length - 1] = modq(k - ks.slice(0, -1).reduce((a, b) => a + b, 0n));
      const chis = signers.map(() => randomScalar());
      chis[chis.length - 1] = modq(k * this.x - chis.slice(0, -1).reduce((a, b) => a + b, 0n));
      const id = Uint8Array.from(randomBytes(32));
      const pub: PresignaturePublic = {
        id,
        signers: [...signers],
        Y: this.Y,
        R,
        Delta: ks.map((kj) => mulPublic(R, kj)),
        S: chis.map((c) => mulPublic(R, c)),
      };
      const hex = Buffer.from(id).toString('hex');
      this.secrets.set(hex, new Map(signers.map((j, n) => [j, { k: ks[n] as bigint, chi: chis[n] as bigint }])));
      this.pubs.set(hex, pub);
      return pub;
    }
  }

  entry(walletId: string, signers: readonly number[]): PoolEntry {
    const pub = this.presignature(signers);
    return { walletId, signers: [...signers], id: Buffer.from(pub.id).toString('hex'), pub };
  }

  /** SHA-256 of the public presignature as a node stores it (what a node's sign answer names). */
  presignatureHash(presignatureId: string): string | undefined {
    const pub = this.pubs.get(presignatureId);
    return pub && Buffer.from(sha256(encodePresignaturePublic(pub))).toString('hex');
  }

  /** σ_j = k_j·m + r·χ_j as hex, or undefined for an unknown presignature or signer. */
  sigma(presignatureId: string, signer: number, digestHex: string): string | undefined {
    const s = this.secrets.get(presignatureId)?.get(signer);
    const pub = this.pubs.get(presignatureId);
    if (!s || !pub) return undefined;
    const m = digestScalar(Uint8Array.from(Buffer.from(digestHex, 'hex')));
    return modq(s.k * m + nonceR(pub) * s.chi)
      .toString(16)
      .padStart(64, '0');
  }
}

/** A node that answers `sign` from the dealer's secrets, once per presignature (as a real node). */
export function signingNode(dealer: Dealer, options: { corrupt?: boolean; fail?: () => unknown } = {}): Handler {
  const used = new Set<string>();
  return (req, link) => {
    if (req.method !== 'sign') return { ok: false, code: 'bad-request', error: `unexpected ${req.method}` };
    if (options.fail) return options.fail();
    if (used.has(req.presignatureId))
      return { ok: false, code: 'presignature-used', error: 'presignature already used' };
    used.add(req.presignatureId);
    const sigma = dealer.sigma(req.presignatureId, link.index, req.digest);
    if (!sigma) return { ok: false, code: 'unknown-presignature', error: 'no such presignature' };
    const out = options.corrupt
      ? modq(BigInt(`0x${sigma}`) + 1n)
          .toString(16)
          .padStart(64, '0')
      : sigma;
    return {
      ok: true,
      signer: link.index,
      sigma: out,
      presignature: dealer.presignatureHash(req.presignatureId) as string,
    };
  };
}

/** A session runner whose outcome per protocol a test decides; every spec is recorded. */
export class FakeRunner implements SessionRunner {
  readonly specs: SessionSpec<ProtocolName>[] = [];

  constructor(public outcome: (spec: SessionSpec<ProtocolName>) => SessionOutcome | Promise<SessionOutcome>) {}

  async run<P extends ProtocolName>(spec: SessionSpec<P>): Promise<SessionOutcome<P>> {
    this.specs.push(spec);
    return (await this.outcome(spec)) as SessionOutcome<P>;
  }
}

/** A keygen that every node finished with this public key. */
export function keygenDone(spec: SessionSpec<ProtocolName>, publicKey: string): SessionOutcome {
  return {
    status: 'done',
    sessionId: 'keygen_test',
    protocol: 'keygen',
    durationMs: 1,
    result: { protocol: 'keygen', walletId: spec.walletId as string, publicKey },
    participants: spec.participants.map((l) => l.nodeId),
  };
}

export const GENERATOR_HEX = Buffer.from(G.toBytes(true)).toString('hex');

export interface HttpAnswer {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  readonly json: unknown;
}

/** A Koa app on 127.0.0.1:<ephemeral> over plain HTTP (TLS is the server's business, tested apart). */
export async function serve(app: Koa): Promise<{ server: Server; url: string; close: () => Promise<void> }> {
  const server = createServer(app.callback());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { server, url, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

export async function http(
  url: string,
  method: string,
  path: string,
  options: { headers?: Record<string, string>; body?: string | Uint8Array } = {},
): Promise<HttpAnswer> {
  const res = await fetch(url + path, {
    method,
    headers: options.headers ?? {},
    ...(options.body === undefined ? {} : { body: options.body }),
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}
