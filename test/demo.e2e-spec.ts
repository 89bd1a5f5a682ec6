import { ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MetricsSnapshot } from '../src/metrics/metrics.service';
import { DASHBOARD_HINT } from '../src/metrics/dashboard/dashboard.start-hint';
import { freePort } from './utils/ports';
import { ensureBuilt, ROOT } from './utils/server-process';

const CLIENTS = 40;
/** What `npm run demo` runs after ensure-build; spawned directly so the test holds the demo's own exit code. */
const DEMO_COMMAND = 'node -r @swc-node/register scripts/demo.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Live processes whose process group is `pgid`: the demo, its server, anything they started. */
function processGroup(pgid: number): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // Fields after "(comm)": state, ppid, pgrp, …
      const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(pgrp) === pgid && state !== 'Z') pids.push(Number(entry));
    } catch {
      // exited while being read
    }
  }
  return pids;
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function metrics(base: string): Promise<MetricsSnapshot> {
  const res = await fetch(`${base}/metrics`, { signal: AbortSignal.timeout(3000) });
  expect(res.status).toBe(200);
  return (await res.json()) as MetricsSnapshot;
}

describe('npm run demo (e2e)', () => {
  let demo: ChildProcess | undefined;
  let exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  let output = '';
  let dir: string;
  let port: number;
  let base: string;

  /** Resolves once the demo's output matches, failing early if the demo exits. */
  async function waitForOutput(pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const match = pattern.exec(output);
      if (match) return match;
      if (demo?.exitCode !== null) throw new Error(`the demo exited (${demo?.exitCode}):\n${output}`);
      await sleep(100);
    }
    throw new Error(`no ${pattern} in the demo's output within ${timeoutMs} ms:\n${output}`);
  }

  beforeAll(async () => {
    ensureBuilt();
    dir = mkdtempSync(join(tmpdir(), 'demo-test-'));
    port = await freePort();
    base = `http://127.0.0.1:${port}`;
    // Its own process group, so SIGINT to the group is what Ctrl-C in a terminal does; --seconds bounds it
    // should this test die before sending it.
    demo = spawn(
      process.execPath,
      [
        '-r',
        '@swc-node/register',
        'scripts/demo.ts',
        '--port',
        String(port),
        '--seconds',
        '90',
        '--log',
        join(dir, 'server.log'),
      ],
      { cwd: ROOT, env: { PATH: process.env.PATH ?? '' }, detached: true, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    demo.stdout?.on('data', (d: Buffer) => (output += d.toString('utf8')));
    demo.stderr?.on('data', (d: Buffer) => (output += d.toString('utf8')));
    const child = demo;
    exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  }, 200_000);

  afterAll(async () => {
    // Only if a test failed before the demo stopped: the group is the one this test started.
    if (demo?.pid !== undefined && processGroup(demo.pid).length > 0) {
      process.kill(-demo.pid, 'SIGKILL');
      await exited;
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('is what npm run demo runs', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    };
    expect(pkg.scripts.demo).toContain(DEMO_COMMAND);
  });

  it('prints the dashboard URL on the port it was given, and the server logs where the dashboard is', async () => {
    await waitForOutput(new RegExp(`Dashboard: ${base}/dashboard\\n`), 60_000);
    expect(output).toContain('npm run token -- ');
    const log = readFileSync(join(dir, 'server.log'), 'utf8');
    expect(log).toContain(`${DASHBOARD_HINT} ${base}/dashboard`);
    expect(log).toContain('npm run token');
  }, 70_000);

  it("moves the dashboard's figures: connections, users, events/s, subscriptions and trades", async () => {
    // Clients connect and the publisher starts as the URL is printed: give them a moment, then two samples.
    await sleep(2000);
    const first = await metrics(base);
    await sleep(4000);
    const second = await metrics(base);

    // Most of the clients are connected at any time (a few are between a drop and their reconnection).
    for (const m of [first, second]) {
      expect(m.websocket.totalConnections).toBeGreaterThanOrEqual(CLIENTS / 2);
      expect(m.websocket.totalConnections).toBeLessThanOrEqual(CLIENTS);
      expect(m.websocket.uniqueUsers).toBeGreaterThan(0);
      expect(m.websocket.uniqueUsers).toBeLessThanOrEqual(m.websocket.totalConnections);
    }
    expect(second.websocket.eventsPerSecond).toBeGreaterThan(0);
    // About three trades a second and a steady stream of (re)subscriptions.
    expect(second.business.trades - first.business.trades).toBeGreaterThanOrEqual(3);
    expect(second.business.subscriptionEvents).toBeGreaterThan(first.business.subscriptionEvents);
    expect(second.http.requestsPerSecond).toBeGreaterThan(1);
  }, 20_000);

  it('drops and reconnects clients, and says so', async () => {
    const match = await waitForOutput(/drops (\d+) · reconnects ([1-9]\d*)/, 15_000);
    expect(Number(match[1])).toBeGreaterThan(0);
  }, 20_000);

  it('Ctrl-C stops it cleanly: exit 0, the server gone, nothing of the group left running', async () => {
    const pgid = demo!.pid!;
    // The demo and its server (at least).
    expect(processGroup(pgid).length).toBeGreaterThanOrEqual(2);
    process.kill(-pgid, 'SIGINT');
    const { code, signal } = await exited;
    expect({ code, signal }).toEqual({ code: 0, signal: null });
    expect(output).toContain('Stopped.');
    expect(processGroup(pgid)).toEqual([]);
    expect(await portOpen(port)).toBe(false);
    // The server shut down by itself, not by the demo's last resort.
    expect(readFileSync(join(dir, 'server.log'), 'utf8')).toContain('Shutdown complete');
  }, 30_000);
});
