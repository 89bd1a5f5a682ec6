import { Injectable, Logger } from '@nestjs/common';
import type { RedisClientOptions, RedisModuleOptions, RedisOptionsFactory } from '@liaoliaots/nestjs-redis';
import type Redis from 'ioredis';
import type { RedisOptions } from 'ioredis';
import { AppConfig } from '../config/app-config';
import { InstanceInfo } from '../lifecycle/instance-info';
import { watchRedisConnection } from './redis-connection-watch';

/** Reconnect forever, backing off to one attempt every 2 s: Redis may come back at any time. */
export const redisRetryStrategy = (attempt: number): number => Math.min(50 * 2 ** Math.min(attempt, 6), 2000);

/**
 * The named clients of this process, one connection each:
 * - `main`: health, cluster heartbeat, alert locks, the cross-replica user-connection cap;
 * - `socket.io-pub` / `socket.io-sub`: the Socket.IO Redis adapter's publisher and subscriber.
 */
export const REDIS_ROLES = ['main', 'socket.io-pub', 'socket.io-sub'] as const;
export type RedisRole = (typeof REDIS_ROLES)[number];

export interface RedisRolePolicy {
  /** The ioredis options of the role's client. */
  readonly options: RedisOptions;
  /**
   * Turn the offline queue off on the first 'ready': before it, commands wait for the first connection
   * (bounded by maxRetriesPerRequest); after it, an outage makes them fail at once instead of piling up.
   */
  readonly failFastOnceReady: boolean;
}

/**
 * What every client starts from. commandTimeout bounds a Redis that accepts but never answers (frozen, hung);
 * keepAlive finds a dead peer the kernel would otherwise hold open for hours.
 */
const SHARED_OPTIONS: RedisOptions = {
  connectTimeout: 5000,
  commandTimeout: 2000,
  keepAlive: 10_000,
  maxRetriesPerRequest: 1,
  retryStrategy: redisRetryStrategy,
  enableOfflineQueue: true,
};

/**
 * A role's policy from the options a caller asks for, by the rule this server has always applied: the caller's
 * options win over the shared ones, and a caller that sets `enableOfflineQueue` itself keeps it as set (no
 * fail-fast switch on ready).
 */
export function redisRolePolicy(overrides: RedisOptions = {}): RedisRolePolicy {
  return {
    options: { ...SHARED_OPTIONS, ...overrides },
    failFastOnceReady: overrides.enableOfflineQueue === undefined,
  };
}

/**
 * Per role:
 * - main and the publisher fail fast once ready; the publisher also never re-sends a publish that went
 *   unanswered, which would deliver stale events late;
 * - the subscriber keeps its offline queue, retries forever and has no command timeout: with its queue turned
 *   off (or any client's before its first connection) cross-instance delivery stops for good, even after Redis
 *   returns. test/fault-redis.e2e-spec.ts and test/cluster-outage.e2e-spec.ts kill and freeze a real Redis under
 *   these policies and expect delivery to resume; src/redis/redis.module.spec.ts pins the policies themselves.
 */
export const REDIS_ROLE_POLICIES: Readonly<Record<RedisRole, RedisRolePolicy>> = {
  main: redisRolePolicy(),
  'socket.io-pub': redisRolePolicy({ autoResendUnfulfilledCommands: false }),
  'socket.io-sub': redisRolePolicy({
    enableOfflineQueue: true,
    maxRetriesPerRequest: null,
    commandTimeout: undefined,
  }),
};

/** Outages are logged under the same context as the service that exposes the clients. */
const REDIS_LOG_CONTEXT = 'RedisService';

/** What `CLIENT LIST` shows for a connection: which service, which client, which replica. */
export function redisConnectionName(config: AppConfig, instance: InstanceInfo, role: RedisRole): string {
  return `${config.env.SERVICE_NAME}:${role}:${instance.id}`.replace(/\s/g, '_');
}

/**
 * The options of @liaoliaots/nestjs-redis' RedisModule: one named client per role on REDIS_URL, or none.
 *
 * - No REDIS_URL: an explicit empty list. The library's default `config` is `{}`, which would open a client
 *   on 127.0.0.1:6379.
 * - closeClient off: the library QUITs a ready client with no time bound, so a frozen Redis would hold
 *   app.close() forever on the subscriber (no command timeout); RedisService closes them with a 1 s bound.
 * - readyLog and errorLog off: the library logs every 'error' event, one per reconnect attempt; the
 *   connection watch logs each outage once.
 */
export function redisModuleOptions(config: AppConfig, instance: InstanceInfo): RedisModuleOptions {
  const url = config.env.REDIS_URL;
  const logger = new Logger(REDIS_LOG_CONTEXT);
  const clients: RedisClientOptions[] =
    url === undefined
      ? []
      : REDIS_ROLES.map((role) => ({
          ...REDIS_ROLE_POLICIES[role].options,
          namespace: role,
          url,
          connectionName: redisConnectionName(config, instance, role),
          onClientCreated: (client: Redis) => applyRolePolicy(client, role, logger),
        }));
  return { config: clients, closeClient: false, readyLog: false, errorLog: false };
}

/** The library's options provider, injected like any other (its `useFactory` is typed `unknown[]`). */
@Injectable()
export class RedisClientsOptions implements RedisOptionsFactory {
  constructor(
    private readonly config: AppConfig,
    private readonly instance: InstanceInfo,
  ) {}

  createRedisOptions(): RedisModuleOptions {
    return redisModuleOptions(this.config, this.instance);
  }
}

/** Runs as the client is created, before its first connection attempt can emit anything. */
function applyRolePolicy(client: Redis, role: RedisRole, logger: Logger): void {
  if (REDIS_ROLE_POLICIES[role].failFastOnceReady) {
    client.once('ready', () => {
      client.options.enableOfflineQueue = false;
    });
  }
  watchRedisConnection(client, role, logger);
}
