import type { AlertKey } from '../../src/alerts/alert-keys';
import type { Monitor, Reading } from '../../src/alerts/alert.types';

/**
 * A monitor whose next reading the test sets (warning 70, critical 90), to be run through the app's real
 * AlertScheduler, so the engine, the delivery and the channels all do their real work.
 */
export class SetMonitor implements Monitor {
  readonly name: string;
  readonly enabled = true;
  readonly intervalMs = 30_000;
  value = 0;

  constructor(
    private readonly key: AlertKey,
    private readonly label: string,
  ) {
    this.name = `set:${key}`;
  }

  check(): Promise<Reading[]> {
    return Promise.resolve([
      {
        kind: 'metric',
        key: this.key,
        label: this.label,
        value: this.value,
        unit: '%',
        warning: 70,
        critical: 90,
      },
    ]);
  }
}
