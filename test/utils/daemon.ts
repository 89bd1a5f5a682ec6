import { ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports';
import { waitForPort } from './redis-server';

/**
 * A server binary (Prometheus, Alertmanager) the test starts on a free 127.0.0.1 port with its own temporary
 * directory, and stops by its PID (SIGTERM, then SIGKILL after 5 s); its output is kept for failure messages.
 */
export class Daemon {
  private proc: ChildProcess | null = null;
  readonly dir: string;
  private log = '';
  port = 0;

  constructor(
    private readonly bin: string,
    prefix: string,
  ) {
    this.dir = mkdtempSync(join(tmpdir(), `${prefix}-`));
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get output(): string {
    return this.log;
  }

  /**
   * Starts the binary and waits until it listens and, when `readyPath` is given, until that path answers 200:
   * Prometheus and Alertmanager open their port before they are ready and answer 503 in between (seen under load).
   */
  async start(args: (port: number) => string[], readyPath?: string): Promise<void> {
    this.port = await freePort();
    const proc = spawn(this.bin, args(this.port), { stdio: ['ignore', 'pipe', 'pipe'] });
    proc.stdout?.on('data', (d: Buffer) => (this.log += d.toString('utf8')));
    proc.stderr?.on('data', (d: Buffer) => (this.log += d.toString('utf8')));
    this.proc = proc;
    await Promise.race([
      waitForPort(this.port, 15_000),
      new Promise<never>((_, reject) =>
        proc.once('exit', (code) => reject(new Error(`${this.bin} exited with ${code}:\n${this.log}`))),
      ),
    ]);
    if (readyPath !== undefined) {
      await this.waitFor(`${this.bin} ready (${readyPath} 200)`, async () => {
        try {
          const res = await fetch(`${this.url}${readyPath}`, { signal: AbortSignal.timeout(2000) });
          await res.arrayBuffer();
          return res.status === 200;
        } catch {
          return false;
        }
      });
    }
  }

  /** Polls `check` every 250 ms until it holds; fails with `what` (and the daemon's output) after `timeoutMs`. */
  async waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`${what}: not seen within ${timeoutMs} ms\n${this.log}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  async stop(): Promise<void> {
    const proc = this.proc;
    this.proc = null;
    if (proc !== null && proc.exitCode === null && proc.signalCode === null) {
      const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
