import { Injectable } from '@nestjs/common';
import { HealthIndicatorService } from '@nestjs/terminus';
import { AppConfig } from '../../config/app-config';
import { errorMessage } from '../../common/with-timeout';
import { RedisService } from '../../redis/redis.service';

export interface RedisHealth {
  latencyMs: number;
  connections: number;
}

@Injectable()
export class RedisHealthIndicator {
  constructor(
    private readonly redis: RedisService,
    private readonly health: HealthIndicatorService,
    private readonly config: AppConfig,
  ) {}

  /** PING (latency) then INFO clients (connected_clients), both inside one HEALTH_CHECK_TIMEOUT_MS budget. */
  async measure(): Promise<RedisHealth> {
    const { latencyMs, info } = await this.redis.pingAndInfo('clients', this.config.healthCheckTimeoutMs);
    return { latencyMs, connections: Number(info.connected_clients ?? 0) };
  }

  async isHealthy(key: string) {
    const indicator = this.health.check(key);
    try {
      const { latencyMs, connections } = await this.measure();
      return indicator.up({ latency: formatLatency(latencyMs), connections });
    } catch (err) {
      return indicator.down({ message: errorMessage(err) });
    }
  }
}

export function formatLatency(ms: number): string {
  return `${Math.round(ms)}ms`;
}
