/**
 * Renders one or more bench results files as Markdown tables for docs/BENCHMARKS.md, so the published numbers
 * are copied by a program rather than by hand. Usage: `node -r @swc-node/register bench/markdown.ts a.json [b.json]`.
 */
import { readFileSync } from 'node:fs';
import type { Row } from './lib/results';

interface Results {
  date: string;
  command: string;
  durationSeconds: number;
  incomplete?: boolean;
  commit: string;
  machine: Record<string, string | number>;
  versions: Record<string, string>;
  rows: Row[];
}

const cell = (v: number | string | null) => (v === null ? '—' : String(v).replace(/\|/g, '\\|'));

for (const file of process.argv.slice(2)) {
  const r = JSON.parse(readFileSync(file, 'utf8')) as Results;
  const m = r.machine;
  const lines = [
    `Run of ${r.date} (commit ${r.commit}, ${r.durationSeconds} s${r.incomplete === true ? ', INCOMPLETE' : ''}): ` +
      `${m.nproc} × ${m.cpuModel}, ${m.memoryTotalMB} MB, Node ${m.node}, ${m.kernel}, load average ${m.loadAvg1m} at start; ` +
      `socket.io ${r.versions.socketIo}, socket.io-client ${r.versions.socketIoClient}; ${m.pinned}.`,
    '',
    '| # | metric | bare | plain Nest | ours | ratio | goal | result |',
    '|---|---|---|---|---|---|---|---|',
    ...r.rows.map(
      (x) =>
        `| ${x.scenario} | ${cell(x.metric)} | ${cell(x.bare)} | ${cell(x.nest ?? null)} | ${cell(x.ours)} | ${cell(x.ratio)} | ${cell(x.goal)} | ${
          x.met === null ? 'not measured' : x.met ? 'met' : '**missed**'
        } |`,
    ),
    ...r.rows.filter((x) => x.note !== undefined).map((x) => `\nScenario ${x.scenario}: ${x.note}`),
    '',
  ];
  process.stdout.write(lines.join('\n') + '\n');
}
