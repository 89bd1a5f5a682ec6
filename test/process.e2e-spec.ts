import { spawnSync } from 'node:child_process';
import http from 'node:http';
import request from 'supertest';
import { freePort } from './utils/ports';
import { waitFor } from './utils/socket-client';
import { ensureBuilt, ROOT, ServerProcess } from './utils/server-process';
import { TEST_JWT_SECRET } from './utils/test-app';

/** The built server as its own process: start-up with embedded defaults, invalid configuration, SIGTERM. */
describe('Server process (e2e)', () => {
  beforeAll(() => ensureBuilt(), 180_000);

  it('starts with nothing else configured and answers /health 200 (the `npm start` default)', async () => {
    const port = await freePort();
    const started = Date.now();
    const server = new ServerProcess({ PORT: String(port), HOST: '127.0.0.1' });
    try {
      await server.waitForPort(port);
      const res = await request(`http://127.0.0.1:${port}`).get('/health').expect(200);
      expect(res.body.status).toBe('healthy');
      expect(Date.now() - started).toBeLessThan(15_000);
    } finally {
      await server.stop();
    }
  });

  it('refuses an invalid configuration before listening: exit 1, one message naming each variable, no values', async () => {
    const port = await freePort();
    const server = new ServerProcess({
      PORT: 'not-a-port',
      NODE_ENV: 'production',
      REDIS_URL: 'http://:hunter2@example.invalid',
    });
    const { code } = await server.exited;
    expect(code).toBe(1);
    const fatal = server.lines.filter((l) => l.level === 'fatal');
    expect(fatal).toHaveLength(1);
    const message = String(fatal[0].message);
    expect(message).toContain('PORT must be a number');
    expect(message).toContain('JWT_SECRET is required in production');
    expect(message).toContain('REDIS_URL must be a Redis URL');
    expect(server.output).not.toContain('hunter2');
    expect(fatal[0].errors).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ variable: 'PORT' }),
        expect.objectContaining({ variable: 'JWT_SECRET' }),
      ]),
    );
    // It never listened.
    await expect(request(`http://127.0.0.1:${port}`).get('/health')).rejects.toThrow();
  });

  it('SIGTERM: /health/ready turns 503 at once (/health stays 200, draining), keep-alive connections close, exit 0 in time', async () => {
    const port = await freePort();
    const server = new ServerProcess({
      PORT: String(port),
      HOST: '127.0.0.1',
      NODE_ENV: 'production',
      JWT_SECRET: TEST_JWT_SECRET,
      SHUTDOWN_DRAIN_MS: '1500',
      SHUTDOWN_TIMEOUT_MS: '5000',
    });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      await server.waitForPort(port);
      const get = (path: string) =>
        new Promise<{ status: number; body: Record<string, unknown> }>((resolve, reject) => {
          http
            .get({ host: '127.0.0.1', port, path, agent }, (res) => {
              let data = '';
              res.on('data', (c: Buffer) => (data += c.toString()));
              res.on('end', () =>
                resolve({ status: res.statusCode ?? 0, body: JSON.parse(data) as Record<string, unknown> }),
              );
            })
            .on('error', reject);
        });
      expect((await get('/health')).status).toBe(200);
      expect((await get('/health/ready')).status).toBe(200);

      const signalledAt = Date.now();
      server.proc.kill('SIGTERM');
      // "At once" means as soon as the signal is handled, which the process says in its first shutdown line.
      await waitFor(() => server.lines.some((l) => l.message === 'Shutdown started'), 5000);
      // Liveness stays 200 (the process is alive and finishing its work); readiness turns traffic away.
      const live = await get('/health');
      expect(live).toEqual({
        status: 200,
        body: expect.objectContaining({ status: 'healthy', draining: true }),
      });
      const ready = await get('/health/ready');
      expect(ready.status).toBe(503);
      expect(ready.body.error).toEqual({ shutdown: { status: 'down', message: 'shutting down' } });

      const { code } = await server.exited;
      const elapsed = Date.now() - signalledAt;
      expect(code).toBe(0);
      expect(elapsed).toBeLessThan(5000);
      const messages = server.lines.map((l) => l.message);
      expect(messages).toContain('Shutdown started');
      expect(messages[messages.length - 1]).toBe('Shutdown complete');
    } finally {
      agent.destroy();
      await server.stop();
    }
  });

  it('survives an unhandled rejection and an uncaught exception, logging each with its stack', () => {
    const script = `
      const { installProcessGuards, onProcessError } = require('./dist/lifecycle/process-guards.js');
      const seen = [];
      onProcessError((kind) => seen.push(kind));
      installProcessGuards({ error: (o) => console.log(JSON.stringify({ message: o.message, error: o.err.message, hasStack: o.err.stack.includes('at ') })) });
      Promise.reject(new Error('nobody awaited me'));
      setTimeout(() => { throw new Error('thrown in a timer'); }, 10);
      setTimeout(() => console.log(JSON.stringify({ message: 'still alive', seen })), 100);
    `;
    const result = spawnSync(process.execPath, ['-e', script], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 10_000,
    });
    expect(result.status).toBe(0);
    const lines = result.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toEqual([
      { message: 'Unhandled rejection', error: 'nobody awaited me', hasStack: true },
      { message: 'Uncaught exception', error: 'thrown in a timer', hasStack: true },
      { message: 'still alive', seen: ['unhandledRejection', 'uncaughtException'] },
    ]);
  });
});
