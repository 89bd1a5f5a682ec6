import { Inject, Injectable, OnModuleInit } from '@nestjs/common';
import type { Registry } from 'prom-client';
import { METRICS_REGISTRY } from '../metrics/metrics.registry';
import { ALERT_NOTIFICATIONS_METRIC, AlertDispatcher } from './alert-dispatcher';

/** Puts the alert counters on the app's Prometheus registry, so /metrics/prometheus exposes them. */
@Injectable()
export class AlertsMetrics implements OnModuleInit {
  constructor(
    @Inject(METRICS_REGISTRY) private readonly registry: Registry,
    private readonly dispatcher: AlertDispatcher,
  ) {}

  onModuleInit(): void {
    if (this.registry.getSingleMetric(ALERT_NOTIFICATIONS_METRIC) === undefined) {
      this.registry.registerMetric(this.dispatcher.counter);
    }
  }
}
