/**
 * What one connection costs the server in RSS, and what a refused one costs: the figures behind the
 * WS_MAX_CONNECTIONS default (README, "Connection caps"). Not part of `npm run bench`; run alone:
 *
 *   npm run build && node -r @swc-node/register bench/connection-memory.ts [connections=2000]
 *
 * Three fresh servers (`node dist/main`, production mode, GC on SIGUSR2 as in the benchmark): one holds N raw
 * engine.io sessions that never send a Socket.IO CONNECT (a handshake flood), one N authenticated sockets, one
 * has WS_MAX_CONNECTIONS=1 and refuses N upgrades three times over. RSS is read after two GCs, before and after.
 */
import { sign } from 'jsonwebtoken';
import WebSocket from 'ws';
import { gcPreload, rssKb } from './lib/processes';
import { JWT_SECRET, startServer } from './lib/servers';

const BATCH = 50;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function settledRss(pid: number): Promise<number> {
  process.kill(pid, 'SIGUSR2');
  await sleep(300);
  process.kill(pid, 'SIGUSR2');
  await sleep(1500);
  return rssKb(pid);
}

/** One engine.io session over WebSocket, authenticated as `userId` when given; null when refused. */
function open(port: number, userId?: string): Promise<WebSocket | null> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/socket.io/?EIO=4&transport=websocket`);
    ws.on('error', () => resolve(null));
    ws.on('unexpected-response', (_req, res) => {
      res.resume();
      resolve(null);
    });
    ws.on('message', (data: Buffer) => {
      const frame = data.toString('utf8');
      if (frame === '2') ws.send('3');
      else if (frame.startsWith('0') && userId === undefined) resolve(ws);
      else if (frame.startsWith('0'))
        ws.send(`40${JSON.stringify({ token: sign({}, JWT_SECRET, { subject: userId, expiresIn: '1h' }) })}`);
      else if (frame.startsWith('40')) resolve(ws);
    });
  });
}

async function openMany(port: number, n: number, authenticated: boolean): Promise<WebSocket[]> {
  const held: WebSocket[] = [];
  for (let i = 0; i < n; i += BATCH) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(BATCH, n - i) }, (_, j) =>
        open(port, authenticated ? `user-${i + j}` : undefined),
      ),
    );
    for (const ws of batch) if (ws !== null) held.push(ws);
  }
  return held;
}

async function measure(mode: 'unauthenticated' | 'authenticated' | 'refused', n: number, preload: string) {
  const server = await startServer({
    name: mode,
    kind: 'ours',
    gcPreload: preload,
    // Sessions must outlive the measurement; the refusing server has room for one.
    extraEnv: { WS_CONNECT_TIMEOUT_MS: '600000', WS_MAX_CONNECTIONS: mode === 'refused' ? '1' : '100000' },
  });
  try {
    const before = await settledRss(server.pid);
    const rounds = mode === 'refused' ? 3 : 1;
    const after: number[] = [];
    const held: WebSocket[] = [];
    for (let r = 0; r < rounds; r++) {
      held.push(...(await openMany(server.port, n, mode === 'authenticated')));
      after.push(await settledRss(server.pid));
    }
    const perConnectionKb = after.map((kb, i) => +((kb - (i === 0 ? before : after[i - 1])) / n).toFixed(2));
    console.log(
      JSON.stringify({
        mode,
        attempts: n,
        open: held.length,
        rssBeforeKb: before,
        rssAfterKb: after,
        perConnectionKb,
      }),
    );
    for (const ws of held) ws.terminate();
  } finally {
    await server.stop();
  }
}

async function main(): Promise<void> {
  const n = Number(process.argv[2] ?? 2000);
  const preload = gcPreload();
  for (const mode of ['unauthenticated', 'authenticated', 'refused'] as const)
    await measure(mode, n, preload);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
