import { Injectable, Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { AppConfig } from '../config/app-config';
import { errorMessage, withTimeout } from '../common/with-timeout';
import { RedisService } from '../redis/redis.service';

/** taken: this replica holds it; held: another replica does; unavailable: Redis cannot be asked. */
export type LockResult = 'taken' | 'held' | 'unavailable';

const LOCK_COMMAND_TIMEOUT_MS = 1000;

/**
 * A short-lived cluster-wide lock (SET NX PX) on the app's one Redis connection, so that a notification every
 * replica would send (Redis latency, Redis back up) goes out once. Never waits more than a second.
 */
@Injectable()
export class ClusterLock {
  private readonly logger = new Logger(ClusterLock.name);
  private readonly token = randomUUID();

  constructor(
    private readonly redis: RedisService,
    private readonly config: AppConfig,
  ) {}

  async acquire(name: string, ttlMs: number): Promise<LockResult> {
    const client = this.redis.client;
    if (client === null || !this.redis.isReady) return 'unavailable';
    const key = `${this.config.env.SERVICE_NAME}:alerts:lock:${name}`;
    try {
      const res = await withTimeout(
        client.set(key, this.token, 'PX', Math.max(1, Math.round(ttlMs)), 'NX'),
        LOCK_COMMAND_TIMEOUT_MS,
        'lock timed out',
      );
      return res === 'OK' ? 'taken' : 'held';
    } catch (err) {
      this.logger.debug({ message: 'Alert lock unavailable', name, error: errorMessage(err) });
      return 'unavailable';
    }
  }
}
