import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';
import { parseJsonLines } from './log-capture';
import { waitForPort } from './redis-server';

export const ROOT = join(__dirname, '..', '..');

/** Builds dist/ when it is missing or older than src/ (what `npm start` does), so process tests run the real build. */
export function ensureBuilt(): void {
  execFileSync(process.execPath, [join(ROOT, 'scripts', 'ensure-build.js')], {
    cwd: ROOT,
    stdio: 'pipe',
    timeout: 180_000,
  });
}

/** The built server as a child process, as a container runs it: `node dist/main`. */
export class ServerProcess {
  readonly proc: ChildProcess;
  private out = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(env: Record<string, string>, cwd = ROOT) {
    this.proc = spawn(process.execPath, ['dist/main'], {
      cwd,
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.proc.stdout?.on('data', (d: Buffer) => (this.out += d.toString('utf8')));
    this.proc.stderr?.on('data', (d: Buffer) => (this.out += d.toString('utf8')));
    this.exited = new Promise((resolve) =>
      this.proc.once('exit', (code, signal) => resolve({ code, signal })),
    );
  }

  get output(): string {
    return this.out;
  }

  get lines(): Array<Record<string, unknown>> {
    return parseJsonLines(this.out);
  }

  async waitForPort(port: number, timeoutMs = 15_000): Promise<void> {
    await Promise.race([
      waitForPort(port, timeoutMs),
      this.exited.then(({ code }) => {
        throw new Error(`server exited with ${code} before listening:\n${this.out}`);
      }),
    ]);
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    this.proc.kill('SIGKILL');
    await this.exited;
  }
}
