import type { ChildProcess } from 'node:child_process';
import { CLIENT_CORE, spawnPinned } from './processes';
import type {
  AckLoopArgs,
  AckLoopResult,
  Command,
  ConnectArgs,
  ConnectResult,
  DropsResult,
  FanoutCollectResult,
  Reply,
  SlowConsumerArgs,
  SlowConsumerReport,
} from './protocol';
import { ROOT } from './servers';

/** One client process, driven over IPC. */
export class Worker {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private readonly ready: Promise<void>;

  constructor(readonly proc: ChildProcess) {
    let markReady: () => void = () => undefined;
    this.ready = new Promise((resolve) => (markReady = resolve));
    proc.on('message', (msg: Reply) => {
      if (msg.id === 0) return markReady();
      const p = this.pending.get(msg.id);
      if (p === undefined) return;
      this.pending.delete(msg.id);
      if (msg.ok) p.resolve(msg.result);
      else p.reject(new Error(msg.error));
    });
    proc.on('error', (err) => {
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    });
    proc.once('exit', (code) => {
      for (const p of this.pending.values()) p.reject(new Error(`client worker exited (${code})`));
      this.pending.clear();
    });
  }

  static async start(): Promise<Worker> {
    const proc = spawnPinned([process.execPath, '-r', '@swc-node/register', 'bench/client-worker.ts'], {
      core: CLIENT_CORE,
      env: {},
      ipc: true,
      cwd: ROOT,
    });
    proc.stderr?.on('data', (d: Buffer) => process.stderr.write(`[client] ${d.toString('utf8')}`));
    const w = new Worker(proc);
    await w.ready;
    return w;
  }

  private call<T>(command: Command): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      if (!this.proc.connected) {
        reject(new Error('client worker is gone'));
        return;
      }
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.proc.send({ id, command }, (err) => {
        if (err === null) return;
        this.pending.delete(id);
        reject(err);
      });
    });
  }

  connect(args: ConnectArgs): Promise<ConnectResult> {
    return this.call({ cmd: 'connect', args });
  }

  ackLoop(args: AckLoopArgs): Promise<AckLoopResult> {
    return this.call({ cmd: 'ackLoop', args });
  }

  fanoutCollect(group: string, step: number): Promise<FanoutCollectResult> {
    return this.call({ cmd: 'fanoutCollect', args: { group, step } });
  }

  drops(group: string): Promise<DropsResult> {
    return this.call({ cmd: 'drops', args: { group } });
  }

  close(group: string): Promise<{ closed: number }> {
    return this.call({ cmd: 'close', args: { group } });
  }

  slowConsumerStart(args: SlowConsumerArgs): Promise<void> {
    return this.call({ cmd: 'slowConsumerStart', args });
  }

  slowConsumerStop(name: string): Promise<SlowConsumerReport> {
    return this.call({ cmd: 'slowConsumerStop', args: { name } });
  }

  stop(): void {
    if (this.proc.connected) this.proc.disconnect();
    if (this.proc.exitCode === null) this.proc.kill('SIGTERM');
  }
}

/** Splits `total` into `parts` near-equal integers. */
export function split(total: number, parts: number): number[] {
  return Array.from({ length: parts }, (_, i) => Math.floor(total / parts) + (i < total % parts ? 1 : 0));
}
