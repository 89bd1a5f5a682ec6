/**
 * Rates and percentiles over the last `windowMs` (60 s by default), answering "how is it now" rather than
 * "since boot". Samples go into one-second slots of a ring; each slot keeps a count, a flagged count (errors),
 * a sum, min, max and a log-scale histogram. Running totals of the counts and of the histogram are kept up to
 * date as slots expire, so a read costs O(histogram buckets + slots), never O(samples): a scrape stays cheap
 * however busy the server is.
 *
 * Percentiles come from the histogram: each bucket reports the mean of the samples it holds, so the error is
 * below the bucket width (ratio 1.1, i.e. within 10 %, usually far less), and a bucket holding one distinct
 * value reports it exactly.
 */

export type MonotonicClock = () => number;

/** Bucket i holds values in (BOUNDS[i-1], BOUNDS[i]]; the last bucket holds everything above. */
const MIN_BOUND = 0.001;
const RATIO = 1.1;
const BOUNDS: number[] = (() => {
  const out: number[] = [];
  // Up to an hour: a latency or delay beyond that is an outage, not a percentile.
  for (let b = MIN_BOUND; b < 3_600_000; b *= RATIO) out.push(b);
  return out;
})();
const BUCKETS = BOUNDS.length + 1;
const LOG_RATIO = Math.log(RATIO);

function bucketOf(value: number): number {
  if (!(value > MIN_BOUND)) return 0;
  const i = Math.ceil(Math.log(value / MIN_BOUND) / LOG_RATIO - 1e-9);
  return i >= BOUNDS.length ? BOUNDS.length : i;
}

interface Slot {
  /** Which slot number (time / slotMs) this slot currently holds. */
  id: number;
  count: number;
  flagged: number;
  sum: number;
  min: number;
  max: number;
  hist: Float64Array | null;
  /** Sum of the values in each histogram bucket: a bucket reports its samples' mean, not its middle. */
  histSum: Float64Array | null;
}

export interface SlidingWindowOptions {
  windowMs?: number;
  slotMs?: number;
  /** Keep a histogram for percentiles (not needed for plain counts or means). */
  percentiles?: boolean;
  clock?: MonotonicClock;
}

export class SlidingWindow {
  readonly windowMs: number;
  private readonly slotMs: number;
  private readonly clock: MonotonicClock;
  private readonly slots: Slot[];
  private readonly totalHist: Float64Array | null;
  private readonly totalHistSum: Float64Array | null;
  private totalCount = 0;
  private totalFlagged = 0;
  private head: number;

  constructor(options: SlidingWindowOptions = {}) {
    this.windowMs = options.windowMs ?? 60_000;
    this.slotMs = options.slotMs ?? 1000;
    this.clock = options.clock ?? (() => performance.now());
    if (this.windowMs % this.slotMs !== 0 || this.windowMs <= 0) {
      throw new Error('windowMs must be a positive multiple of slotMs');
    }
    const n = this.windowMs / this.slotMs;
    const withHist = options.percentiles ?? true;
    this.totalHist = withHist ? new Float64Array(BUCKETS) : null;
    this.totalHistSum = withHist ? new Float64Array(BUCKETS) : null;
    this.head = Math.floor(this.clock() / this.slotMs);
    this.slots = Array.from({ length: n }, () => ({
      id: -1,
      count: 0,
      flagged: 0,
      sum: 0,
      min: Infinity,
      max: -Infinity,
      hist: withHist ? new Float64Array(BUCKETS) : null,
      histSum: withHist ? new Float64Array(BUCKETS) : null,
    }));
  }

  /** One sample; `flagged` marks it (e.g. an error) for flaggedRatio(). */
  record(value: number, flagged = false): void {
    this.recordMany(value, 1, flagged ? 1 : 0);
  }

  /** `count` samples of the same value (count may be fractional when it is a share of a summarised histogram). */
  recordMany(value: number, count: number, flaggedCount = 0): void {
    if (!(count > 0) || !Number.isFinite(value)) return;
    const slot = this.current();
    slot.count += count;
    slot.flagged += flaggedCount;
    slot.sum += value * count;
    if (value < slot.min) slot.min = value;
    if (value > slot.max) slot.max = value;
    this.totalCount += count;
    this.totalFlagged += flaggedCount;
    if (
      slot.hist !== null &&
      slot.histSum !== null &&
      this.totalHist !== null &&
      this.totalHistSum !== null
    ) {
      const b = bucketOf(value);
      slot.hist[b] += count;
      slot.histSum[b] += value * count;
      this.totalHist[b] += count;
      this.totalHistSum[b] += value * count;
    }
  }

