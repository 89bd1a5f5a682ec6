import { Injectable } from '@nestjs/common';
import { AppConfig } from '../../config/app-config';
import { SystemUsageSampler } from '../../common/system-usage';
import { ALERT_KEYS } from '../alert-keys';
import type { Monitor, Reading } from '../alert.types';

/**
 * Memory as a share of the container's limit (RSS against cgroup memory.max, else total RAM), and the V8 heap
 * against its own limit (heap_size_limit): heapUsed/heapTotal sits near 90 % in a healthy process and is not used.
 */
@Injectable()
export class MemoryMonitor implements Monitor {
  readonly name = 'memory';
  readonly enabled = true;
  private readonly sampler = new SystemUsageSampler();

  constructor(private readonly config: AppConfig) {}

  get intervalMs(): number {
    return this.config.alerts.memoryIntervalMs;
  }

  check(): Promise<Reading[]> {
    const alerts = this.config.alerts;
    const usage = this.sampler.sample();
    return Promise.resolve([
      {
        kind: 'metric',
        key: ALERT_KEYS.memory,
        label: 'Memory usage',
        value: usage.memoryPercent,
        unit: '%',
        ...alerts.memory,
      },
      {
        kind: 'metric',
        key: ALERT_KEYS.heap,
        label: 'V8 heap usage',
        value: usage.heapPercent,
        unit: '%',
        ...alerts.heap,
      },
    ]);
  }
}
