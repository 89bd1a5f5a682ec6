import { Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { Registry } from 'prom-client';
import { MetricsService } from '../metrics/metrics.service';
import { ALERT_NOTIFICATIONS_METRIC, AlertDispatcher } from './alert-dispatcher';

/**
 * Puts the alert counters on the app's Prometheus registry (the one /metrics/prometheus exposes), which the
 * metrics module owns. Until it exposes one, the counters still count and are read directly.
 */
@Injectable()
export class AlertsMetrics implements OnModuleInit {
  private readonly logger = new Logger(AlertsMetrics.name);

  constructor(
    private readonly metrics: MetricsService,
    private readonly dispatcher: AlertDispatcher,
  ) {}

  onModuleInit(): void {
    const registry = (this.metrics as unknown as { registry?: unknown }).registry;
    if (!(registry instanceof Registry)) {
      this.logger.debug({
        message: 'No Prometheus registry exposed by MetricsService; alert counters stay unexported',
      });
      return;
    }
    if (registry.getSingleMetric(ALERT_NOTIFICATIONS_METRIC) === undefined)
      registry.registerMetric(this.dispatcher.counter);
  }
}
