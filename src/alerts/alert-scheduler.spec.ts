import { SchedulerRegistry } from '@nestjs/schedule';
import type { AlertEngine } from './alert-engine';
import { AlertScheduler, MAX_CHECK_MS } from './alert-scheduler';
import type { Monitor, Reading } from './alert.types';
import type { AlertmanagerNotifier } from './notifiers/alertmanager.notifier';

class ScriptedMonitor implements Monitor {
  readonly name = 'scripted';
  readonly enabled = true;
  calls = 0;
  signals: AbortSignal[] = [];
  /** What each check does: resolve after `ms` of (fake) time, or never. */
  durations: Array<number | 'never'> = [];

  constructor(readonly intervalMs: number) {}

  check(signal: AbortSignal): Promise<Reading[]> {
    this.calls++;
    this.signals.push(signal);
    const d = this.durations.shift() ?? 0;
    if (d === 'never') return new Promise<Reading[]>(() => undefined);
    return new Promise((resolve) => setTimeout(() => resolve([]), d));
  }
}

describe(AlertScheduler.name, () => {
  let registry: SchedulerRegistry;
  let evaluated: number;
  let synced: number;
  const engine = { evaluate: () => evaluated++, states: () => [] } as unknown as AlertEngine;
  // The state mirror is pushed after every evaluation, not only on changes.
  const alertmanager = { sync: () => synced++ } as unknown as AlertmanagerNotifier;

  beforeEach(() => {
    jest.useFakeTimers();
    registry = new SchedulerRegistry();
    evaluated = 0;
    synced = 0;
  });
  afterEach(() => {
    expect(synced).toBe(evaluated);
  });
  afterEach(() => {
    jest.useRealTimers();
  });

  it('registers one interval per enabled monitor and clears them on shutdown', () => {
    const on = new ScriptedMonitor(1000);
    const off = Object.assign(new ScriptedMonitor(1000), { name: 'off', enabled: false });
    const scheduler = new AlertScheduler(registry, engine, [on, off], alertmanager);
    scheduler.onApplicationBootstrap();
    expect(registry.getIntervals()).toEqual(['alerts:monitor:scripted']);
    scheduler.onModuleDestroy();
    expect(registry.getIntervals()).toEqual([]);
    jest.advanceTimersByTime(10_000);
    expect(on.calls).toBe(0);
  });

  it('runs on its interval; a slow check is cut before the next tick, so no tick is lost', async () => {
    const m = new ScriptedMonitor(1000);
    m.durations = [5000, 100, 100];
    const scheduler = new AlertScheduler(registry, engine, [m], alertmanager);
    scheduler.onApplicationBootstrap();
    await jest.advanceTimersByTimeAsync(1000); // run 1 starts and would take 5 s
    expect(m.calls).toBe(1);
    await jest.advanceTimersByTimeAsync(800); // cut at 80 % of the interval
    expect(m.signals[0].aborted).toBe(true);
    expect(evaluated).toBe(0);
    await jest.advanceTimersByTimeAsync(1200); // ticks at 2 s and 3 s both run
    expect(m.calls).toBe(3);
    expect(evaluated).toBe(1);
    scheduler.onModuleDestroy();
  });

  it('a tick that finds the previous run still going (a blocked event loop) is skipped', async () => {
    const m = new ScriptedMonitor(1000);
    m.durations = [700];
    const scheduler = new AlertScheduler(registry, engine, [m], alertmanager);
    const first = scheduler.run(m);
    expect(await scheduler.run(m)).toBe(false);
    expect(m.calls).toBe(1);
    await jest.advanceTimersByTimeAsync(700);
    expect(await first).toBe(true);
    expect(evaluated).toBe(1);
  });

  it('a check that never ends is abandoned at its timeout, aborted, and the schedule goes on', async () => {
    const m = new ScriptedMonitor(60_000);
    m.durations = ['never', 0];
    const scheduler = new AlertScheduler(registry, engine, [m], alertmanager);
    scheduler.onApplicationBootstrap();
    await jest.advanceTimersByTimeAsync(60_000);
    expect(m.calls).toBe(1);
    await jest.advanceTimersByTimeAsync(MAX_CHECK_MS - 1);
    expect(m.signals[0].aborted).toBe(false);
    await jest.advanceTimersByTimeAsync(1);
    expect(m.signals[0].aborted).toBe(true);
    expect(evaluated).toBe(0);
    await jest.advanceTimersByTimeAsync(60_000);
    expect(m.calls).toBe(2);
    expect(evaluated).toBe(1);
    scheduler.onModuleDestroy();
  });

  it('run() reports a skip and never throws', async () => {
    const m = new ScriptedMonitor(1000);
    m.durations = [500];
    const failing: Monitor = {
      name: 'failing',
      enabled: true,
      intervalMs: 1000,
      check: () => Promise.reject(new Error('boom')),
    };
    const scheduler = new AlertScheduler(registry, engine, [m, failing], alertmanager);
    const first = scheduler.run(m);
    expect(await scheduler.run(m)).toBe(false);
    await jest.advanceTimersByTimeAsync(500);
    expect(await first).toBe(true);
    await expect(scheduler.run(failing)).resolves.toBe(true);
  });
});
