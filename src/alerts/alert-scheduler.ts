import { Inject, Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import { errorMessage, withTimeout } from '../common/with-timeout';
import { AlertEngine } from './alert-engine';
import { MONITOR_INTERVAL_PREFIX } from './alert-keys';
import type { Monitor } from './alert.types';
import { ALERT_MONITORS } from './monitors/monitor.tokens';
import { AlertmanagerNotifier } from './notifiers/alertmanager.notifier';

/** No check may run longer than this, nor longer than 80 % of its interval (so it ends before the next tick). */
export const MAX_CHECK_MS = 10_000;

export function checkTimeout(intervalMs: number): number {
  return Math.min(MAX_CHECK_MS, Math.max(50, Math.floor(intervalMs * 0.8)));
}

/**
 * Runs each enabled monitor on its own interval (from the environment, so registered at runtime in
 * SchedulerRegistry rather than with decorator constants). A run never overlaps the previous one of the same
 * monitor: a tick that finds it still going is skipped. Every check runs under a timeout, after which its run
 * counts as finished (its late result is dropped), so a hung check cannot hold the schedule.
 */
@Injectable()
export class AlertScheduler implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(AlertScheduler.name);
  private readonly running = new Set<string>();
  private readonly names: string[] = [];

  constructor(
    private readonly registry: SchedulerRegistry,
    private readonly engine: AlertEngine,
    @Inject(ALERT_MONITORS) private readonly monitors: Monitor[],
    private readonly alertmanager: AlertmanagerNotifier,
  ) {}

  onApplicationBootstrap(): void {
    for (const monitor of this.monitors) {
      if (!monitor.enabled) {
        this.logger.log({ message: 'Alert monitor disabled: nothing to watch', monitor: monitor.name });
        continue;
      }
      const name = MONITOR_INTERVAL_PREFIX + monitor.name;
      const timer = setInterval(() => void this.run(monitor), monitor.intervalMs);
      this.registry.addInterval(name, timer);
      this.names.push(name);
    }
    this.logger.log({
      message: 'Alert monitors scheduled',
      monitors: this.monitors.filter((m) => m.enabled).map((m) => `${m.name}/${m.intervalMs}ms`),
    });
  }

  onModuleDestroy(): void {
    for (const name of this.names.splice(0)) {
      if (this.registry.doesExist('interval', name)) this.registry.deleteInterval(name);
    }
  }

  /** One run of one monitor; returns false when skipped because the previous run is still going. Never throws. */
  async run(monitor: Monitor): Promise<boolean> {
    if (this.running.has(monitor.name)) {
      this.logger.warn({
        message: 'Alert check skipped: the previous run is still going',
        monitor: monitor.name,
      });
      return false;
    }
    this.running.add(monitor.name);
    const timeoutMs = checkTimeout(monitor.intervalMs);
    const abort = new AbortController();
    try {
      const readings = await withTimeout(
        monitor.check(abort.signal),
        timeoutMs,
        `Alert check '${monitor.name}' timed out after ${timeoutMs}ms`,
      );
      this.engine.evaluate(readings);
      // Every evaluation, not only changes: Alertmanager expects an alert to be pushed again while it holds.
      this.alertmanager.sync(
        this.engine.states(),
        readings.map((r) => r.key),
        monitor.intervalMs,
      );
    } catch (err) {
      this.logger.warn({ message: 'Alert check failed', monitor: monitor.name, error: errorMessage(err) });
    } finally {
      abort.abort();
      this.running.delete(monitor.name);
    }
    return true;
  }
}
