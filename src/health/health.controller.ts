import { Controller, Get, HttpCode, HttpStatus, Res } from '@nestjs/common';
import { HealthCheck, HealthCheckService, HealthIndicatorFunction } from '@nestjs/terminus';
import type { Response } from 'express';
import { errorMessage } from '../common/with-timeout';
import { APP_VERSION } from '../common/version';
import { DatabaseService } from '../database/database.service';
import { ShutdownState } from '../lifecycle/shutdown-state';
import { RedisService } from '../redis/redis.service';
import { DatabaseHealthIndicator } from './indicators/database.health';
import { formatLatency, RedisHealthIndicator } from './indicators/redis.health';
import { ShutdownHealthIndicator } from './indicators/shutdown.health';

/**
 * `/health` is liveness: no dependency, so an optional dependency can never fail a deploy or get the process
 * restarted. `/health/ready` aggregates every configured dependency for load balancers and operators.
 */
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly shutdown: ShutdownState,
    private readonly redis: RedisService,
    private readonly database: DatabaseService,
    private readonly redisIndicator: RedisHealthIndicator,
    private readonly databaseIndicator: DatabaseHealthIndicator,
    private readonly shutdownIndicator: ShutdownHealthIndicator,
  ) {}

  @Get()
  @HttpCode(HttpStatus.OK)
  liveness() {
    // Liveness stays 200 while shutting down: the process is alive and finishing its work, and a liveness
    // failure means "restart me". Readiness (/health/ready) is what turns 503 so traffic goes elsewhere.
    return {
      status: 'healthy',
      ...(this.shutdown.isDraining ? { draining: true } : {}),
      timestamp: new Date().toISOString(),
      uptime: process.uptime(),
      version: APP_VERSION,
    };
  }

  @Get('redis')
  async redisHealth(@Res({ passthrough: true }) res: Response) {
    const timestamp = () => new Date().toISOString();
    try {
      const { latencyMs, connections } = await this.redisIndicator.measure();
      return { status: 'healthy', latency: formatLatency(latencyMs), connections, timestamp: timestamp() };
    } catch (err) {
      res.status(HttpStatus.SERVICE_UNAVAILABLE);
      return { status: 'unhealthy', error: errorMessage(err), timestamp: timestamp() };
    }
  }

  @Get('database')
  async databaseHealth(@Res({ passthrough: true }) res: Response) {
    const timestamp = () => new Date().toISOString();
    try {
      const { latencyMs, readyState } = await this.databaseIndicator.measure();
      return { status: 'healthy', latency: formatLatency(latencyMs), readyState, timestamp: timestamp() };
    } catch (err) {
      res.status(HttpStatus.SERVICE_UNAVAILABLE);
      return { status: 'unhealthy', message: errorMessage(err), timestamp: timestamp() };
    }
  }

  @Get('ready')
  @HealthCheck()
  readiness() {
    const checks: HealthIndicatorFunction[] = [() => this.shutdownIndicator.isHealthy('shutdown')];
    if (this.redis.isConfigured) checks.push(() => this.redisIndicator.isHealthy('redis'));
    if (this.database.isConfigured) checks.push(() => this.databaseIndicator.isHealthy('database'));
    return this.health.check(checks);
  }
}
