import { Injectable } from '@nestjs/common';
import { AppConfig } from '../../config/app-config';
import { errorMessage } from '../../common/with-timeout';
import { RedisService } from '../../redis/redis.service';
import { ALERT_KEYS } from '../alert-keys';
import type { Monitor, Reading } from '../alert.types';

/** Redis connectivity (a failed PING is critical at once) and PING latency, on the app's own connection. */
@Injectable()
export class RedisMonitor implements Monitor {
  readonly name = 'redis';

  constructor(
    private readonly redis: RedisService,
    private readonly config: AppConfig,
  ) {}

  get enabled(): boolean {
    return this.redis.isConfigured;
  }

  get intervalMs(): number {
    return this.config.alerts.redisIntervalMs;
  }

  async check(): Promise<Reading[]> {
    const alerts = this.config.alerts;
    try {
      const { latencyMs } = await this.redis.ping(this.config.healthCheckTimeoutMs);
      return [
        { kind: 'connectivity', key: ALERT_KEYS.redisDown, label: 'Redis', ok: true },
        {
          kind: 'metric',
          key: ALERT_KEYS.redisLatency,
          label: 'Redis latency',
          value: latencyMs,
          unit: 'ms',
          ...alerts.redisLatency,
        },
      ];
    } catch (err) {
      // Latency is unknown while Redis is down: its alert keeps its state until a ping answers again.
      return [
        {
          kind: 'connectivity',
          key: ALERT_KEYS.redisDown,
          label: 'Redis',
          ok: false,
          detail: errorMessage(err),
        },
      ];
    }
  }
}
