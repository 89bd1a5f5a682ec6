import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { MetricsModule } from '../metrics/metrics.module';
import { DatabaseMetrics } from './database.metrics';
import { HealthController } from './health.controller';
import { DatabaseHealthIndicator } from './indicators/database.health';
import { RedisHealthIndicator } from './indicators/redis.health';
import { ShutdownHealthIndicator } from './indicators/shutdown.health';
import { RedisMetrics } from './redis.metrics';

@Module({
  // Terminus logs every failed check at error; a platform polling during an outage would flood the logs.
  // Outages are logged once, where the connection is watched (RedisService, DatabaseService).
  imports: [TerminusModule.forRoot({ logger: false }), MetricsModule],
  controllers: [HealthController],
  providers: [
    RedisHealthIndicator,
    DatabaseHealthIndicator,
    ShutdownHealthIndicator,
    RedisMetrics,
    DatabaseMetrics,
  ],
  exports: [RedisHealthIndicator, DatabaseHealthIndicator],
})
export class HealthModule {}
