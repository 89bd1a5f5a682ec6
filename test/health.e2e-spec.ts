import request from 'supertest';
import { createTestApp, TestApp } from './utils/test-app';
import { RedisTestServer } from './utils/redis-server';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

describe('Health (e2e)', () => {
  describe('without Redis or MongoDB configured', () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await createTestApp();
    });
    afterAll(() => t.close());

    it('GET /health is 200 with the documented shape', async () => {
      const res = await request(t.url).get('/health').expect(200);
      expect(Object.keys(res.body).sort()).toEqual(['status', 'timestamp', 'uptime', 'version']);
      expect(res.body.status).toBe('healthy');
      expect(new Date(res.body.timestamp).toISOString()).toBe(res.body.timestamp);
      expect(typeof res.body.uptime).toBe('number');
      expect(res.body.version).toBe(
        JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')).version,
      );
    });

    it('GET /health/redis is 503 "not configured"', async () => {
      const res = await request(t.url).get('/health/redis').expect(503);
      expect(res.body).toEqual({
        status: 'unhealthy',
        error: 'Redis not configured',
        timestamp: expect.any(String),
      });
    });

    it('GET /health/database is 503 "not configured", and no mongodb_up series is exported', async () => {
      expect((await request(t.url).get('/metrics/prometheus')).text).not.toContain('mongodb_up');
      const res = await request(t.url).get('/health/database').expect(503);
      expect(res.body).toEqual({
        status: 'unhealthy',
        message: 'Database not configured',
        timestamp: expect.any(String),
      });
    });

    it('GET /health/ready is 200: unconfigured optional dependencies do not fail it', async () => {
      const res = await request(t.url).get('/health/ready').expect(200);
      expect(res.body).toEqual({
        status: 'ok',
        info: { shutdown: { status: 'up' } },
        error: {},
        details: { shutdown: { status: 'up' } },
      });
    });
  });

  describe('with a real Redis that dies, freezes and comes back', () => {
    const redis = new RedisTestServer();
    let t: TestApp;
    beforeAll(async () => {
      await redis.start();
      t = await createTestApp({ REDIS_URL: redis.url, HEALTH_CHECK_TIMEOUT_MS: '500' });
    });
    afterAll(async () => {
      await t.close();
      await redis.stop();
    });

    it('is healthy with latency and connected_clients', async () => {
      await waitFor(async () => (await request(t.url).get('/health/redis')).status === 200, 5000);
      const res = await request(t.url).get('/health/redis').expect(200);
      expect(res.body).toEqual({
        status: 'healthy',
        latency: expect.stringMatching(/^\d+ms$/),
        connections: expect.any(Number),
        timestamp: expect.any(String),
      });
      expect(res.body.connections).toBeGreaterThanOrEqual(1);
      await request(t.url).get('/health/ready').expect(200);
    });

    it('frozen (SIGSTOP): 503 within about the timeout, never a hung request', async () => {
      redis.freeze();
      try {
        const started = Date.now();
        const res = await request(t.url).get('/health/redis').expect(503);
        const elapsed = Date.now() - started;
        expect(res.body.error).toBe('Redis did not answer within 500ms');
        expect(elapsed).toBeLessThan(3000);
        const ready = await request(t.url).get('/health/ready').expect(503);
        expect(ready.body.error.redis).toEqual({
          status: 'down',
          message: expect.stringContaining('did not answer'),
        });
      } finally {
        redis.thaw();
      }
      await waitFor(async () => (await request(t.url).get('/health/redis')).status === 200, 5000);
    });

    it('killed: 503 saying the connection is not available; /health stays 200', async () => {
      await redis.kill();
      await waitFor(async () => (await request(t.url).get('/health/redis')).status === 503, 5000);
      const res = await request(t.url).get('/health/redis').expect(503);
      expect(res.body.error).toMatch(/Redis (connection is not available|ping failed)/);
      await request(t.url).get('/health').expect(200);
      await request(t.url).get('/health/ready').expect(503);
    });

    it('restarted on the same port: healthy again without restarting the app', async () => {
      await redis.start();
      await waitFor(async () => (await request(t.url).get('/health/redis')).status === 200, 8000);
      await request(t.url).get('/health/ready').expect(200);
    });
  });
});

async function waitFor(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`condition not met within ${timeoutMs}ms`);
}

