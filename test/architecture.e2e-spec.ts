import { execFile } from 'node:child_process';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

const root = path.resolve(__dirname, '..');
const depcruise = path.join(root, 'node_modules', 'dependency-cruiser', 'bin', 'dependency-cruiser.mjs');
const rules = path.join(root, '.dependency-cruiser.cjs');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(args: string[], cwd: string): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, args, { cwd, encoding: 'utf8' }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout, stderr });
    });
  });
}

/** A throwaway tree laid out like this repository's src/, checked with the repository's own rule file. */
async function cruiseTree(files: Record<string, string>): Promise<Run> {
  const dir = await mkdtemp(path.join(tmpdir(), 'layers-'));
  try {
    await writeFile(path.join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { strict: true } }));
    for (const [file, text] of Object.entries(files)) {
      await mkdir(path.dirname(path.join(dir, file)), { recursive: true });
      await writeFile(path.join(dir, file), text);
    }
    return await run([depcruise, 'src', '--config', rules, '--output-type', 'err'], dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe('architecture', () => {
  it('the committed module picture in docs/architecture.md matches the code', async () => {
    const r = await run([path.join(root, 'scripts', 'docs-graph.js'), '--check'], root);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });

  it('src/ keeps the layer rules', async () => {
    const r = await run([depcruise, 'src', '--config', rules, '--output-type', 'err'], root);
    expect(r.stdout).toContain('no dependency violations found');
    expect(r.code).toBe(0);
  });

  it('the rule file refuses an upward import, a peer import it does not list, a cycle and a folder without a layer', async () => {
    const r = await cruiseTree({
      'src/common/clock.ts': 'export const now = (): number => Date.now();\n',
      // metrics is below the features: this import points up.
      'src/metrics/names.ts': "import { EVENT } from '../realtime/events';\nexport const NAME = EVENT;\n",
      'src/realtime/events.ts':
        "import { now } from '../common/clock';\nexport const EVENT = String(now());\n",
      // history and health are peers with no allowance between them.
      'src/history/store.ts': "import { PROBE } from '../health/probe';\nexport const STORE = PROBE;\n",
      'src/health/probe.ts': 'export const PROBE = 1;\n',
      // a cycle inside one folder.
      'src/alerts/a.ts': "import { B } from './b';\nexport const A = 1 + B;\n",
      'src/alerts/b.ts': "import { A } from './a';\nexport const B = A;\n",
      'src/payments/pay.ts': "import { now } from '../common/clock';\nexport const PAY = now();\n",
    });
    expect(r.code).not.toBe(0);
    expect(r.stdout).toMatch(/layer-metrics: src\/metrics\/names\.ts → src\/realtime\/events\.ts/);
    expect(r.stdout).toMatch(/layer-history: src\/history\/store\.ts → src\/health\/probe\.ts/);
    expect(r.stdout).toMatch(/no-circular: src\/alerts\/(a|b)\.ts/);
    expect(r.stdout).toMatch(/folder-without-layer: src\/payments\/pay\.ts/);
    expect(r.stdout).not.toMatch(/src\/realtime\/events\.ts →/);
  });
});
