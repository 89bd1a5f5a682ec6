import { Inject, Injectable, OnModuleInit } from '@nestjs/common';
import { Gauge, Registry } from 'prom-client';
import { getHeapStatistics } from 'node:v8';
import { cpuLimit, memoryLimit } from '../common/system-usage';
import { METRICS_REGISTRY } from '../metrics/metrics.registry';
import { ALERT_NOTIFICATIONS_METRIC, AlertDispatcher } from './alert-dispatcher';

/**
 * The limits the CPU and memory monitors measure against. prom-client's default metrics expose usage (process CPU
 * seconds, RSS, heap used) but not these, so without them a Prometheus rule or a dashboard could not compute the
 * same percentages as the in-app alerts.
 */
export const RESOURCE_LIMIT_METRICS = {
  memoryLimit: 'process_memory_limit_bytes',
  cpuLimit: 'process_cpu_limit_cores',
  heapLimit: 'nodejs_heap_size_limit_bytes',
} as const;

/** Puts the alert counters and the resource limits on the app's Prometheus registry (/metrics/prometheus). */
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
    // Read at scrape time, as the monitors do at check time: a container's limits can change under a running process.
    this.gauge(
      RESOURCE_LIMIT_METRICS.memoryLimit,
      'Memory this process may use: the cgroup limit (memory.max), else total RAM, in bytes',
      () => memoryLimit().bytes,
    );
    this.gauge(
      RESOURCE_LIMIT_METRICS.cpuLimit,
      'CPUs this process may use: the cgroup quota (cpu.max), else the core count',
      cpuLimit,
    );
    this.gauge(
      RESOURCE_LIMIT_METRICS.heapLimit,
      "V8's heap size limit (heap_size_limit), in bytes",
      () => getHeapStatistics().heap_size_limit,
    );
  }

  private gauge(name: string, help: string, read: () => number): void {
    if (this.registry.getSingleMetric(name) !== undefined) return;
    new Gauge({
      name,
      help,
      registers: [this.registry],
      collect() {
        this.set(read());
      },
    });
  }
}
