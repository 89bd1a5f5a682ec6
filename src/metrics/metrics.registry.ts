import { Provider } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { collectDefaultMetrics, Registry } from 'prom-client';

/**
 * The one prom-client Registry of this app, owned by MetricsModule. Not prom-client's global registry: several
 * app instances in one process (tests, two Nest apps) each get their own, and nothing registers into it by
 * accident. Other modules add their metrics with `@Inject(METRICS_REGISTRY) registry: Registry` and
 * `registers: [registry]`; everything registered here appears on /metrics/prometheus.
 */
export const METRICS_REGISTRY = Symbol('METRICS_REGISTRY');

export function createMetricsRegistry(collectDefaults = true): Registry {
  const registry = new Registry();
  // Process CPU and memory, event-loop lag, GC, handles, heap spaces: the standard Node dashboards use these names.
  if (collectDefaults) collectDefaultMetrics({ register: registry });
  return registry;
}

export const metricsRegistryProvider: Provider = {
  provide: METRICS_REGISTRY,
  useFactory: (config: AppConfig) => createMetricsRegistry(config.env.METRICS_ENABLED),
  inject: [AppConfig],
};
