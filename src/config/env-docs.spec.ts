import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ENV_VARIABLE_NAMES } from './env.schema';

/**
 * .env.example and docs/configuration.md's table must list exactly the variables the schema reads; the README's
 * day-one table lists a few of them, and only real ones.
 */
describe('configuration documentation', () => {
  const root = join(__dirname, '..', '..');

  it('.env.example lists every variable, and nothing else', () => {
    const text = readFileSync(join(root, '.env.example'), 'utf8');
    const listed = [...text.matchAll(/^([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1]);
    expect([...listed].sort()).toEqual([...ENV_VARIABLE_NAMES].sort());
  });

  it("docs/configuration.md's table lists every variable", () => {
    const readme = readFileSync(join(root, 'docs', 'configuration.md'), 'utf8');
    const rows = new Set([...readme.matchAll(/^\| `([A-Z][A-Z0-9_]*)`/gm)].map((m) => m[1]));
    const missing = ENV_VARIABLE_NAMES.filter((name) => !rows.has(name));
    expect(missing).toEqual([]);
  });

  it.each(['README.md', join('docs', 'configuration.md')])(
    '%s names only variables the schema reads',
    (file) => {
      const readme = readFileSync(join(root, file), 'utf8');
      const rows = [...readme.matchAll(/^\| `([A-Z][A-Z0-9_]*)`/gm)].map((m) => m[1]);
      expect(rows.length).toBeGreaterThan(0);
      expect(rows.filter((name) => !ENV_VARIABLE_NAMES.includes(name))).toEqual([]);
    },
  );
});
