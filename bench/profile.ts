/**
 * Where does our server spend its CPU under scenario 1's load? Starts `node --cpu-prof dist/main` (or the bare
 * server with `bare` as the first argument) pinned like the benchmark, runs 100 clients with one
 * portfolio:subscribe in flight each for BENCH_PROFILE_SECONDS (10), stops the server with SIGTERM so Node
 * writes the profile, then prints self time by package and function, and the inclusive share of the gateway's
 * own steps. Usage: `node -r @swc-node/register bench/profile.ts [bare|ours]`.
 */
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gcPreload, pinSelf } from './lib/processes';
import { JWT_SECRET, startServer } from './lib/servers';
import { Worker } from './lib/workers';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Functions whose inclusive share (time with the function anywhere on the stack) is worth knowing. */
const WATCH = [
  'handleEvent',
  'subscribe',
  'record',
  'recordWsEvent',
  'recordSubscription',
  'observe',
  'inc',
  'join',
  'addAll',
  'onAny',
  'notifyOutgoingListeners',
  'emitWithAck',
  'onevent',
  'ack',
  'decode',
  'encode',
  'sendFrame',
  'write',
  'verifyAccessToken',
  'parsePortfolioSubscription',
];

function pkgOf(url: string): string {
  if (url === '') return '(native/vm)';
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + 'node_modules/'.length).split('/');
    return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
  }
  const dist = url.indexOf('/dist/');
  if (dist >= 0) return `dist/${url.slice(dist + 6).split('/')[0]}`;
  if (url.startsWith('node:')) return 'node core';
  return url.replace(/^.*\/bench\//, 'bench/');
}

export function analyze(profile: CpuProfile): string {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map<string, number>();
  const pkgSelf = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let total = 0;
  let idle = 0;
  // Only the load window counts: from the first to the last sample inside socket.io's event dispatch, so
  // start-up (module loading, compilation) and shutdown stay out of the shares.
  const inDispatch = (id: number) => {
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      if (byId.get(cur)?.callFrame.functionName === 'onevent') return true;
    }
    return false;
  };
  const first = profile.samples.findIndex(inDispatch);
  let last = profile.samples.length - 1;
  while (last > first && !inDispatch(profile.samples[last])) last--;
  profile.samples.forEach((id, i) => {
    if (i < first || i > last) return;
    const dt = profile.timeDeltas[i] ?? 0;
    const node = byId.get(id);
    if (node === undefined) return;
    const fn = node.callFrame.functionName || '(anonymous)';
    if (fn === '(idle)') {
      idle += dt;
      return;
    }
    total += dt;
    const key = `${fn} ${pkgOf(node.callFrame.url)}:${node.callFrame.lineNumber + 1}`;
    self.set(key, (self.get(key) ?? 0) + dt);
    const pkg = pkgOf(node.callFrame.url);
    pkgSelf.set(pkg, (pkgSelf.get(pkg) ?? 0) + dt);
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const f = byId.get(cur)?.callFrame;
      if (f === undefined) break;
      const k = `${f.functionName} (${pkgOf(f.url)})`;
      if (WATCH.includes(f.functionName) && !seen.has(k)) {
        seen.add(k);
        inclusive.set(k, (inclusive.get(k) ?? 0) + dt);
      }
    }
  });
  const pct = (v: number) => `${((v / total) * 100).toFixed(1).padStart(5)} %`;
  const top = (m: Map<string, number>, n: number) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([k, v]) => `  ${pct(v)}  ${k}`)
      .join('\n');
  return [
    `busy ${(total / 1e6).toFixed(2)} s, idle ${(idle / 1e6).toFixed(2)} s (shares below are of busy time)`,
    'self time by package:',
    top(pkgSelf, 15),
    'self time by function:',
    top(self, 30),
    'inclusive time (function anywhere on the stack):',
    top(inclusive, 30),
  ].join('\n');
}

async function main(): Promise<void> {
  const kind = process.argv[2] === 'bare' ? 'bare' : 'ours';
  const seconds = Number(process.env.BENCH_PROFILE_SECONDS ?? 10);
  pinSelf();
  const dir = mkdtempSync(join(tmpdir(), 'bench-prof-'));
  const server = await startServer({
    name: kind,
    kind,
    gcPreload: gcPreload(),
    nodeFlags: ['--cpu-prof', `--cpu-prof-dir=${dir}`],
  });
  const workers = [await Worker.start(), await Worker.start()];
  try {
    await Promise.all(
      workers.map((w, i) =>
        w.connect({
          group: 'p',
          url: server.url,
          count: 50,
          firstIndex: i * 50,
          userPrefix: 'prof-',
          portfolioId: 'P1',
          subscribe: true,
          listen: false,
          concurrency: 25,
          jwtSecret: JWT_SECRET,
        }),
      ),
    );
    const runs = await Promise.all(
      workers.map((w) =>
        w.ackLoop({ group: 'p', durationMs: seconds * 1000, ratePerSec: null, portfolioId: 'P1' }),
      ),
    );
    const acks = runs.reduce((a, r) => a + r.acks, 0);
    process.stderr.write(
      `${kind}: ${(acks / seconds).toFixed(0)} acks/s while profiling (profiling slows it)\n`,
    );
    await Promise.all(workers.map((w) => w.close('p')));
  } finally {
    for (const w of workers) w.stop();
    await server.stop();
  }
  const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
  if (file === undefined) throw new Error(`no profile written in ${dir}:\n${server.output().slice(-2000)}`);
  const profile = JSON.parse(readFileSync(join(dir, file), 'utf8')) as CpuProfile;
  process.stdout.write(`profile: ${join(dir, file)}\n${analyze(profile)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
