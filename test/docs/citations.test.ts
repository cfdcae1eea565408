/**
 * Code may cite only documents that are in the repository (docs/style.md, "Comments"): every
 * cited `*.md`, threat id, numbered rule and section must exist. This file itself is not scanned
 * by the repository check: its examples below are wrong on purpose.
 */
import test from 'ava';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkCitations, filesToScan, indexDocument } from '../helpers/citations.js';

/** dist/test/docs/ → the repository root */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const SELF = 'test/docs/citations.test.ts';
/** The name of a note that was never in the repository, spelt so that a search for it finds no citation here. */
const OLD_NOTE = ['SECURITY', 'md'].join('.');

test('every document, threat id, numbered rule and section the repository cites exists', (t) => {
  const files = filesToScan(ROOT).filter((f) => f !== SELF);
  t.true(
    files.includes('src/zk/transcript.ts') && files.includes('docs/security.md') && files.includes('README.md'),
    'the scan reaches code and documents',
  );
  t.deepEqual(checkCitations(ROOT, files), []);
});

test('docs/README.md lists every document of docs/', (t) => {
  const index = readFileSync(join(ROOT, 'docs/README.md'), 'utf8');
  const docs = readdirSync(join(ROOT, 'docs')).filter((f) => f !== 'README.md' && !f.startsWith('.'));
  t.true(docs.length >= 5);
  for (const d of docs) t.true(index.includes(`(${d})`), `docs/README.md links ${d}`);
});

test('the rule book defines the threat ids A1–A17 and the numbered rules the code relies on', (t) => {
  const security = indexDocument(readFileSync(join(ROOT, 'docs/security.md'), 'utf8'));
  for (let k = 1; k <= 17; k++) t.true(security.ids.has(`A${k}`), `A${k}`);
  t.true((security.rules.get('transcript') ?? 0) >= 6);
  const architecture = indexDocument(readFileSync(join(ROOT, 'docs/architecture.md'), 'utf8'));
  t.true((architecture.rules.get('durability') ?? 0) >= 3);
});

/** A small repository in a temporary folder: two documents and one source file. */
function fixture(source: string): { root: string; cleanup: () => void } {
  const root = mkdtempSync(join(tmpdir(), 'citations-'));
  const write = (p: string, text: string): void => {
    mkdirSync(dirname(join(root, p)), { recursive: true });
    writeFileSync(join(root, p), text);
  };
  write(
    'docs/security.md',
    [
      '# Security',
      '## Decisions',
      '## Threat catalogue',
      '### A1. BitForge',
      '### A2. Missing range proofs',
      '## Findings of the review (P3, S3–S5)',
      '## Transcript rules',
      '1. One encoder.',
      '   more text of rule 1',
      '2. Domain separation.',
      '```',
      '3. not a rule: inside a code block',
      '```',
      '## After the rules',
      '3. a list item outside the rule set',
    ].join('\n'),
  );
  write(
    'docs/architecture.md',
    ['# Architecture', '## Durability rules', '1. Atomic writes.', '2. Single use.', '3. Encrypted records.'].join(
      '\n',
    ),
  );
  write('src/a.ts', source);
  return { root, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}

test('valid citations pass: ids, id lists, ranges of findings, rules, rule ranges, sections, anchors, wrapped lines', (t) => {
  const { root, cleanup } = fixture(
    [
      '/** docs/security.md A1 and (docs/security.md A1, A2) and docs/security.md A1/A2 */',
      '// docs/security.md S4, docs/security.md P3',
      '// docs/security.md, transcript rule 2; docs/architecture.md, durability rules 1–3',
      '// docs/security.md, "Decisions"; docs/security.md "threat catalogue"',
      '// [link](../docs/security.md#transcript-rules)',
      '/**',
      ' * a long line that ends with the document docs/architecture.md,',
      ' * durability rule 3, continued on the next line',
      ' */',
      `// https://example.org/${OLD_NOTE} is a URL, not a repository document`,
    ].join('\n'),
  );
  try {
    t.deepEqual(checkCitations(root), []);
  } finally {
    cleanup();
  }
});

test('invented citations fail, each named with its line', (t) => {
  const { root, cleanup } = fixture(
    [
      '// docs/securty.md', // 1: no such document
      `// ${OLD_NOTE} A1`, // 2: the old note's name, not a repository document
      '// docs/security.md A17', // 3: no such threat id
      '// docs/security.md, transcript rule 3', // 4: two transcript rules only (3 is in a code block / later section)
      '// docs/architecture.md, durability rule 4', // 5: three durability rules
      '// docs/architecture.md, trust rule 1', // 6: no trust rules
      '// docs/security.md, "Nope"', // 7: no such section
      '// docs/security.md#nope', // 8: no such anchor
      '// (transcript rule 2)', // 9: a rule without its document
      '// the seed' + ' note says so', // 10: a note outside the repository
      '// docs/security.md S6', // 11: findings S3–S5 only
    ].join('\n'),
  );
  try {
    const problems = checkCitations(root);
    const lines = problems.map((p) => Number(/^src\/a\.ts:(\d+):/.exec(p)?.[1]));
    t.deepEqual(lines, [1, 2, 3, 4, 5, 6, 7, 8, 11, 9, 10], problems.join('\n'));
    t.true((problems[1] as string).includes(`${OLD_NOTE}, which is not in the repository`));
    t.regex(problems[3] as string, /transcript rule 3: docs\/security\.md has 2 transcript rules/);
  } finally {
    cleanup();
  }
});
