import { readFileSync } from 'node:fs';
import { availableParallelism, totalmem } from 'node:os';
import { getHeapStatistics } from 'node:v8';

/**
 * Honest resource figures for a process in a container. Memory is measured against the container's limit
 * (cgroup v2 memory.max, v1 memory.limit_in_bytes, else total RAM) and the V8 heap against its own limit:
 * heapUsed/heapTotal sits near 90 % in a healthy process and says nothing. CPU is process CPU time over wall
 * time, relative to the CPUs the container may use (cgroup cpu.max, else the core count).
 */

function readFirst(paths: string[]): string | null {
  for (const p of paths) {
    try {
      return readFileSync(p, 'utf8').trim();
    } catch {
      // try the next one
    }
  }
  return null;
}

/** Bytes the container may use, and where that number came from. */
export function memoryLimit(): { bytes: number; source: 'cgroup' | 'host' } {
  const host = totalmem();
  const raw = readFirst(['/sys/fs/cgroup/memory.max', '/sys/fs/cgroup/memory/memory.limit_in_bytes']);
  const n = raw === null || raw === 'max' ? NaN : Number(raw);
  // cgroup v1 reports "no limit" as a huge number near 2^63.
  if (Number.isFinite(n) && n > 0 && n < host) return { bytes: n, source: 'cgroup' };
  return { bytes: host, source: 'host' };
}

/** CPUs the container may use: cgroup v2 cpu.max quota/period, v1 cfs quota/period, else the core count. */
export function cpuLimit(): number {
  const cores = availableParallelism();
  const v2 = readFirst(['/sys/fs/cgroup/cpu.max']);
  if (v2 !== null) {
    const [quota, period] = v2.split(/\s+/);
    if (quota !== 'max' && Number(period) > 0) return Math.min(cores, Number(quota) / Number(period));
  }
  const q = Number(readFirst(['/sys/fs/cgroup/cpu/cpu.cfs_quota_us']));
  const p = Number(readFirst(['/sys/fs/cgroup/cpu/cpu.cfs_period_us']));
  if (q > 0 && p > 0) return Math.min(cores, q / p);
  return cores;
}

export interface SystemUsage {
  /** Process CPU over the last interval, % of the CPUs available to the container (0-100). */
  cpuPercent: number;
  rssBytes: number;
  memoryLimitBytes: number;
  /** RSS as % of the container's memory limit. */
  memoryPercent: number;
  heapUsedBytes: number;
  heapLimitBytes: number;
  /** V8 heap used as % of V8's heap size limit (not of heapTotal). */
  heapPercent: number;
}

/**
 * Samples usage; each call measures CPU since the previous call (the first since process start). Keep one
 * instance per consumer, so two consumers sampling at different rates do not shorten each other's interval.
 */
/** Where the sampler reads the process from; tests give their own clock and CPU counter. */
export interface UsageSources {
  now(): number;
  cpuUsage(): NodeJS.CpuUsage;
  cpus: number;
}

const processSources = (): UsageSources => ({
  now: () => performance.now(),
  cpuUsage: () => process.cpuUsage(),
  cpus: cpuLimit(),
});

export class SystemUsageSampler {
  // performance.now() counts from process start, so the first sample covers the process's whole life.
  private lastCpu: NodeJS.CpuUsage = { user: 0, system: 0 };
  private lastTime = 0;
  private readonly cpus: number;
  private readonly memLimit = memoryLimit().bytes;

  constructor(private readonly sources: UsageSources = processSources()) {
    this.cpus = sources.cpus;
  }

  sample(): SystemUsage {
    const now = this.sources.now();
    const cpu = this.sources.cpuUsage();
    const usedMicros = cpu.user - this.lastCpu.user + (cpu.system - this.lastCpu.system);
    const wallMicros = Math.max(1, (now - this.lastTime) * 1000);
    this.lastCpu = cpu;
    this.lastTime = now;
    const mem = process.memoryUsage();
    const heap = getHeapStatistics();
    return {
      cpuPercent: clampPercent((usedMicros / wallMicros / this.cpus) * 100),
      rssBytes: mem.rss,
      memoryLimitBytes: this.memLimit,
      memoryPercent: clampPercent((mem.rss / this.memLimit) * 100),
      heapUsedBytes: heap.used_heap_size,
      heapLimitBytes: heap.heap_size_limit,
      heapPercent: clampPercent((heap.used_heap_size / heap.heap_size_limit) * 100),
    };
  }
}

function clampPercent(n: number): number {
  return Math.round(Math.min(100, Math.max(0, n)) * 100) / 100;
}
