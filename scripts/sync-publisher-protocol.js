#!/usr/bin/env node
// Copies the server's stream protocol (src/streams/stream-protocol.ts) into the publisher library, so both take
// exactly the same atomic step. `node scripts/sync-publisher-protocol.js --check` fails if the copy differs
// (test/publisher.e2e-spec.ts runs it).
const { readFileSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');

const root = join(__dirname, '..');
const source = join(root, 'src/streams/stream-protocol.ts');
const target = join(root, 'packages/publisher/src/stream-protocol.ts');
const header =
  '// Generated from src/streams/stream-protocol.ts by `npm run publisher:sync`: edit that file, not this one.\n';
const expected = header + readFileSync(source, 'utf8');

if (process.argv.includes('--check')) {
  let actual = '';
  try {
    actual = readFileSync(target, 'utf8');
  } catch {
    // missing counts as different
  }
  if (actual !== expected) {
    console.error(`${target} differs from ${source}: run npm run publisher:sync`);
    process.exit(1);
  }
} else {
  writeFileSync(target, expected);
}