  /** Samples in the window. */
  count(): number {
    this.advance();
    return this.totalCount;
  }

  flagged(): number {
    this.advance();
    return this.totalFlagged;
  }

  /** Samples per second over the whole window (a quiet start-up minute reads low, as Prometheus' rate() does). */
  ratePerSecond(): number {
    return this.count() / (this.windowMs / 1000);
  }

  /** Flagged samples as a percentage of all samples (0 when there were none). */
  flaggedPercent(): number {
    const n = this.count();
    return n === 0 ? 0 : (this.totalFlagged / n) * 100;
  }

  mean(): number {
    this.advance();
    if (this.totalCount === 0) return 0;
    let sum = 0;
    for (const s of this.slots) if (s.id !== -1) sum += s.sum;
    return sum / this.totalCount;
  }

  max(): number {
    return this.range().max;
  }

  /** Nearest-rank percentiles (p in 0..100) over the window, in the unit recorded; 0 for an empty window. */
  percentiles(ps: readonly number[]): number[] {
    this.advance();
    const hist = this.totalHist;
    const sums = this.totalHistSum;
    if (hist === null || sums === null) throw new Error('this window keeps no histogram');
    const n = this.totalCount;
    if (n === 0) return ps.map(() => 0);
    const { min, max } = this.range();
    // With whole counts, "cumulative ≥ p·n" is the nearest rank ⌈p·n⌉; fractional counts need no rounding.
    const ranks = ps.map((p) => Math.max(1e-6, (Math.min(100, Math.max(0, p)) / 100) * n));
    const out = new Array<number>(ps.length).fill(max);
    let cumulative = 0;
    let pending = ps.length;
    ps.forEach((p, k) => {
      if (p >= 100) {
        ranks[k] = 0;
        pending--;
      }
    });
    for (let i = 0; i < BUCKETS && pending > 0; i++) {
      if (!(hist[i] > 0)) continue;
      cumulative += hist[i];
      for (let k = 0; k < ranks.length; k++) {
        if (ranks[k] > 0 && cumulative >= ranks[k] - 1e-9) {
          out[k] = Math.min(max, Math.max(min, sums[i] / hist[i]));
          ranks[k] = 0;
          pending--;
        }
      }
    }
    return out;
  }

  percentile(p: number): number {
    return this.percentiles([p])[0];
  }

  private range(): { min: number; max: number } {
    this.advance();
    let min = Infinity;
    let max = -Infinity;
    for (const s of this.slots) {
      if (s.id === -1 || s.count === 0) continue;
      if (s.min < min) min = s.min;
      if (s.max > max) max = s.max;
    }
    return min === Infinity ? { min: 0, max: 0 } : { min, max };
  }

  private current(): Slot {
    this.advance();
    const slot = this.slots[this.head % this.slots.length];
    if (slot.id !== this.head) slot.id = this.head;
    return slot;
  }

  /** Expires the slots that fell out of the window, subtracting them from the running totals. */
  private advance(): void {
    const now = Math.floor(this.clock() / this.slotMs);
    if (now <= this.head) return;
    const n = this.slots.length;
    if (now - this.head >= n) {
      for (const s of this.slots) this.clear(s);
      this.totalCount = 0;
      this.totalFlagged = 0;
      this.totalHist?.fill(0);
      this.totalHistSum?.fill(0);
    } else {
      for (let id = this.head + 1; id <= now; id++) {
        const s = this.slots[id % n];
        if (s.id !== -1) this.expire(s);
      }
    }
    this.head = now;
  }

  private expire(s: Slot): void {
    this.totalCount -= s.count;
    this.totalFlagged -= s.flagged;
    if (s.hist !== null && s.histSum !== null && this.totalHist !== null && this.totalHistSum !== null) {
      for (let i = 0; i < BUCKETS; i++) {
        if (s.hist[i] === 0) continue;
        this.totalHist[i] -= s.hist[i];
        this.totalHistSum[i] -= s.histSum[i];
        // Float dust must not leave a phantom sample behind.
        if (this.totalHist[i] < 1e-9) {
          this.totalHist[i] = 0;
          this.totalHistSum[i] = 0;
        }
      }
    }
    // Fractional counts can leave float dust; an empty window must read exactly zero.
    if (this.totalCount < 1e-6) this.totalCount = 0;
    if (this.totalFlagged < 1e-6) this.totalFlagged = 0;
    this.clear(s);
  }

  private clear(s: Slot): void {
    s.id = -1;
    s.count = 0;
    s.flagged = 0;
    s.sum = 0;
    s.min = Infinity;
    s.max = -Infinity;
    s.hist?.fill(0);
    s.histSum?.fill(0);
  }
}
