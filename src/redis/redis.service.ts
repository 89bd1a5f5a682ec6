import { Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import Redis, { RedisOptions } from 'ioredis';
import { AppConfig } from '../config/app-config';
import { errorMessage, TimeoutError, withTimeout } from '../common/with-timeout';
import { InstanceInfo } from '../lifecycle/instance-info';
import { watchRedisConnection } from './redis-connection-watch';

/** Reconnect forever, backing off to one attempt every 2 s: Redis may come back at any time. */
export const redisRetryStrategy = (attempt: number): number => Math.min(50 * 2 ** Math.min(attempt, 6), 2000);

export interface RedisPing {
  latencyMs: number;
}

/**
 * The one Redis connection of this process (health, cluster heartbeat, alert locks). Every other part reaches
 * Redis through here; the Socket.IO adapter derives its own clients from `createClient`.
 *
 * Command policy: until the first connection, commands wait in the offline queue (bounded by
 * maxRetriesPerRequest); once connected, the queue is turned off so that during an outage commands fail at
 * once instead of piling up, and commandTimeout bounds a Redis that accepts but never answers.
 */
@Injectable()
export class RedisService implements OnApplicationShutdown {
  private readonly logger = new Logger(RedisService.name);
  readonly client: Redis | null;

  constructor(
    private readonly config: AppConfig,
    private readonly instance: InstanceInfo,
  ) {
    const url = config.env.REDIS_URL;
    this.client = url === undefined ? null : this.createClient('main');
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
   * A new client on the configured URL, with this server's retry, timeout and outage-logging policy. `overrides`
   * lets the Socket.IO adapter choose queue behaviour per role. The caller owns it and must quit it.
   */
  createClient(role: string, overrides: RedisOptions = {}): Redis {
    const url = this.config.env.REDIS_URL;
    if (url === undefined) throw new Error('REDIS_URL is not configured');
    const failFastOnceReady = overrides.enableOfflineQueue === undefined;
    const client = new Redis(url, {
      connectionName: `${this.config.env.SERVICE_NAME}:${role}:${this.instance.id}`.replace(/\s/g, '_'),
      connectTimeout: 5000,
      commandTimeout: 2000,
      keepAlive: 10_000,
      maxRetriesPerRequest: 1,
      retryStrategy: redisRetryStrategy,
      enableOfflineQueue: true,
      ...overrides,
    });
    if (failFastOnceReady) {
      client.once('ready', () => {
        client.options.enableOfflineQueue = false;
      });
    }
    watchRedisConnection(client, role, this.logger);
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

  async onApplicationShutdown(): Promise<void> {
    if (this.client !== null) await quitRedis(this.client);
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
