// Builds the WebAssembly core (release and debug targets) unless it is already built from the
// same sources: a hash of assembly/, asconfig.json and the compiler version is kept beside the
// output, so `npm test` does not spend a minute recompiling an unchanged core. `--force` rebuilds.
// Plain JavaScript: it runs before the TypeScript build.
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const outputs = ['core.wasm', 'core.js', 'core.d.ts', 'core.debug.wasm', 'core.debug.js'].map((f) =>
  join(root, 'build', f),
);
const stamp = join(root, 'build', '.source-hash');

function sourceHash() {
  const h = createHash('sha256');
  const files = readdirSync(join(root, 'assembly'), { recursive: true })
    .map(String)
    .filter((f) => !f.startsWith('node_modules'))
    .sort();
  for (const f of files) {
    const path = join(root, 'assembly', f);
    try {
      h.update(f).update('\0').update(readFileSync(path)).update('\0');
    } catch (e) {
      if (e.code !== 'EISDIR') throw e;
    }
  }
  h.update(readFileSync(join(root, 'asconfig.json')));
  h.update(JSON.parse(readFileSync(join(root, 'node_modules/assemblyscript/package.json'), 'utf8')).version);
  return h.digest('hex');
}

const hash = sourceHash();
const fresh =
  !process.argv.includes('--force') &&
  outputs.every((f) => existsSync(f)) &&
  existsSync(stamp) &&
  readFileSync(stamp, 'utf8').trim() === hash;
if (fresh) {
  console.log('build:wasm: the core is up to date with assembly/ (use --force to rebuild)');
} else {
  const asc = join(root, 'node_modules', '.bin', 'asc');
  for (const target of ['release', 'debug'])
    execFileSync(asc, ['assembly/index.ts', '--target', target], { cwd: root, stdio: 'inherit' });
  writeFileSync(stamp, hash + '\n');
}
