/**
 * One process at a time owns a state directory (a node's, the coordinator's), and the kernel ends
 * that ownership when the owner dies, however it dies: crash, SIGKILL, OOM kill, a zombie not yet
 * reaped, a container restarted under the same pid. No pid is consulted: a pid file checked with
 * kill(pid, 0) takes a zombie or a recycled pid for a live owner and keeps a restarted service out.
 *
 * The owner listens on a Unix domain socket in the directory. A listening socket accepts
 * connections only while a process holds it; the kernel closes it with the process. So "is the
 * directory owned?" is "does connect() to the owner's socket succeed?". The owner answers each
 * connection with one JSON line (pid, role, start time) so a refused process can name it.
 *
 * Names: `owner.<n>.sock`, n = 1, 2, …; the owner is the process listening on the highest n.
 * Taking ownership:
 *  1. find the highest n and connect to it: accepted → owned, refuse; refused or missing → its
 *     owner is gone;
 *  2. claim n+1 by hard-linking a socket that is *already listening* (bound under a private
 *     temporary name) to `owner.<n+1>.sock`. link() fails if the name exists, so of processes
 *     racing for n+1 exactly one wins; the others look again and find the winner alive. A name
 *     appears only once its socket listens (binding the final name directly would leave a moment,
 *     between bind() and listen(), in which a prober is refused and takes the new owner for dead);
 *  3. look again: a name above n+1 means this process worked from an old listing (while it
 *     paused, owners came and went and cleaned up below them): it withdraws its name and starts
 *     over.
 * n+1 is claimed only after n was seen dead and a dead socket never comes back, so at most one
 * name is alive at a time. Names are never reused — removing a stale socket file and binding the
 * same path again races (two processes that both saw it dead both remove and bind, and the second
 * removal unlinks the first one's live socket) — so an owner leaves its name behind when it ends,
 * marking the highest number, and the next owner deletes the older names. Deleting socket files
 * by hand while an owner runs defeats the scheme, like deleting any lock file.
 *
 * Unix socket addresses are short (107 bytes on Linux, 103 on macOS): for a deeper directory the
 * address is taken relative to the working directory when that is shorter, else acquiring fails
 * with a message saying so.
 * @module
 */
import { randomBytes, randomInt } from 'node:crypto';
import { chmod, link, readdir, unlink } from 'node:fs/promises';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { join, relative, resolve } from 'node:path';
import { ensureDir, errorCode, fsyncDir } from './durable-file.js';

/** Exit status of a service or tool refused because another process owns its directory (EX_TEMPFAIL). */
export const LOCKED_EXIT_CODE = 75;

const NAME = /^owner\.([1-9][0-9]{0,14})\.sock$/;
const TEMP = /^\.owner-[0-9a-f]{16}\.sock$/;
/** the file of the former pid-based lock, removed once the directory is ours */
const LEGACY_PID_FILE = 'owner.pid';
const MAX_ADDRESS_BYTES = process.platform === 'darwin' ? 103 : 107;
const MAX_ANSWER_BYTES = 512;

/** What an owner says about itself when a would-be owner connects. */
export interface OwnerInfo {
  readonly pid: number;
  /** e.g. `node node_1`, `coordinator`, `kms:rewrap node_1` */
  readonly role: string;
  /** ISO time the owner took the directory */
  readonly since: string;
}

export type DirectoryLockErrorCode = 'locked' | 'address-too-long' | 'contended';

export class DirectoryLockError extends Error {
  override readonly name = 'DirectoryLockError';
  constructor(
    readonly code: DirectoryLockErrorCode,
    message: string,
    /** the live owner, when it answered (code `locked`) */
    readonly owner?: OwnerInfo,
  ) {
    super(message);
  }
}

export interface DirectoryLock {
  readonly dir: string;
  /** the owner socket's file */
  readonly path: string;
  /** Stops listening: the directory is free at once. Idempotent. */
  release(): Promise<void>;
}

export interface LockOptions {
  /** how long to wait for a live owner's description (default 1 s) */
  answerTimeoutMs?: number;
}

