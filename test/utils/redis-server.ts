import { ChildProcess, spawn } from 'node:child_process';
import { connect } from 'node:net';
import { freePort } from './ports';

/**
 * A real redis-server on a free port, owned by the test: it can be killed (SIGKILL), frozen (SIGSTOP),
 * thawed (SIGCONT) and restarted on the same port, so faults are injected for real.
 */
export class RedisTestServer {
  private proc: ChildProcess | null = null;
  port = 0;

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(port?: number): Promise<this> {
    this.port = port ?? (this.port || (await freePort()));
    const proc = spawn(
      'redis-server',
      [
        '--port',
        String(this.port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--loglevel',
        'warning',
      ],
      { stdio: 'ignore' },
    );
    this.proc = proc;
    await waitForPort(this.port, 5000);
    return this;
  }

  /**
   * SIGKILL: the connection drops at once, as when a Redis host dies. A frozen server is thawed first unless
   * `asFrozen`: then it dies without running what it had received (commands on the wire are never answered).
   */
  async kill(asFrozen = false): Promise<void> {
    const proc = this.proc;
    if (proc === null) return;
    this.proc = null;
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    if (!asFrozen) proc.kill('SIGCONT');
    proc.kill('SIGKILL');
    await exited;
  }

  /** SIGSTOP: connections stay open and nothing answers, as with a hung or overloaded Redis. */
  freeze(): void {
    this.proc?.kill('SIGSTOP');
  }

  thaw(): void {
    this.proc?.kill('SIGCONT');
  }

  async restart(): Promise<void> {
    await this.kill();
    await this.start(this.port);
  }

  async stop(): Promise<void> {
    await this.kill();
  }
}

export async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`port ${port} did not open within ${timeoutMs}ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
