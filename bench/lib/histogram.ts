/**
 * A log-scale histogram of microsecond values with ~1 % relative resolution, small enough to cross an IPC
 * channel and mergeable across client processes, so percentiles are computed over every sample of a run.
 */
const RATIO = 1.01;
const LOG_RATIO = Math.log(RATIO);

export type HistogramData = Array<[bucket: number, count: number]>;

export class LogHistogram {
  private readonly counts = new Map<number, number>();
  total = 0;

  record(micros: number): void {
    const b = micros <= 1 ? 0 : Math.ceil(Math.log(micros) / LOG_RATIO);
    this.counts.set(b, (this.counts.get(b) ?? 0) + 1);
    this.total++;
  }

  merge(data: HistogramData): this {
    for (const [b, n] of data) {
      this.counts.set(b, (this.counts.get(b) ?? 0) + n);
      this.total += n;
    }
    return this;
  }

  toJSON(): HistogramData {
    return [...this.counts.entries()];
  }

  /** Nearest-rank percentile (p in 0..100) in microseconds: the upper bound of the bucket holding that rank. */
  percentile(p: number): number {
    if (this.total === 0) return NaN;
    const rank = Math.max(1, Math.ceil((p / 100) * this.total));
    let cumulative = 0;
    for (const b of [...this.counts.keys()].sort((x, y) => x - y)) {
      cumulative += this.counts.get(b) ?? 0;
      if (cumulative >= rank) return b === 0 ? 1 : RATIO ** b;
    }
    return NaN;
  }
}