/** The socket address of `path`: absolute, or relative to the working directory when shorter. */
export function socketAddress(path: string): string {
  const abs = resolve(path);
  const rel = relative(process.cwd(), abs);
  const best = rel !== '' && Buffer.byteLength(rel) < Buffer.byteLength(abs) ? rel : abs;
  if (Buffer.byteLength(best) > MAX_ADDRESS_BYTES) {
    throw new DirectoryLockError(
      'address-too-long',
      `${abs} is ${Buffer.byteLength(abs)} bytes, over the ${MAX_ADDRESS_BYTES}-byte limit of a Unix socket address (also relative to the working directory): use a shorter state directory path or start the process from nearer to it`,
    );
  }
  return best;
}

type Probe = { alive: false } | { alive: true; owner: OwnerInfo | undefined; why?: string };

/** Only printable ASCII of a string another process sent, capped: it ends up in our messages. */
function printable(s: string, max: number): string {
  return s.replace(/[^\x20-\x7e]/g, '?').slice(0, max);
}

function parseOwner(text: string): OwnerInfo | undefined {
  try {
    const o = JSON.parse(text) as Record<string, unknown>;
    if (typeof o !== 'object' || o === null) return undefined;
    const { pid, role, since } = o;
    if (!Number.isSafeInteger(pid) || (pid as number) <= 0 || typeof role !== 'string' || typeof since !== 'string')
      return undefined;
    return { pid: pid as number, role: printable(role, 100), since: printable(since, 40) };
  } catch {
    return undefined;
  }
}

/** Connects to an owner socket: refused or missing → dead; accepted → alive (with its answer, if any). */
function probe(address: string, answerTimeoutMs: number): Promise<Probe> {
  return new Promise((done) => {
    let settled = false;
    let text = '';
    const s = createConnection({ path: address });
    const finish = (p: Probe): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      s.destroy();
      done(p);
    };
    const timer = setTimeout(
      () => finish({ alive: true, owner: parseOwner(text), why: 'it did not answer' }),
      answerTimeoutMs,
    );
    s.on('error', (e) => {
      const code = errorCode(e);
      // Anything but "nobody listens" (a full backlog, no permission) is treated as alive: refusing
      // is recoverable, two owners are not.
      if (code === 'ECONNREFUSED' || code === 'ENOENT') finish({ alive: false });
      else finish({ alive: true, owner: undefined, why: `connecting failed with ${code ?? 'an error'}` });
    });
    s.on('data', (b: Buffer) => {
      text += b.toString('utf8');
      if (text.length > MAX_ANSWER_BYTES || text.includes('\n'))
        finish({ alive: true, owner: parseOwner(text.split('\n')[0] ?? '') });
    });
    s.on('end', () => finish({ alive: true, owner: parseOwner(text) }));
  });
}

function numberOf(name: string): number | undefined {
  const m = NAME.exec(name);
  return m ? Number(m[1]) : undefined;
}

function highest(names: readonly string[]): number | undefined {
  let top: number | undefined;
  for (const name of names) {
    const n = numberOf(name);
    if (n !== undefined && (top === undefined || n > top)) top = n;
  }
  return top;
}

function lockedError(dir: string, who: string, p: Extract<Probe, { alive: true }>): DirectoryLockError {
  const by = p.owner
    ? `${p.owner.role} (process ${p.owner.pid}, since ${p.owner.since})`
    : `another live process (${p.why ?? 'it did not say who'})`;
  return new DirectoryLockError('locked', `cannot start ${who}: ${dir} is in use by ${by}; stop it first`, p.owner);
}

/** Listens on a fresh temporary name; the server answers every connection with `answer`. */
async function listenTemp(dir: string, answer: string): Promise<{ server: Server; path: string }> {
  const path = join(dir, `.owner-${randomBytes(8).toString('hex')}.sock`);
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.on('error', () => undefined);
    s.on('close', () => sockets.delete(s));
    s.setTimeout(2_000, () => s.destroy());
    s.end(answer);
  });
  // The lock never keeps the process alive; its end (exit or crash) is what releases it.
  server.unref();
  server.on('close', () => {
    for (const s of sockets) s.destroy();
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen({ path: socketAddress(path), exclusive: true }, () => {
      server.off('error', fail);
      ok();
    });
  });
  server.on('error', () => undefined);
  await chmod(path, 0o600).catch(() => undefined);
  return { server, path };
}

function closeServer(server: Server): Promise<void> {
  return new Promise((ok) => server.close(() => ok()));
}

