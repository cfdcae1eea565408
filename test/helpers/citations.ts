/**
 * The citation check behind test/docs/citations.test.ts: code and documents may cite only
 * documents that are in the repository, and only threat ids, numbered rules and sections those
 * documents define (docs/style.md, "Comments").
 *
 * What counts as a citation:
 * - any file name ending in `.md` (`docs/security.md`, `departures.md`, `certs/README.md`),
 *   resolved against the citing file's folder, the repository root and `docs/`, with exact case;
 * - right after it, optionally: threat or finding ids (`docs/security.md A9, A10`), a numbered rule
 *   (`docs/architecture.md, durability rule 3`), a quoted section (`docs/security.md, "Decisions"`),
 *   or a `#anchor` (`security.md#transcript-rules`);
 * - a numbered rule named without its document ("transcript rule N" with no document before
 *   it) is refused in code: the reader must be told where to look;
 * - references to the product note of the project's start, which was never part of the
 *   repository, are refused: docs/product.md replaces it.
 *
 * What a document defines: its headings (and their anchors); ids at the start of a heading
 * (`### A13. …`) or in parentheses in one (`## Aux-info moduli (P3, P5, S10)`, `(S3–S5)`); and for
 * each heading "<Name> rules" the numbered list under it, 1 … k.
 * @module
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, sep } from 'node:path';

/** Folders whose TypeScript is scanned, and folders whose Markdown is scanned. */
const CODE_DIRS = ['src', 'test', 'assembly', 'bench', 'scripts'];
const SKIP_DIRS = new Set(['node_modules', 'dist', 'build', '.git', 'data', 'certs-ca', '.kmsNodes']);

/** Names of notes outside the repository that code once cited; each must be replaced by a document. */
const FOREIGN_NOTES: readonly RegExp[] = [/\bseed[ \t]+note\b/i, /\bthe[ \t]+seed's\b/i];

export interface DocIndex {
  /** heading texts, as written */
  readonly headings: readonly string[];
  /** anchors of the headings (GitHub's slugs) */
  readonly anchors: ReadonlySet<string>;
  /** ids defined by headings: A13, P3, S10 … */
  readonly ids: ReadonlySet<string>;
  /** rule set name (lower case, e.g. "durability") → number of rules */
  readonly rules: ReadonlyMap<string, number>;
}

/** GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens. */
export function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

const ID = /^[A-Z]\d{1,2}$/;

/** Ids in one heading: a leading `A13.` and any in parentheses, ranges such as `S3–S5` expanded. */
function headingIds(h: string): string[] {
  const out: string[] = [];
  const lead = /^([A-Z]\d{1,2})[.:]\s/.exec(h);
  if (lead) out.push(lead[1] as string);
  for (const group of h.matchAll(/\(([^)]*)\)/g)) {
    for (const part of (group[1] as string).split(/\s*(?:,|\/|\band\b)\s*/)) {
      const range = /^([A-Z])(\d{1,2})\s*[–-]\s*\1(\d{1,2})$/.exec(part.trim());
      if (range) {
        for (let k = Number(range[2]); k <= Number(range[3]); k++) out.push(`${range[1]}${k}`);
      } else if (ID.test(part.trim())) {
        out.push(part.trim());
      }
    }
  }
  return out;
}

