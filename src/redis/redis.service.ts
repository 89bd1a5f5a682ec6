import { Injectable, OnApplicationShutdown } from '@nestjs/common';
import { RedisService as RedisClients } from '@liaoliaots/nestjs-redis';
import type Redis from 'ioredis';
import type { RedisOptions } from 'ioredis';
import { errorMessage, TimeoutError, withTimeout } from '../common/with-timeout';
import { REDIS_ROLE_POLICIES, REDIS_ROLES, RedisRole, redisRolePolicy } from './redis-client-policy';

export interface RedisPing {
  latencyMs: number;
}

/**
 * This process's way to Redis. The connections themselves are the named clients of RedisModule (one per
 * role, see redis-client-policy.ts); `client` is `main` (health, cluster heartbeat, alert locks, the
 * user-connection cap) and the Socket.IO adapter takes its publisher and subscriber from `createClient`.
 *
 * Command policy: until the first connection, commands wait in the offline queue (bounded by
 * maxRetriesPerRequest); once connected, the queue is turned off so that during an outage commands fail at
 * once instead of piling up, and commandTimeout bounds a Redis that accepts but never answers.
 */
@Injectable()
export class RedisService implements OnApplicationShutdown {
  readonly client: Redis | null;

  constructor(private readonly clients: RedisClients) {
    this.client = clients.getOrNil('main');
  }

  get isConfigured(): boolean {
    return this.client !== null;
  }

  get isReady(): boolean {
    return this.client?.status === 'ready';
  }

  /** ioredis status: wait, connecting, connect, ready, reconnecting, close, end; 'not-configured' without REDIS_URL. */
  get status(): string {
    return this.client?.status ?? 'not-configured';
  }

  /**
   * The module's client for `role`. `overrides` are the options the caller relies on, by the rule of
   * `redisRolePolicy`: they must be what the role is already configured with, so a caller and the module
   * cannot silently disagree on how a client behaves during an outage (the mismatch throws, naming the
   * option but never its value). The module closes the client on shutdown; a caller may close it earlier.
   */
  createClient(role: RedisRole, overrides: RedisOptions = {}): Redis {
    const client = this.clients.getOrNil(role);
    if (client === null) throw new Error('REDIS_URL is not configured');
    const configured = REDIS_ROLE_POLICIES[role];
    const asked = redisRolePolicy(overrides);
    const differs = (Object.keys(overrides) as Array<keyof RedisOptions>).filter(
      (key) => !Object.is(asked.options[key], configured.options[key]),
    );
    if (asked.failFastOnceReady !== configured.failFastOnceReady) differs.push('enableOfflineQueue');
    if (differs.length > 0) {
      throw new Error(
        `Redis client '${role}' is not configured as asked: ${[...new Set(differs)].join(', ')} differ`,
      );
    }
    return client;
  }

  /** PING under `timeoutMs`; rejects with a message that says whether Redis is down, hung or unconfigured. */
  async ping(timeoutMs: number): Promise<RedisPing> {
    const client = this.requireClient();
    if (client.status !== 'ready')
      throw new Error(`Redis connection is not available (status: ${client.status})`);
    const start = performance.now();
    try {
      await withTimeout(client.ping(), timeoutMs, `Redis did not answer within ${timeoutMs}ms`);
    } catch (err) {
      if (err instanceof TimeoutError) throw err;
      throw new Error(`Redis ping failed: ${errorMessage(err)}`);
    }
    return { latencyMs: performance.now() - start };
  }

  /** One INFO section parsed into key/value pairs, under `timeoutMs`. */
  async info(section: string, timeoutMs: number): Promise<Record<string, string>> {
    const client = this.requireClient();
    const text = await withTimeout(
      client.info(section),
      timeoutMs,
      `Redis did not answer within ${timeoutMs}ms`,
    );
    const out: Record<string, string> = {};
    for (const line of text.split('\r\n')) {
      const i = line.indexOf(':');
      if (i > 0 && !line.startsWith('#')) out[line.slice(0, i)] = line.slice(i + 1);
    }
    return out;
  }

  /**
   * PING (latency), then one INFO section, both inside one `budgetMs`: what the health check and the metrics
   * sampler each need from a round trip.
   */
  async pingAndInfo(
    section: string,
    budgetMs: number,
  ): Promise<RedisPing & { info: Record<string, string> }> {
    const started = performance.now();
    const { latencyMs } = await this.ping(budgetMs);
    const remaining = Math.max(1, budgetMs - (performance.now() - started));
    return { latencyMs, info: await this.info(section, remaining) };
  }

  private requireClient(): Redis {
    if (this.client === null) throw new Error('Redis not configured');
    return this.client;
  }

  /**
   * Closes every named client, each bounded by `quitRedis`. The library's own `closeClient` is off: it waits
   * on QUIT without a bound, and a frozen Redis never answers the subscriber's (it has no command timeout).
   */
  async onApplicationShutdown(): Promise<void> {
    const open = REDIS_ROLES.map((role) => this.clients.getOrNil(role)).filter((c): c is Redis => c !== null);
    await Promise.all(open.map((c) => quitRedis(c)));
  }
}

/** QUIT politely, but never wait on a dead or frozen Redis for more than a second. */
export async function quitRedis(client: Redis): Promise<void> {
  if (client.status === 'end') return;
  // A deliberate close is not an outage: stop the outage watcher from reporting it (its error listener stays).
  client.removeAllListeners('close');
  try {
    if (client.status === 'ready') {
      await withTimeout(client.quit(), 1000, 'quit timed out');
      return;
    }
  } catch {
    // fall through to a hard disconnect
  }
  client.disconnect(false);
}
