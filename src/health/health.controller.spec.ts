import { HttpStatus, ServiceUnavailableException } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { TerminusModule } from '@nestjs/terminus';
import type { Response } from 'express';
import { AppConfig } from '../config/app-config';
import { DatabaseService } from '../database/database.service';
import { ShutdownState } from '../lifecycle/shutdown-state';
import { RedisService } from '../redis/redis.service';
import { HealthController } from './health.controller';
import { DatabaseHealthIndicator } from './indicators/database.health';
import { RedisHealthIndicator } from './indicators/redis.health';
import { ShutdownHealthIndicator } from './indicators/shutdown.health';

/** The two clients that reach outside, as far as the health checks use them. */
function fakeRedis(configured: boolean) {
  return {
    isConfigured: configured,
    pingAndInfo: jest.fn(() => Promise.resolve({ latencyMs: 2.4, info: { connected_clients: '3' } })),
  };
}
function fakeDatabase(configured: boolean) {
  return { isConfigured: configured, ping: jest.fn(() => Promise.resolve({ latencyMs: 7, readyState: 1 })) };
}

function fakeResponse(): Response & { statusCode?: number } {
  const res = {
    statusCode: undefined as number | undefined,
    status: (code: number) => ((res.statusCode = code), res),
  };
  return res as unknown as Response & { statusCode?: number };
}

async function controller(opts: { redis?: boolean; database?: boolean } = {}) {
  const redis = fakeRedis(opts.redis ?? false);
  const database = fakeDatabase(opts.database ?? false);
  const moduleRef = await Test.createTestingModule({
    imports: [TerminusModule.forRoot({ logger: false })],
    controllers: [HealthController],
    providers: [
      RedisHealthIndicator,
      DatabaseHealthIndicator,
      ShutdownHealthIndicator,
      ShutdownState,
      { provide: AppConfig, useValue: AppConfig.from({ NODE_ENV: 'test' }) },
      { provide: RedisService, useValue: redis },
      { provide: DatabaseService, useValue: database },
    ],
  }).compile();
  return {
    health: moduleRef.get(HealthController),
    shutdown: moduleRef.get(ShutdownState),
    redis,
    database,
  };
}

describe(HealthController.name, () => {
  it('liveness is healthy without touching any dependency, and stays so (saying draining) while the instance drains', async () => {
    const { health, shutdown, redis, database } = await controller({ redis: true, database: true });
    expect(health.liveness()).toMatchObject({ status: 'healthy', version: expect.any(String) });
    expect(health.liveness()).not.toHaveProperty('draining');
    shutdown.beginDrain();
    expect(health.liveness()).toMatchObject({ status: 'healthy', draining: true });
    expect(redis.pingAndInfo).not.toHaveBeenCalled();
    expect(database.ping).not.toHaveBeenCalled();
  });

  it('/health/redis reports latency and connections, or 503 with the reason', async () => {
    const { health, redis } = await controller({ redis: true });
    const ok = fakeResponse();
    await expect(health.redisHealth(ok)).resolves.toMatchObject({
      status: 'healthy',
      latency: '2ms',
      connections: 3,
    });
    expect(ok.statusCode).toBeUndefined();
    redis.pingAndInfo.mockRejectedValueOnce(new Error('Redis did not answer within 1000ms'));
    const down = fakeResponse();
    await expect(health.redisHealth(down)).resolves.toMatchObject({
      status: 'unhealthy',
      error: 'Redis did not answer within 1000ms',
    });
    expect(down.statusCode).toBe(HttpStatus.SERVICE_UNAVAILABLE);
  });

  it('readiness checks only the configured dependencies', async () => {
    const bare = await controller();
    await expect(bare.health.readiness()).resolves.toMatchObject({
      status: 'ok',
      info: { shutdown: { status: 'up' } },
    });
    expect(bare.redis.pingAndInfo).not.toHaveBeenCalled();
    expect(bare.database.ping).not.toHaveBeenCalled();

    const full = await controller({ redis: true, database: true });
    const body = await full.health.readiness();
    expect(Object.keys(body.info ?? {}).sort()).toEqual(['database', 'redis', 'shutdown']);
  });

  it('readiness is 503 naming the dependency that is down', async () => {
    const { health, database } = await controller({ redis: true, database: true });
    database.ping.mockRejectedValueOnce(new Error('MongoDB not connected'));
    const failure = await health.readiness().then(
      () => null,
      (err: unknown) => err,
    );
    expect(failure).toBeInstanceOf(ServiceUnavailableException);
    expect((failure as ServiceUnavailableException).getResponse()).toMatchObject({
      status: 'error',
      error: { database: { status: 'down', message: 'MongoDB not connected' } },
    });
  });
});
