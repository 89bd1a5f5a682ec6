import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { freePort, SERVER_CORE, spawnPinned } from './processes';

export const ROOT = join(__dirname, '..', '..');
export const JWT_SECRET = 'bench-secret-0123456789abcdefghijklmnopqrstuvwxyz';
export const PUBLISH_TOKEN = 'bench-publish-token';

/**
 * The limits that would otherwise shape the load test rather than the server: every bench user is distinct, but
 * one client keeps thousands of acks a second in flight, far above the production default of 20/s.
 */
const GENEROUS_LIMITS = {
  WS_RATE_LIMIT: '1000000',
  WS_RATE_BURST: '1000000',
  WS_MAX_CONNECTIONS_PER_USER: '100000',
  WS_MAX_CONNECTIONS: '100000',
};

/** Options shared by our server and the reference ones (bench/lib/baseline.ts reads the same names). */
const SOCKET_OPTIONS = {
  WS_TRANSPORTS: 'websocket',
  WS_MAX_PAYLOAD_BYTES: '65536',
  WS_PING_INTERVAL_MS: '25000',
  WS_PING_TIMEOUT_MS: '20000',
  WS_CONNECT_TIMEOUT_MS: '10000',
};

/** bare Socket.IO, the plain Nest gateway (both doing bench/lib/baseline.ts's work), or this server. */
export type ServerKind = 'bare' | 'nest' | 'ours';

const REFERENCE_SCRIPT: Record<Exclude<ServerKind, 'ours'>, string> = {
  bare: 'bench/bare-server.ts',
  nest: 'bench/plain-nest-server.ts',
};

export interface ServerHandle {
  name: string;
  kind: ServerKind;
  port: number;
  url: string;
  pid: number;
  proc: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

export interface StartOptions {
  name: string;
  kind: ServerKind;
  gcPreload: string;
  redisUrl?: string;
  /** Extra env for our server (e.g. the switch that turns monitoring off). */
  extraEnv?: Record<string, string>;
  /** Node flags, e.g. --cpu-prof. */
  nodeFlags?: string[];
  /** Where our server's dist/ is (an earlier build, bench/lib/before-build.ts); this checkout by default. */
  root?: string;
}

export async function startServer(opts: StartOptions): Promise<ServerHandle> {
  const port = await freePort();
  const common = {
    PORT: String(port),
    JWT_SECRET,
    PUBLISH_TOKEN,
    ...SOCKET_OPTIONS,
  };
  const flags = ['--expose-gc', '-r', opts.gcPreload, ...(opts.nodeFlags ?? [])];
  const argv =
    opts.kind === 'ours'
      ? [process.execPath, ...flags, 'dist/main']
      : [process.execPath, ...flags, '-r', '@swc-node/register', REFERENCE_SCRIPT[opts.kind]];
  const env: Record<string, string> =
    opts.kind !== 'ours'
      ? { ...common, NODE_ENV: 'production' }
      : {
          ...common,
          ...GENEROUS_LIMITS,
          NODE_ENV: 'production',
          HOST: '127.0.0.1',
          LOG_LEVEL: 'warn',
          ...(opts.redisUrl !== undefined ? { REDIS_URL: opts.redisUrl } : {}),
          ...opts.extraEnv,
        };
  const proc = spawnPinned(argv, { core: SERVER_CORE, env, cwd: opts.root ?? ROOT });
  let out = '';
  const keep = (d: Buffer) => {
    out += d.toString('utf8');
    if (out.length > 200_000) out = out.slice(-100_000);
  };
  proc.stdout?.on('data', keep);
  proc.stderr?.on('data', keep);
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const handle: ServerHandle = {
    name: opts.name,
    kind: opts.kind,
    port,
    url,
    pid: proc.pid ?? -1,
    proc,
    output: () => out,
    stop: async () => {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`${opts.name} exited before listening:\n${out}`);
    try {
      const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(1000) });
      if (res.ok) return handle;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await handle.stop();
      throw new Error(`${opts.name} did not answer /health within 30 s:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
