import { Injectable } from '@nestjs/common';
import { AppConfig } from '../../config/app-config';
import { SystemUsageSampler } from '../../common/system-usage';
import { ALERT_KEYS } from '../alert-keys';
import type { Monitor, Reading } from '../alert.types';

/** Process CPU time over wall time since the previous check, relative to the CPUs the container may use. */
@Injectable()
export class CpuMonitor implements Monitor {
  readonly name = 'cpu';
  readonly enabled = true;
  private readonly sampler = new SystemUsageSampler();

  constructor(private readonly config: AppConfig) {}

  get intervalMs(): number {
    return this.config.alerts.evalIntervalMs;
  }

  onModuleInit(): void {
    // Start the first interval now, so the first check measures one interval and not the whole boot.
    this.sampler.sample();
  }

  check(): Promise<Reading[]> {
    const alerts = this.config.alerts;
    return Promise.resolve([
      {
        kind: 'metric',
        key: ALERT_KEYS.cpu,
        label: 'CPU usage',
        value: this.sampler.sample().cpuPercent,
        unit: '%',
        ...alerts.cpu,
      },
    ]);
  }
}
