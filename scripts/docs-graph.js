#!/usr/bin/env node
// Draws the import graph between src/ folders, as dependency-cruiser sees it with the project's own rule file
// (.dependency-cruiser.cjs), into docs/architecture.md between the dependency-graph markers.
//   node scripts/docs-graph.js          rewrite the picture
//   node scripts/docs-graph.js --check  exit 1 when the committed picture differs from the code (a test runs this)
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const doc = path.join(root, 'docs', 'architecture.md');
const START = '<!-- dependency-graph:start (npm run docs:graph) -->';
const END = '<!-- dependency-graph:end -->';

/** The picture's bands, bottom up; every folder of src/ must be in one (the rule file says who may import whom). */
const GROUPS = [
  ['infrastructure', ['common', 'config', 'logging', 'lifecycle', 'redis', 'database', 'error-tracking']],
  ['metrics core', ['metrics']],
  ['features', ['streams', 'realtime', 'health', 'history', 'cluster', 'alerts']],
];
const ROOT_GROUP = 'composition root';

function cruise() {
  const bin = path.join(root, 'node_modules', 'dependency-cruiser', 'bin', 'dependency-cruiser.mjs');
  const out = execFileSync(
    process.execPath,
    [
      bin,
      'src',
      '--config',
      '.dependency-cruiser.cjs',
      '--output-type',
      'json',
      '--include-only',
      '^src/',
      '--exclude',
      '\\.spec\\.ts$',
    ],
    { cwd: root, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
  );
  return JSON.parse(out);
}

/** src/realtime/x.ts → realtime; src/main.ts → main.ts */
function unit(file) {
  const m = /^src\/([^/]+)\/(.*)$/.exec(file);
  if (m !== null) return m[1];
  return file.replace(/^src\//, '');
}

const id = (name) => name.replace(/[^A-Za-z0-9]/g, '_');

function render(result) {
  const edges = new Set();
  const nodes = new Set();
  for (const mod of result.modules) {
    const from = unit(mod.source);
    nodes.add(from);
    for (const dep of mod.dependencies) {
      if (!dep.resolved.startsWith('src/')) continue;
      const to = unit(dep.resolved);
      nodes.add(to);
      if (to !== from) edges.add(`${from}\t${to}`);
    }
  }
  const grouped = new Set(GROUPS.flatMap(([, names]) => names));
  const rootFiles = [...nodes].filter((n) => n.endsWith('.ts')).sort();
  const strays = [...nodes].filter((n) => !n.endsWith('.ts') && !grouped.has(n));
  if (strays.length > 0)
    throw new Error(`src/ folders missing from GROUPS in scripts/docs-graph.js: ${strays.join(', ')}`);
  const lines = ['```mermaid', 'flowchart BT'];
  const band = (title, names) => {
    lines.push(`  subgraph ${id(title)}["${title}"]`);
    for (const n of names) if (nodes.has(n)) lines.push(`    ${id(n)}["${n}"]`);
    lines.push('  end');
  };
  for (const [title, names] of GROUPS) band(title, names);
  band(ROOT_GROUP, rootFiles);
  for (const e of [...edges].sort()) {
    const [from, to] = e.split('\t');
    lines.push(`  ${id(from)} --> ${id(to)}`);
  }
  lines.push('```');
  return lines.join('\n');
}

function main() {
  const picture = render(cruise());
  const text = fs.readFileSync(doc, 'utf8');
  const a = text.indexOf(START);
  const b = text.indexOf(END);
  if (a < 0 || b < a) throw new Error(`${path.relative(root, doc)} lacks the markers ${START} … ${END}`);
  const next = `${text.slice(0, a + START.length)}\n${picture}\n${text.slice(b)}`;
  if (process.argv.includes('--check')) {
    if (next !== text) {
      process.stderr.write(
        'docs/architecture.md: the dependency picture is stale; run `npm run docs:graph`\n',
      );
      process.exit(1);
    }
    process.stdout.write('docs/architecture.md: dependency picture is current\n');
    return;
  }
  fs.writeFileSync(doc, next);
  process.stdout.write('docs/architecture.md: dependency picture written\n');
}

main();