/** Headings, ids and numbered rule sets of one Markdown document. */
export function indexDocument(text: string): DocIndex {
  const headings: string[] = [];
  const ids = new Set<string>();
  const rules = new Map<string, number>();
  let fence = false;
  let ruleSet: { name: string; level: number; next: number } | undefined;
  for (const line of text.split('\n')) {
    if (/^\s*```/.test(line)) {
      fence = !fence;
      continue;
    }
    if (fence) continue;
    const h = /^(#{1,6})\s+(.*?)\s*#*\s*$/.exec(line);
    if (h) {
      const level = (h[1] as string).length;
      const title = h[2] as string;
      headings.push(title);
      for (const id of headingIds(title)) ids.add(id);
      if (ruleSet && level <= ruleSet.level) ruleSet = undefined;
      const named = /(\p{L}[\p{L}-]*)\s+rules\b/iu.exec(title);
      if (named) {
        ruleSet = { name: (named[1] as string).toLowerCase(), level, next: 1 };
        rules.set(ruleSet.name, 0);
      }
      continue;
    }
    const item = /^(\d+)\.\s/.exec(line);
    if (ruleSet && item && Number(item[1]) === ruleSet.next) {
      rules.set(ruleSet.name, ruleSet.next);
      ruleSet.next++;
    }
  }
  return { headings, anchors: new Set(headings.map(slug)), ids, rules };
}

/** Repository-relative paths (with "/") of the files the check reads. */
export function filesToScan(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string, keep: (name: string) => boolean): void => {
    for (const e of readdirSync(join(root, dir), { withFileTypes: true })) {
      if (e.isDirectory()) {
        if (!SKIP_DIRS.has(e.name)) walk(join(dir, e.name), keep);
      } else if (e.isFile() && keep(e.name)) {
        out.push(join(dir, e.name).split(sep).join('/'));
      }
    }
  };
  for (const d of CODE_DIRS) if (isDir(join(root, d))) walk(d, (n) => n.endsWith('.ts') || n.endsWith('.md'));
  for (const d of ['docs', 'certs', 'env'])
    if (isDir(join(root, d))) walk(d, (n) => n.endsWith('.md') || n.startsWith('.env'));
  for (const e of readdirSync(root, { withFileTypes: true }))
    if (e.isFile() && e.name.endsWith('.md')) out.push(e.name);
  return out.sort();
}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** True if `rel` names an existing file, compared with exact case on every path segment. */
function existsExact(root: string, rel: string): boolean {
  const parts = normalize(rel)
    .split(sep)
    .filter((p) => p !== '' && p !== '.');
  if (parts.some((p) => p === '..')) return false;
  let dir = root;
  for (const [k, name] of parts.entries()) {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return false;
    }
    if (!names.includes(name)) return false;
    dir = join(dir, name);
    if (k < parts.length - 1 && !isDir(dir)) return false;
  }
  return isDir(dir) === false;
}

/** The repository-relative path a cited name refers to, or undefined if it is not in the repository. */
function resolveDoc(root: string, from: string, name: string): string | undefined {
  const candidates = [join(dirname(from), name), name, join('docs', name)].map((p) =>
    normalize(p).split(sep).join('/'),
  );
  return candidates.find((p) => !p.startsWith('..') && existsExact(root, p));
}

/** Comment continuations (` * `, `// `) joined, so a citation wrapped across lines still parses. */
function unwrap(s: string): string {
  return s.replace(/\s*\n\s*(?:\*(?!\/)|\/\/|#)?\s*/g, ' ');
}

const DOC_NAME = /(?<![\w/.-])((?:\.{1,2}\/)?(?:[\w.-]+\/)*[\w-][\w.-]*\.md)(#[\p{L}\p{N}_-]+)?(?![\w-])/gu;
const QUALIFIER =
  /^[,:]?[ \t]*(?:"([^"\n]{1,80})"|([\p{L}-]+)[ \t]+rules?[ \t]+(\d+(?:[ \t]*(?:,|–|-|and)[ \t]*\d+)*)|([A-Z]\d{1,2}(?:[ \t]*(?:,|\/|and|&)[ \t]*[A-Z]\d{1,2})*)(?![\w]))/u;

function numbers(list: string): number[] {
  const out: number[] = [];
  for (const part of list.split(/\s*(?:,|\band\b)\s*/)) {
    const range = /^(\d+)\s*[–-]\s*(\d+)$/.exec(part.trim());
    if (range) for (let k = Number(range[1]); k <= Number(range[2]); k++) out.push(k);
    else if (/^\d+$/.test(part.trim())) out.push(Number(part.trim()));
  }
  return out;
}

/**
 * Every dangling citation in the given files, as "path:line: what is wrong". Empty when every
 * cited document, id, rule and section exists.
 */
export function checkCitations(root: string, files: readonly string[] = filesToScan(root)): string[] {
  const problems: string[] = [];
  const docs = new Map<string, DocIndex>();
  const doc = (path: string): DocIndex => {
    let d = docs.get(path);
    if (!d) {
      d = indexDocument(readFileSync(join(root, path), 'utf8'));
      docs.set(path, d);
    }
    return d;
  };
  // rule set names any Markdown document of the repository defines
  const ruleNames = new Set<string>();
  for (const f of filesToScan(root)) if (f.endsWith('.md')) for (const name of doc(f).rules.keys()) ruleNames.add(name);

  for (const file of files) {
    // URLs are not citations of repository documents; blank them keeping line numbers
    const text = readFileSync(join(root, file), 'utf8').replace(/\b[a-z][a-z0-9+.-]*:\/\/[^\s)>'"`\]]+/gi, (u) =>
      ' '.repeat(u.length),
    );
    const lineOf = (index: number): number => text.slice(0, index).split('\n').length;
    const report = (index: number, what: string): void => void problems.push(`${file}:${lineOf(index)}: ${what}`);
    /** where each citation's document name ends: a rule right after one belongs to it */
    const ends: number[] = [];

    for (const m of text.matchAll(DOC_NAME)) {
      const name = m[1] as string;
      const at = m.index;
      ends.push(at + m[0].length);
      const target = resolveDoc(root, file, name);
      if (!target) {
        report(at, `cites ${name}, which is not in the repository`);
        continue;
      }
      const d = doc(target);
      const anchor = m[2];
      if (anchor && !d.anchors.has(anchor.slice(1)))
        report(at, `cites ${name}${anchor}: ${target} has no such heading`);
      const after = text.slice(at + m[0].length, at + m[0].length + 240);
      const flat = unwrap(after);
      const q = QUALIFIER.exec(flat);
      if (!q) continue;
      if (q[1] !== undefined) {
        const section = q[1].trim().toLowerCase();
        if (
          !d.headings.some(
            (h) => h.toLowerCase() === section || h.toLowerCase().replace(/^[A-Z]\d{1,2}\.\s*/i, '') === section,
          )
        ) {
          report(at, `cites ${name}, "${q[1]}": ${target} has no such section`);
        }
      } else if (q[2] !== undefined) {
        const set = q[2].toLowerCase();
        const count = d.rules.get(set);
        if (count === undefined) report(at, `cites ${name}, ${q[2]} rule: ${target} has no "${q[2]} rules"`);
        else
          for (const n of numbers(q[3] as string))
            if (n < 1 || n > count) report(at, `cites ${name}, ${set} rule ${n}: ${target} has ${count} ${set} rules`);
      } else if (q[4] !== undefined) {
        for (const id of q[4].split(/[ \t]*(?:,|\/|and|&)[ \t]*/)) {
          if (!d.ids.has(id)) report(at, `cites ${name} ${id}: ${target} defines no ${id}`);
        }
      }
    }

    // a numbered rule named without the document that numbers it
    const self = file.endsWith('.md') ? doc(file) : undefined;
    for (const m of text.matchAll(/\b([\p{L}-]+)[ \t]+rules?[ \t]+(\d+)/gu)) {
      const set = (m[1] as string).toLowerCase();
      if (!ruleNames.has(set)) continue;
      const end = Math.max(-1, ...ends.filter((e) => e <= m.index));
      if (end >= 0 && /^[,:]?\s*$/.test(unwrap(text.slice(end, m.index)))) continue;
      if (self?.rules.has(set)) {
        const count = self.rules.get(set) as number;
        if (Number(m[2]) > count) report(m.index, `${set} rule ${m[2]}: this document has ${count} ${set} rules`);
        continue;
      }
      report(m.index, `cites ${set} rule ${m[2]} without naming the document that numbers it`);
    }

    for (const pattern of FOREIGN_NOTES) {
      for (const m of text.matchAll(new RegExp(pattern.source, 'gi')))
        report(m.index, `refers to "${m[0]}", a note outside the repository`);
    }
  }
  return problems;
}
