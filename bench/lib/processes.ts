import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, freemem, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';

/** Where `taskset` exists and there are at least two cores, servers go on core 0 and every client on core 1. */
export const PIN = hasTaskset() && cpus().length >= 2;
export const SERVER_CORE = 0;
export const CLIENT_CORE = 1;

function hasTaskset(): boolean {
  try {
    execFileSync('taskset', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Moves this process (all its threads) to the client core. */
export function pinSelf(): void {
  if (PIN)
    execFileSync('taskset', ['-a', '-cp', String(CLIENT_CORE), String(process.pid)], { stdio: 'ignore' });
}

export interface SpawnOptions {
  core: number;
  env: Record<string, string>;
  ipc?: boolean;
  cwd: string;
}

/**
 * Spawns `argv` through a shell that raises the open-file limit to its hard limit (10,000 sockets need it)
 * and, where possible, pins it to one core. `exec` keeps the pid, so signals and /proc reads reach the program.
 */
export function spawnPinned(argv: string[], opts: SpawnOptions): ChildProcess {
  const prefix = PIN ? `exec taskset -c ${opts.core} "$@"` : 'exec "$@"';
  const script = `ulimit -n "$(ulimit -Hn)" 2>/dev/null || true; ${prefix}`;
  return spawn('sh', ['-c', script, 'bench', ...argv], {
    cwd: opts.cwd,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...opts.env },
    stdio: opts.ipc === true ? ['ignore', 'inherit', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe'],
  });
}

/** A file that `node -r` preloads into both servers: SIGUSR2 runs a full GC (needs --expose-gc). */
export function gcPreload(): string {
  const file = join(tmpdir(), `bench-gc-on-signal-${process.pid}.cjs`);
  writeFileSync(
    file,
    "process.on('SIGUSR2', () => { if (typeof global.gc === 'function') global.gc(); });\n",
  );
  return file;
}

export function rssKb(pid: number): number {
  const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m === null ? NaN : Number(m[1]);
}

/** Process CPU time (user + system) in ms, from /proc/<pid>/stat. */
export function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 14 and 15 of stat (utime, stime) are at 11 and 12 after the command name; clock ticks are 100 Hz.
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export function machine(): Record<string, string | number> {
  let cpuModel = cpus()[0]?.model ?? 'unknown';
  try {
    const info = readFileSync('/proc/cpuinfo', 'utf8');
    cpuModel = /model name\s*:\s*(.*)/.exec(info)?.[1] ?? cpuModel;
  } catch {
    // not Linux: os.cpus() is enough
  }
  let kernel = '';
  try {
    kernel = execFileSync('uname', ['-sr'], { encoding: 'utf8' }).trim();
  } catch {
    kernel = process.platform;
  }
  return {
    nproc: cpus().length,
    cpuModel,
    memoryTotalMB: Math.round(totalmem() / 1024 / 1024),
    memoryFreeMB: Math.round(freemem() / 1024 / 1024),
    node: process.version,
    kernel,
    pinned: PIN
      ? `servers on core ${SERVER_CORE}, clients on core ${CLIENT_CORE} (taskset)`
      : 'no (taskset missing or one core)',
    loadAvg1m: Number(readLoadAvg().toFixed(2)),
  };
}

function readLoadAvg(): number {
  try {
    return Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
  } catch {
    return NaN;
  }
}
