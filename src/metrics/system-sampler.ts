import { ELDHistogram, monitorEventLoopDelay } from 'node:perf_hooks';
import { SystemUsageSampler } from '../common/system-usage';
import { MonotonicClock, SlidingWindow } from './sliding-window';

/** CPU and event-loop delay are sampled once a second into 60 s windows. */
export const SYSTEM_SAMPLE_INTERVAL_MS = 1000;

/** Event-loop delay is measured by a timer this often (ms); finer costs CPU for no operational insight. */
const EVENT_LOOP_RESOLUTION_MS = 10;

export interface SystemFigures {
  /** Mean process CPU over the window, % of the CPUs the container may use. */
  cpuPercent: number;
  /** Event-loop delay percentiles over the window, in ms. */
  eventLoopDelayP50: number;
  eventLoopDelayP99: number;
}

/**
 * CPU (cgroup-aware, from SystemUsageSampler) and event-loop delay (perf_hooks) over the last 60 s. Each second
 * the event-loop histogram of that second is folded into the window (its percentile steps weighted by their
 * share of the samples) and reset, so the window's percentiles describe the last minute, not the process's life.
 */
export class SystemSampler {
  private readonly usage = new SystemUsageSampler();
  private readonly cpu: SlidingWindow;
  private readonly eventLoop: SlidingWindow;
  private readonly histogram: ELDHistogram = monitorEventLoopDelay({
    resolution: EVENT_LOOP_RESOLUTION_MS,
  });
  private timer: NodeJS.Timeout | null = null;

  constructor(clock?: MonotonicClock) {
    this.cpu = new SlidingWindow({ clock, percentiles: false });
    this.eventLoop = new SlidingWindow({ clock });
  }

  start(): void {
    if (this.timer !== null) return;
    this.histogram.enable();
    this.timer = setInterval(() => this.sample(), SYSTEM_SAMPLE_INTERVAL_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.histogram.disable();
  }

  /** Takes one sample now (the timer calls it every second; tests may call it directly). */
  sample(): void {
    this.cpu.record(this.usage.sample().cpuPercent);
    const h = this.histogram;
    if (h.count > 0) {
      let previous = 0;
      for (const [percentile, nanos] of h.percentiles) {
        const share = ((percentile - previous) / 100) * h.count;
        previous = percentile;
        // Node records the time between two timer runs, which includes the resolution itself: an idle loop
        // reads ~10 ms. The delay is what comes on top.
        if (share > 0) this.eventLoop.recordMany(Math.max(0, nanos / 1e6 - EVENT_LOOP_RESOLUTION_MS), share);
      }
      h.reset();
    }
  }

  read(): SystemFigures {
    // Before the first tick the window is empty: one sample (CPU since process start) is better than a zero.
    if (this.cpu.count() === 0) this.cpu.record(this.usage.sample().cpuPercent);
    const [p50, p99] = this.eventLoop.percentiles([50, 99]);
    return { cpuPercent: this.cpu.mean(), eventLoopDelayP50: p50, eventLoopDelayP99: p99 };
  }
}
