import { Provider } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import { APP_VERSION } from '../common/version';
import { METRIC } from './metric-names';

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
  useFactory: (config: AppConfig) => {
    const registry = createMetricsRegistry(config.env.METRICS_ENABLED);
    if (config.env.METRICS_ENABLED) registerBuildInfo(registry, config.env.SERVICE_NAME);
    return registry;
  },
  inject: [AppConfig],
};

/**
 * `app_build_info{version, node_version, service} 1`: the Prometheus convention for joining any series to the
 * build that produced it (`* on(instance) group_left(version) app_build_info`), and for seeing deploys as
 * the moment the version label changes. Constant for the life of the process.
 */
export function registerBuildInfo(registry: Registry, service: string): void {
  new Gauge({
    name: METRIC.buildInfo,
    help: 'Build of this process: always 1, with the package version, the Node.js version and the service name',
    labelNames: ['version', 'node_version', 'service'],
    registers: [registry],
  }).set({ version: APP_VERSION, node_version: process.version, service }, 1);
}
