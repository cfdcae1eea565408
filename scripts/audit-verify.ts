/**
 * `npm run audit:verify -- <file>`: checks an audit log's hash chain (src/util/audit-log.ts) without
 * changing it. Exit code 0 when every complete line continues the chain (it prints the line count
 * and the last hash, which an operator may keep elsewhere to notice lines cut off the end later);
 * 1 naming the first line that does not, or when the file cannot be read; 2 for bad arguments.
 * @module
 */
import { parseArgs } from 'node:util';
import { verifyAuditLog } from '../src/util/audit-log.js';

async function main(): Promise<number> {
  const { positionals, values } = parseArgs({
    options: { help: { type: 'boolean', short: 'h', default: false } },
    allowPositionals: true,
    strict: true,
  });
  if (values.help || positionals.length !== 1) {
    (values.help ? console.log : console.error)('usage: npm run audit:verify -- <audit.jsonl>');
    return values.help ? 0 : 2;
  }
  const path = positionals[0] as string;
  const result = await verifyAuditLog(path);
  if (!result.ok) {
    console.error(`${path}: line ${result.line}: ${result.reason}`);
    console.error('audit log NOT intact: lines from this one on cannot be trusted');
    return 1;
  }
  console.log(
    `${path}: ok, ${result.lines} line${result.lines === 1 ? '' : 's'}${result.lastTime === undefined ? '' : `, last at ${result.lastTime}`}`,
  );
  console.log(`last hash ${result.lastHash}`);
  if (result.tornTailBytes > 0) {
    console.log(
      `note: ${result.tornTailBytes} bytes after line ${result.lines} are an incomplete line (an append interrupted by a crash; cut when the log is next opened)`,
    );
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(`audit:verify: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  },
);
