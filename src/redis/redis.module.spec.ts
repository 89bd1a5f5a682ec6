import { INestApplicationContext, Logger } from '@nestjs/common';
import { Test, TestingModule } from '@nestjs/testing';
import { RedisModule as RedisClientsModule, RedisService as RedisClients } from '@liaoliaots/nestjs-redis';
import Redis from 'ioredis';
import { RedisTestServer } from '../../test/utils/redis-server';
import { createTestApp } from '../../test/utils/test-app';
import { waitFor } from '../../test/utils/socket-client';
import { sleep } from '../common/with-timeout';
import { AppConfig } from '../config/app-config';
import { ConfigModule } from '../config/config.module';
import { LifecycleModule } from '../lifecycle/lifecycle.module';
import { REDIS_ROLE_POLICIES, REDIS_ROLES, RedisRole, redisRetryStrategy } from './redis-client-policy';
import { RedisModule } from './redis.module';
import { RedisService } from './redis.service';

/** RedisModule as the app imports it, with the global config and instance identity it depends on. */
async function boot(env: Record<string, string>): Promise<TestingModule> {
  const moduleRef = await Test.createTestingModule({ imports: [ConfigModule, LifecycleModule, RedisModule] })
    .overrideProvider(AppConfig)
    .useValue(AppConfig.from({ NODE_ENV: 'test', SERVICE_NAME: 'svc', RAILWAY_REPLICA_ID: 'r1', ...env }))
    .compile();
  return moduleRef.init();
}

function namedClients(context: INestApplicationContext): Record<RedisRole, Redis> {
  const clients = context.get(RedisClients);
  return {
    main: clients.getOrThrow('main'),
    'socket.io-pub': clients.getOrThrow('socket.io-pub'),
    'socket.io-sub': clients.getOrThrow('socket.io-sub'),
  };
}

function allReady(clients: Record<RedisRole, Redis>): boolean {
  return Object.values(clients).every((c) => c.status === 'ready');
}

/** The roles for which `message` was logged through `spy`, one entry per line. */
function rolesLogged(spy: jest.SpyInstance, message: string): string[] {
  return spy.mock.calls
    .map((args: unknown[]) => args[0] as { message?: string; role?: string })
    .filter((line) => line?.message === message)
    .map((line) => String(line.role))
    .sort();
}

/** What the Socket.IO adapter asks for (src/redis/redis-io.adapter.ts, connect()). */
const ADAPTER_PUB = { autoResendUnfulfilledCommands: false };
const ADAPTER_SUB = { enableOfflineQueue: true, maxRetriesPerRequest: null, commandTimeout: undefined };

afterEach(() => jest.restoreAllMocks());

