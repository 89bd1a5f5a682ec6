import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { ALERT_KEYS } from '../src/alerts/alert-keys';

/**
 * The manual (README.md and docs/) is checked like code: every relative link and anchor resolves, nothing points
 * outside the repository, every docs page is reachable from the README, and the runbook has a section for every
 * alert key the server can send.
 */
const ROOT = join(__dirname, '..');
const DOCS = join(ROOT, 'docs');

/** README.md and every Markdown file under docs/, as repository-relative paths. */
function manualFiles(): string[] {
  const walk = (dir: string): string[] =>
    readdirSync(dir).flatMap((name) => {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) return walk(path);
      return name.endsWith('.md') ? [path] : [];
    });
  return ['README.md', ...walk(DOCS).map((path) => relative(ROOT, path))];
}

/** The text outside fenced code blocks and inline code, where a link or a heading can be. */
function proseLines(markdown: string): string[] {
  let fenced = false;
  return markdown.split('\n').flatMap((line) => {
    if (/^\s*(```|~~~)/.test(line)) {
      fenced = !fenced;
      return [];
    }
    return fenced ? [] : [line.replace(/`[^`]*`/g, (code) => code.replace(/[[\]()]/g, ' '))];
  });
}

/** GitHub's anchor for a heading: lower-cased, punctuation dropped (not `-` or `_`), spaces to dashes. */
function headingSlug(heading: string): string {
  return heading
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
    .replace(/ /g, '-');
}

/** Every anchor of a Markdown file, with GitHub's `-1`, `-2` suffixes for repeated headings. */
function anchorsOf(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const anchors = new Set<string>();
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (/^\s*(```|~~~)/.test(line)) fenced = !fenced;
    const heading = fenced ? null : /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!heading) continue;
    const base = headingSlug(heading[1]);
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    anchors.add(count === 0 ? base : `${base}-${count}`);
  }
  return anchors;
}

/** `[text](target)` and `![alt](target)` in prose, and reference definitions `[id]: target`. */
function linksOf(markdown: string): string[] {
  const lines = proseLines(markdown);
  const inline = lines.flatMap((line) =>
    [...line.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)].map((m) => m[1]),
  );
  const references = lines.flatMap((line) => {
    const m = /^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+"[^"]*")?\s*$/.exec(line);
    return m ? [m[1]] : [];
  });
  return [...inline, ...references];
}

/** Why a link from `file` (repository-relative) is broken, or null when it resolves inside the repository. */
function brokenLink(file: string, target: string, root = ROOT): string | null {
  if (/^(https?:|mailto:)/i.test(target)) return null;
  if (/^[a-z][a-z0-9+.-]*:/i.test(target)) return `${target}: a ${target.split(':')[0]}: link points outside the repository`;
  if (isAbsolute(target) || target.startsWith('~')) return `${target}: an absolute path points outside the repository`;
  const [pathPart, anchor] = target.split('#', 2) as [string, string | undefined];
  const path = decodeURIComponent(pathPart);
  const resolved = path === '' ? join(root, file) : resolve(dirname(join(root, file)), path);
  const inside = relative(root, resolved);
  if (inside.startsWith('..') || isAbsolute(inside)) return `${target}: points outside the repository`;
  if (!existsSync(resolved)) return `${target}: no such file (${inside})`;
  if (anchor === undefined || anchor === '') return null;
  if (!resolved.endsWith('.md')) return `${target}: an anchor into a file that is not Markdown`;
  const anchors = anchorsOf(readFileSync(resolved, 'utf8'));
  return anchors.has(anchor) ? null : `${target}: no heading with the anchor #${anchor} in ${inside}`;
}

/** Files git would commit (tracked, or new and not ignored), for the scan of words that point outside. */
function repositoryTextFiles(): string[] {
  const listed = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  return listed
    .split('\0')
    .filter((path) => path !== '' && !path.split('/').includes('node_modules') && existsSync(join(ROOT, path)))
    .filter((path) => statSync(join(ROOT, path)).isFile())
    .filter((path) => !readFileSync(join(ROOT, path)).includes(0));
}

describe('the manual', () => {
  const files = manualFiles();

  it('finds the README and the docs pages', () => {
    expect(files).toContain('README.md');
    expect(files).toContain(join('docs', 'runbook.md'));
  });

  it.each(files)('%s: every relative link resolves to a file and every anchor to a heading', (file) => {
    const broken = linksOf(readFileSync(join(ROOT, file), 'utf8'))
      .map((target) => brokenLink(file, target))
      .filter((reason): reason is string => reason !== null);
    expect(broken).toEqual([]);
  });

  it('links every docs page from the README', () => {
    const linked = new Set(
      linksOf(readFileSync(join(ROOT, 'README.md'), 'utf8')).map((target) => target.split('#')[0]),
    );
    const pages = files.filter((file) => file.startsWith('docs'));
    expect(pages.filter((page) => !linked.has(page.split('\\').join('/')))).toEqual([]);
  });

  it('has a runbook section headed by each alert key the server can send', () => {
    const keysWithSection = new Set(
      proseLines(readFileSync(join(DOCS, 'runbook.md'), 'utf8'))
        .map((line) => /^#{2,4} `([^`]+)`/.exec(line)?.[1])
        .filter((key): key is string => key !== undefined),
    );
    expect(Object.values(ALERT_KEYS).filter((key) => !keysWithSection.has(key))).toEqual([]);
  });

  it('names no file or notes that live outside the repository', () => {
    // Built from parts so that this file does not match itself.
    const words = [new RegExp(`\\b${'FAC'}${'TS'}\\b`), new RegExp(`${'team'} ${'notes'}`, 'i'), /\.\.\/shared\//];
    const offenders = repositoryTextFiles().flatMap((path) => {
      const text = readFileSync(join(ROOT, path), 'utf8');
      return words.filter((word) => word.test(text)).map((word) => `${path}: ${word.source}`);
    });
    expect(offenders).toEqual([]);
  });
});

describe(brokenLink.name, () => {
  it('tells a dead file, a dead anchor and a path outside the repository from a good link', () => {
    expect(brokenLink('README.md', 'docs/runbook.md')).toBeNull();
    expect(brokenLink('README.md', 'docs/no-such-page.md')).toMatch(/no such file/);
    expect(brokenLink('README.md', 'docs/runbook.md#no-such-heading')).toMatch(/no heading/);
    expect(brokenLink('docs/runbook.md', ['..', '..', 'shared', 'notes.md'].join('/'))).toMatch(/outside the repository/);
    expect(brokenLink('README.md', '/etc/hosts')).toMatch(/absolute path/);
    expect(brokenLink('README.md', 'file:///etc/hosts')).toMatch(/outside the repository/);
    expect(brokenLink('README.md', 'https://socket.io/docs/v4/')).toBeNull();
  });

  it("follows GitHub's anchors: punctuation dropped, repeats numbered", () => {
    expect(headingSlug('Publish API: `POST /events`')).toBe('publish-api-post-events');
    expect(headingSlug('`system.event_loop_delay_p99`: event loop')).toBe('systemevent_loop_delay_p99-event-loop');
    expect([...anchorsOf('# A\n## Same\n```\n# not a heading\n```\n## Same\n')]).toEqual(['a', 'same', 'same-1']);
  });
});
