import { Injectable } from '@nestjs/common';
import { HealthIndicatorService } from '@nestjs/terminus';
import { AppConfig } from '../../config/app-config';
import { errorMessage } from '../../common/with-timeout';
import { DatabaseService, DatabasePing } from '../../database/database.service';
import { formatLatency } from './redis.health';

@Injectable()
export class DatabaseHealthIndicator {
  constructor(
    private readonly database: DatabaseService,
    private readonly health: HealthIndicatorService,
    private readonly config: AppConfig,
  ) {}

  measure(): Promise<DatabasePing> {
    return this.database.ping(this.config.healthCheckTimeoutMs);
  }

  async isHealthy(key: string) {
    const indicator = this.health.check(key);
    try {
      const { latencyMs, readyState } = await this.measure();
      return indicator.up({ latency: formatLatency(latencyMs), readyState });
    } catch (err) {
      return indicator.down({ message: errorMessage(err) });
    }
  }
}
