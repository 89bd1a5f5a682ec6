import { Global, MiddlewareConsumer, Module, NestModule, RequestMethod } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { DashboardAssets } from './dashboard/dashboard.assets';
import { DashboardController } from './dashboard/dashboard.controller';
import { HttpMetricsMiddleware } from './http-metrics.middleware';
import { MetricsAuthGuard } from './metrics-auth.guard';
import { MetricsController } from './metrics.controller';
import { METRICS_REGISTRY, metricsRegistryProvider } from './metrics.registry';
import { METRICS_CLOCK, MetricsService } from './metrics.service';

/**
 * The prom-client registry (METRICS_REGISTRY), MetricsService, /metrics, /metrics/prometheus, /dashboard, and
 * the HTTP timing of every request. Global for one reason only: Nest mounts the middleware of global modules before a feature
 * module's, and the HTTP timing must see requests a feature's middleware refuses (POST /events prechecks), as
 * test/http-limits.e2e-spec.ts checks. The features that use it still list it in their imports.
 */
@Global()
@Module({
  imports: [DiscoveryModule],
  controllers: [MetricsController, DashboardController],
  providers: [
    metricsRegistryProvider,
    { provide: METRICS_CLOCK, useValue: () => performance.now() },
    MetricsService,
    MetricsAuthGuard,
    DashboardAssets,
    HttpMetricsMiddleware,
  ],
  exports: [MetricsService, MetricsAuthGuard, METRICS_REGISTRY],
})
export class MetricsModule implements NestModule {
  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(HttpMetricsMiddleware).forRoutes({ path: '*path', method: RequestMethod.ALL });
  }
}