async function unlinkQuiet(path: string): Promise<void> {
  await unlink(path).catch((e: unknown) => {
    if (errorCode(e) !== 'ENOENT') throw e;
  });
}

/** Names below ours are dead (see the module comment); temporaries are removed once dead. */
async function cleanUp(dir: string, mine: number, answerTimeoutMs: number): Promise<void> {
  for (const name of await readdir(dir)) {
    const n = numberOf(name);
    if (n !== undefined && n < mine) await unlinkQuiet(join(dir, name));
    else if (TEMP.test(name) && !(await probe(socketAddress(join(dir, name)), answerTimeoutMs)).alive)
      await unlinkQuiet(join(dir, name));
    else if (name === LEGACY_PID_FILE) await unlinkQuiet(join(dir, name));
  }
  await fsyncDir(dir);
}

/**
 * Takes ownership of `dir` (created if missing, mode 0700) for this process, as `role`.
 * @throws DirectoryLockError `locked` (another live process owns it; the message names it),
 *   `address-too-long`, `contended` (owners kept appearing and dying while we tried)
 */
export async function lockDirectory(dir: string, role: string, options: LockOptions = {}): Promise<DirectoryLock> {
  const answerTimeoutMs = options.answerTimeoutMs ?? 1_000;
  const absDir = resolve(dir);
  await ensureDir(absDir, 0o700);
  socketAddress(join(absDir, `owner.${Number.MAX_SAFE_INTEGER}.sock`)); // fail early on a long path
  const info: OwnerInfo = { pid: process.pid, role, since: new Date().toISOString() };
  const answer = JSON.stringify(info) + '\n';
  let temp: { server: Server; path: string } | undefined;
  try {
    for (let attempt = 0; attempt < 64; attempt++) {
      const top = highest(await readdir(absDir));
      if (top !== undefined) {
        const p = await probe(socketAddress(join(absDir, `owner.${top}.sock`)), answerTimeoutMs);
        if (p.alive) throw lockedError(absDir, role, p);
      }
      const mine = (top ?? 0) + 1;
      const path = join(absDir, `owner.${mine}.sock`);
      temp ??= await listenTemp(absDir, answer);
      try {
        await link(temp.path, path);
      } catch (e) {
        const code = errorCode(e);
        if (code === 'ENOENT') {
          // our temporary name was cleaned away between bind() and listen(): make another
          await closeServer(temp.server);
          temp = undefined;
          continue;
        }
        if (code !== 'EEXIST') throw e;
        // someone else claimed this number: look again (they are alive, or died at once)
        await new Promise((r) => setTimeout(r, randomInt(5 * Math.min(attempt + 1, 10) + 1)));
        continue;
      }
      const later = highest(await readdir(absDir));
      if (later !== undefined && later > mine) {
        // we worked from a listing that was out of date: withdraw our name, start over
        await unlinkQuiet(path);
        continue;
      }
      await unlinkQuiet(temp.path);
      const { server } = temp;
      temp = undefined;
      await cleanUp(absDir, mine, answerTimeoutMs);
      let released: Promise<void> | undefined;
      return {
        dir: absDir,
        path,
        release: () => (released ??= closeServer(server)),
      };
    }
    throw new DirectoryLockError(
      'contended',
      `cannot start ${role}: could not take ownership of ${absDir} (owners kept appearing and ending while trying); try again`,
    );
  } finally {
    if (temp) {
      await closeServer(temp.server);
      await unlinkQuiet(temp.path).catch(() => undefined);
    }
  }
}

/**
 * Who owns `dir` right now, without taking it: undefined when nobody does (or the directory does
 * not exist), else what the owner said (`owner` undefined if it did not answer).
 */
export async function directoryOwner(
  dir: string,
  options: LockOptions = {},
): Promise<{ owner: OwnerInfo | undefined } | undefined> {
  let names: string[];
  try {
    names = await readdir(resolve(dir));
  } catch (e) {
    if (errorCode(e) === 'ENOENT') return undefined;
    throw e;
  }
  const top = highest(names);
  if (top === undefined) return undefined;
  const p = await probe(socketAddress(join(resolve(dir), `owner.${top}.sock`)), options.answerTimeoutMs ?? 1_000);
  return p.alive ? { owner: p.owner } : undefined;
}