describe('Health with MongoDB unreachable or hanging (e2e)', () => {
  it('a closed port: the app starts anyway and /health/database is 503 within the timeout', async () => {
    const { freePort } = await import('./utils/ports');
    const port = await freePort();
    const t = await createTestApp({
      MONGODB_URI: `mongodb://127.0.0.1:${port}/test`,
      HEALTH_CHECK_TIMEOUT_MS: '500',
    });
    try {
      const started = Date.now();
      const res = await request(t.url).get('/health/database').expect(503);
      expect(Date.now() - started).toBeLessThan(2000);
      expect(res.body).toEqual({
        status: 'unhealthy',
        message: expect.stringMatching(/^Database not connected/),
        timestamp: expect.any(String),
      });
      await request(t.url).get('/health').expect(200);
      const ready = await request(t.url).get('/health/ready').expect(503);
      expect(ready.body.error.database.status).toBe('down');
      const prom = await request(t.url).get('/metrics/prometheus').expect(200);
      expect(prom.text).toMatch(/^mongodb_up 0$/m);
    } finally {
      await t.close();
    }
  });

  it('a server that accepts and never answers: 503 within the timeout, never a hung request', async () => {
    const { SilentTcpServer } = await import('./utils/silent-server');
    const silent = await new SilentTcpServer().start();
    const t = await createTestApp({
      MONGODB_URI: `mongodb://127.0.0.1:${silent.port}/test`,
      HEALTH_CHECK_TIMEOUT_MS: '500',
    });
    try {
      for (let i = 0; i < 3; i++) {
        const started = Date.now();
        const res = await request(t.url).get('/health/database').expect(503);
        expect(Date.now() - started).toBeLessThan(2000);
        expect(res.body.status).toBe('unhealthy');
        await new Promise((r) => setTimeout(r, 300));
      }
      const started = Date.now();
      await request(t.url).get('/health/ready').expect(503);
      expect(Date.now() - started).toBeLessThan(2000);
    } finally {
      await t.close();
      await silent.stop();
    }
  });
});

const mongoTestUri = process.env.MONGODB_TEST_URI;
(mongoTestUri ? describe : describe.skip)('Health with a live MongoDB (MONGODB_TEST_URI)', () => {
  it('is healthy after a real ping', async () => {
    const t = await createTestApp({ MONGODB_URI: mongoTestUri });
    try {
      await waitFor(async () => (await request(t.url).get('/health/database')).status === 200, 10_000);
      const res = await request(t.url).get('/health/database').expect(200);
      expect(res.body).toEqual({
        status: 'healthy',
        latency: expect.stringMatching(/^\d+ms$/),
        readyState: 1,
        timestamp: expect.any(String),
      });
      await request(t.url).get('/health/ready').expect(200);
      expect((await request(t.url).get('/metrics/prometheus')).text).toMatch(/^mongodb_up 1$/m);
    } finally {
      await t.close();
    }
  });
});
if (!mongoTestUri) {
  console.log(
    'SKIPPED: live MongoDB health test (set MONGODB_TEST_URI to run it; no MongoDB server can be installed here)',
  );
}

describe('Redis unreachable at boot, then appearing (e2e)', () => {
  it('starts anyway, answers 503, becomes healthy by itself when Redis appears, and never queues commands', async () => {
    const { freePort } = await import('./utils/ports');
    const { RedisService } = await import('../src/redis/redis.service');
    const port = await freePort();
    const t = await createTestApp({ REDIS_URL: `redis://127.0.0.1:${port}`, HEALTH_CHECK_TIMEOUT_MS: '500' });
    const redis = new RedisTestServer();
    try {
      const started = Date.now();
      const res = await request(t.url).get('/health/redis').expect(503);
      expect(Date.now() - started).toBeLessThan(2000);
      expect(res.body.error).toMatch(/^Redis connection is not available/);
      await request(t.url).get('/health').expect(200);

      await redis.start(port);
      await waitFor(async () => (await request(t.url).get('/health/redis')).status === 200, 8000);

      // Once connected, an outage makes commands fail at once instead of piling up in the offline queue.
      await redis.kill();
      const client = t.app.get(RedisService).client!;
      await waitFor(async () => client.status !== 'ready', 5000);
      const results = await Promise.allSettled(Array.from({ length: 200 }, () => client.get('k')));
      expect(results.every((r) => r.status === 'rejected')).toBe(true);
      expect((client as unknown as { offlineQueue: { length: number } }).offlineQueue.length).toBe(0);
    } finally {
      await t.close();
      await redis.stop();
    }
  });
});
