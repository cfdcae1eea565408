/**
 * A process that takes a directory lock and holds it until killed: `node lock-holder.js <dir>
 * <role> [--wait-stdin]`. Prints `locked` once it owns the directory, or `refused <message>` and
 * exits with LOCKED_EXIT_CODE. With --wait-stdin it first waits for a line on stdin, so that a
 * test can start several and release them together. SIGTERM releases the lock and exits 0.
 */
import { createInterface } from 'node:readline';
import { DirectoryLockError, LOCKED_EXIT_CODE, lockDirectory } from '../../src/util/dir-lock.js';

const [dir, role, flag] = process.argv.slice(2);
if (!dir || !role) {
  console.error('usage: lock-holder <dir> <role> [--wait-stdin]');
  process.exit(2);
}
if (flag === '--wait-stdin') {
  const lines = createInterface({ input: process.stdin });
  // a line or the end of stdin releases it (the test ends stdin right after writing, so a line
  // that arrives before the listener, or a pipe closed early, cannot leave the holder waiting)
  await new Promise<void>((resolve) => {
    lines.once('line', () => resolve());
    lines.once('close', () => resolve());
  });
  lines.close();
}
try {
  const lock = await lockDirectory(dir, role);
  console.log('locked');
  const keepAlive = setInterval(() => undefined, 1 << 30);
  process.on('SIGTERM', () => {
    clearInterval(keepAlive);
    void lock.release().then(() => process.exit(0));
  });
} catch (e) {
  if (e instanceof DirectoryLockError && e.code === 'locked') {
    console.log(`refused ${e.message}`);
    process.exit(LOCKED_EXIT_CODE);
  }
  console.error(e);
  process.exit(1);
}
