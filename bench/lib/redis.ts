import type { ChildProcess } from 'node:child_process';
import { freePort, SERVER_CORE, spawnPinned } from './processes';

export interface RedisHandle {
  url: string;
  pid: number;
  proc: ChildProcess;
  stop(): void;
}

/**
 * A fresh redis-server on 127.0.0.1, no persistence, on the server core like a Redis on the server's host. The
 * servers' clients retry until it listens, so there is nothing to wait for here.
 */
export async function startRedis(cwd: string): Promise<RedisHandle> {
  const port = await freePort();
  const proc = spawnPinned(
    [
      'redis-server',
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--loglevel',
      'warning',
    ],
    { core: SERVER_CORE, env: {}, cwd },
  );
  return {
    url: `redis://127.0.0.1:${port}`,
    pid: proc.pid ?? -1,
    proc,
    stop: () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    },
  };
}
