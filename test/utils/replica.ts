import { ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { freePort } from './ports';
import { waitForPort } from './redis-server';
import { BASE_TEST_ENV } from './test-app';

/** The real server (src/main.ts, with its signal handlers) as its own process, so it can be SIGKILLed or SIGTERMed. */
export class Replica {
  readonly proc: ChildProcess;
  readonly url: string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  output = '';

  private constructor(
    readonly port: number,
    env: Record<string, string>,
  ) {
    this.url = `http://127.0.0.1:${port}`;
    this.proc = spawn(process.execPath, ['-r', '@swc-node/register', 'src/main.ts'], {
      cwd: join(__dirname, '..', '..'),
      env: { PATH: process.env.PATH ?? '', ...BASE_TEST_ENV, ...env, PORT: String(port) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.proc.stdout?.on('data', (d: Buffer) => (this.output += d.toString()));
    this.proc.stderr?.on('data', (d: Buffer) => (this.output += d.toString()));
    this.exited = new Promise((resolve) =>
      this.proc.once('exit', (code, signal) => resolve({ code, signal })),
    );
  }

  static async start(env: Record<string, string>): Promise<Replica> {
    const replica = new Replica(await freePort(), env);
    await Promise.race([
      waitForPort(replica.port, 30_000),
      replica.exited.then(() => {
        throw new Error(`replica exited before listening:\n${replica.output}`);
      }),
    ]);
    return replica;
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGKILL');
    await this.exited;
  }
}