describe(RedisModule.name, () => {
  describe('without REDIS_URL', () => {
    it('creates no client and makes no connection attempt', async () => {
      const connect = jest.spyOn(Redis.prototype, 'connect');
      const moduleRef = await boot({});
      try {
        const redis = moduleRef.get(RedisService);
        expect(redis.client).toBeNull();
        expect(redis.isConfigured).toBe(false);
        expect(redis.isReady).toBe(false);
        expect(redis.status).toBe('not-configured');
        const clients = moduleRef.get(RedisClients);
        for (const role of REDIS_ROLES) expect(clients.getOrNil(role)).toBeNull();
        // The library's default client ('default', on 127.0.0.1:6379) is not created either.
        expect(clients.getOrNil()).toBeNull();
        expect(() => redis.createClient('socket.io-pub', ADAPTER_PUB)).toThrow('REDIS_URL is not configured');
        await expect(redis.ping(100)).rejects.toThrow('Redis not configured');
        expect(connect).not.toHaveBeenCalled();
      } finally {
        await moduleRef.close();
      }
    });
  });

  describe('with a real Redis', () => {
    const server = new RedisTestServer();
    let moduleRef: TestingModule;
    let redis: RedisService;
    let clients: Record<RedisRole, Redis>;
    let connect: jest.SpyInstance;

    beforeAll(async () => {
      await server.start();
      connect = jest.spyOn(Redis.prototype, 'connect');
      moduleRef = await boot({ REDIS_URL: server.url });
      redis = moduleRef.get(RedisService);
      clients = namedClients(moduleRef);
      await waitFor(() => allReady(clients), 5000);
    });
    afterAll(async () => {
      await moduleRef?.close();
      await server.stop();
    });

    it('opens one connection per role, named service:role:instance, and main is RedisService.client', async () => {
      expect(connect).toHaveBeenCalledTimes(3);
      expect(redis.client).toBe(clients.main);
      expect(redis.isReady).toBe(true);
      const list = (await clients.main.client('LIST')) as string;
      const names = [...list.matchAll(/ name=(\S*)/g)].map((m) => m[1]).sort();
      expect(names).toEqual(['svc:main:r1', 'svc:socket.io-pub:r1', 'svc:socket.io-sub:r1']);
      const { latencyMs, info } = await redis.pingAndInfo('clients', 1000);
      expect(latencyMs).toBeGreaterThanOrEqual(0);
      expect(Number(info.connected_clients)).toBe(3);
    });

    it('main and the publisher turn their offline queue off once ready; the subscriber keeps it, retries forever, no command timeout', () => {
      for (const role of REDIS_ROLES) {
        expect(clients[role].options).toMatchObject({
          connectTimeout: 5000,
          keepAlive: 10_000,
          retryStrategy: redisRetryStrategy,
        });
      }
      expect(clients.main.options).toMatchObject({
        enableOfflineQueue: false,
        commandTimeout: 2000,
        maxRetriesPerRequest: 1,
        autoResendUnfulfilledCommands: true,
      });
      expect(clients['socket.io-pub'].options).toMatchObject({
        enableOfflineQueue: false,
        commandTimeout: 2000,
        maxRetriesPerRequest: 1,
        autoResendUnfulfilledCommands: false,
      });
      expect(clients['socket.io-sub'].options.enableOfflineQueue).toBe(true);
      expect(clients['socket.io-sub'].options.maxRetriesPerRequest).toBeNull();
      expect(clients['socket.io-sub'].options.commandTimeout).toBeUndefined();
      // Before the first connection every role queues: the switch happens on 'ready' only.
      for (const role of REDIS_ROLES) expect(REDIS_ROLE_POLICIES[role].options.enableOfflineQueue).toBe(true);
      expect(redisRetryStrategy(1)).toBe(100);
      expect(redisRetryStrategy(1000)).toBe(2000);
    });

    it("createClient gives the adapter the module's clients for what it asks, and refuses a different policy", () => {
      expect(redis.createClient('socket.io-pub', ADAPTER_PUB)).toBe(clients['socket.io-pub']);
      expect(redis.createClient('socket.io-sub', ADAPTER_SUB)).toBe(clients['socket.io-sub']);
      expect(redis.createClient('main')).toBe(clients.main);
      // Asking for the shared policy on the subscriber means fail-fast once ready: not what it has.
      expect(() => redis.createClient('socket.io-sub')).toThrow(
        "Redis client 'socket.io-sub' is not configured as asked: enableOfflineQueue differ",
      );
      expect(() => redis.createClient('socket.io-pub', { commandTimeout: 5000 })).toThrow(
        /: commandTimeout differ$/,
      );
      // An explicit queue setting today means "keep it as set", which the publisher does not.
      expect(() => redis.createClient('socket.io-pub', { ...ADAPTER_PUB, enableOfflineQueue: true })).toThrow(
        /: enableOfflineQueue differ$/,
      );
      expect(() => redis.createClient('main', { password: 'hunter2-secret' })).toThrow(/: password differ$/);
    });

    it('in an outage main and the publisher fail at once, the subscriber waits for Redis; each client logs it once', async () => {
      const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
      const log = jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
      await server.kill();
      await waitFor(() => REDIS_ROLES.every((r) => clients[r].status !== 'ready'), 5000);

      const started = performance.now();
      await expect(clients.main.get('k')).rejects.toThrow();
      await expect(clients['socket.io-pub'].publish('c', 'm')).rejects.toThrow();
      expect(performance.now() - started).toBeLessThan(500);
      const queued = clients['socket.io-sub'].ping();
      let settled = false;
      void queued.finally(() => (settled = true)).catch(() => undefined);

      // Several reconnect attempts fail meanwhile (50, 100, 200, 400, 800 ms apart): still one line per client.
      await sleep(1800);
      expect(settled).toBe(false);
      expect(rolesLogged(warn, 'Redis unavailable')).toEqual([...REDIS_ROLES].sort());

      await server.start();
      await expect(queued).resolves.toBe('PONG');
      await waitFor(() => allReady(clients), 8000);
      expect(rolesLogged(log, 'Redis connection restored')).toEqual([...REDIS_ROLES].sort());
      expect(rolesLogged(warn, 'Redis unavailable')).toEqual([...REDIS_ROLES].sort());
      // Back to failing fast for the next outage.
      expect(clients.main.options.enableOfflineQueue).toBe(false);
    }, 20_000);
  });

  describe('shutdown on a frozen Redis (SIGSTOP)', () => {
    const server = new RedisTestServer();
    beforeEach(async () => {
      await server.start();
    });
    afterEach(async () => {
      server.thaw();
      await server.stop();
    });

    it('closes every client within about a second, and none reconnects', async () => {
      const moduleRef = await boot({ REDIS_URL: server.url });
      const clients = namedClients(moduleRef);
      await waitFor(() => allReady(clients), 5000);
      server.freeze();
      const started = performance.now();
      await moduleRef.close();
      expect(performance.now() - started).toBeLessThan(2500);
      server.thaw();
      await waitFor(() => REDIS_ROLES.every((r) => clients[r].status === 'end'), 5000);
    });

    it('the whole app (adapter clients included) closes within a few seconds', async () => {
      const t = await createTestApp({ REDIS_URL: server.url });
      const redis = t.app.get(RedisService);
      await waitFor(() => allReady(namedClients(t.app)), 5000);
      expect(redis.isReady).toBe(true);
      server.freeze();
      const started = performance.now();
      await t.close();
      // Three steps in a row, each bounded by 1 s (about 3 s measured here): the cluster deregistration, the
      // adapter quitting its two clients, RedisService quitting main. Unbounded, the subscriber's QUIT never ends.
      expect(performance.now() - started).toBeLessThan(5000);
    });

    it("the library's own closeClient would wait for ever on the subscriber (why it is off)", async () => {
      const moduleRef = await Test.createTestingModule({
        imports: [
          RedisClientsModule.forRoot({
            config: [{ namespace: 'sub', url: server.url, ...REDIS_ROLE_POLICIES['socket.io-sub'].options }],
            readyLog: false,
            errorLog: false,
          }),
        ],
      }).compile();
      await moduleRef.init();
      const sub = moduleRef.get(RedisClients).getOrThrow('sub');
      sub.on('error', () => undefined);
      await waitFor(() => sub.status === 'ready', 5000);
      server.freeze();
      const closing = moduleRef.close().then(() => 'closed');
      expect(await Promise.race([closing, sleep(3000).then(() => 'still closing')])).toBe('still closing');
      server.thaw();
      expect(await closing).toBe('closed');
    });
  });
});
