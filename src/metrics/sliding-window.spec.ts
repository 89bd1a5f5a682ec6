import { SlidingWindow } from './sliding-window';

describe(SlidingWindow.name, () => {
  let now: number;
  const clock = () => now;
  const make = (options: { windowMs?: number; slotMs?: number; percentiles?: boolean } = {}) =>
    new SlidingWindow({ ...options, clock });

  beforeEach(() => {
    now = 1_000_000;
  });

  it('is empty at first: zero counts, rates, means and percentiles', () => {
    const w = make();
    expect(w.count()).toBe(0);
    expect(w.ratePerSecond()).toBe(0);
    expect(w.flaggedPercent()).toBe(0);
    expect(w.mean()).toBe(0);
    expect(w.percentiles([50, 95, 99])).toEqual([0, 0, 0]);
  });

  it('rate is the count over the last 60 s divided by 60', () => {
    const w = make();
    for (let i = 0; i < 120; i++) {
      w.record(1);
      now += 250; // 4 per second for 30 s
    }
    expect(w.count()).toBe(120);
    expect(w.ratePerSecond()).toBe(2);
  });

  it('forgets samples older than the window, slot by slot', () => {
    const w = make();
    w.record(5); // slot at t = 0 s
    now += 10_000;
    w.record(5);
    w.record(5); // slot at t = 10 s
    now += 49_999; // still inside for both
    expect(w.count()).toBe(3);
    now += 1; // t = 60 s: the first slot expires
    expect(w.count()).toBe(2);
    now += 10_000; // t = 70 s: the second expires
    expect(w.count()).toBe(0);
    expect(w.percentile(99)).toBe(0);
  });

  it('clears everything after a gap longer than the window', () => {
    const w = make();
    for (let i = 0; i < 10; i++) w.record(i, i % 2 === 0);
    now += 5 * 60_000;
    expect(w.count()).toBe(0);
    expect(w.flagged()).toBe(0);
    w.record(7);
    expect(w.count()).toBe(1);
    expect(w.percentiles([50, 99])).toEqual([7, 7]);
  });

  it('flaggedPercent is the share of flagged samples in the window', () => {
    const w = make();
    for (let i = 0; i < 200; i++) w.record(1, i < 3);
    expect(w.flaggedPercent()).toBeCloseTo(1.5, 10);
    now += 61_000;
    expect(w.flaggedPercent()).toBe(0);
  });

  it('reports identical values exactly (clamped to the real min and max)', () => {
    const w = make();
    for (let i = 0; i < 50; i++) w.record(12.5);
    expect(w.percentiles([50, 95, 99])).toEqual([12.5, 12.5, 12.5]);
  });

  it('percentiles of 1..1000 are within 5 % of the exact nearest-rank values', () => {
    const w = make();
    const values = Array.from({ length: 1000 }, (_, i) => i + 1);
    // Shuffled and spread over the window, so order and slots do not matter.
    for (let i = values.length - 1; i > 0; i--) {
      const j = (i * 7919) % (i + 1);
      [values[i], values[j]] = [values[j], values[i]];
    }
    values.forEach((v, i) => {
      w.record(v);
      if (i % 20 === 0) now += 1000;
    });
    const [p50, p95, p99, p100] = w.percentiles([50, 95, 99, 100]);
    expect(Math.abs(p50 - 500) / 500).toBeLessThanOrEqual(0.05);
    expect(Math.abs(p95 - 950) / 950).toBeLessThanOrEqual(0.05);
    expect(Math.abs(p99 - 990) / 990).toBeLessThanOrEqual(0.05);
    expect(p100).toBe(1000);
  });

  it('a bucket holding one distinct value reports that value exactly, not its middle', () => {
    const w = make();
    for (let i = 0; i < 109; i++) w.record(2);
    for (let i = 0; i < 2; i++) w.record(4);
    expect(w.percentiles([50, 95, 99])).toEqual([2, 2, 4]);
    w.record(3.3); // the 110th of 112 sorted values
    expect(w.percentile(98)).toBe(3.3);
  });

  it('a slow tail shows in p99 but not in p50', () => {
    const w = make();
    for (let i = 0; i < 980; i++) w.record(2);
    for (let i = 0; i < 20; i++) w.record(800);
    const [p50, p95, p99] = w.percentiles([50, 95, 99]);
    expect(p50).toBe(2);
    expect(p95).toBe(2);
    expect(Math.abs(p99 - 800) / 800).toBeLessThanOrEqual(0.05);
  });

  it('percentiles follow the window: an old spike ages out', () => {
    const w = make();
    for (let i = 0; i < 100; i++) w.record(1000);
    now += 30_000;
    for (let i = 0; i < 100; i++) w.record(1);
    expect(w.percentile(99)).toBeGreaterThan(900);
    now += 30_000; // the spike's slot is now 60 s old
    expect(w.percentiles([50, 99])).toEqual([1, 1]);
  });

  it('mean and max cover the window only', () => {
    const w = make({ percentiles: false });
    w.record(90);
    now += 59_000;
    w.record(10);
    w.record(20);
    expect(w.mean()).toBeCloseTo(40, 10);
    expect(w.max()).toBe(90);
    now += 1000;
    expect(w.mean()).toBeCloseTo(15, 10);
    expect(w.max()).toBe(20);
    expect(() => w.percentile(50)).toThrow('keeps no histogram');
  });

  it('accepts fractional weights (a summarised histogram) and returns to exactly zero when they expire', () => {
    const w = make();
    w.recordMany(10, 0.3);
    w.recordMany(20, 0.3);
    w.recordMany(30, 0.4);
    expect(w.count()).toBeCloseTo(1, 10);
    expect(Math.abs(w.percentile(50) - 20) / 20).toBeLessThanOrEqual(0.05);
    now += 60_000;
    expect(w.count()).toBe(0);
    expect(w.percentile(50)).toBe(0);
  });

  it('ignores non-finite values and non-positive counts', () => {
    const w = make();
    w.record(Number.NaN);
    w.record(Infinity);
    w.recordMany(5, 0);
    w.recordMany(5, -1);
    expect(w.count()).toBe(0);
  });

  it('handles zero and values below its resolution (1 µs) without going outside the real range', () => {
    const w = make();
    w.record(0);
    w.record(0.0001);
    const [p50, p100] = w.percentiles([50, 100]);
    expect(p50).toBeGreaterThanOrEqual(0);
    expect(p50).toBeLessThanOrEqual(0.0001);
    expect(p100).toBe(0.0001);
  });

  it('supports other window and slot sizes, and rejects inconsistent ones', () => {
    const w = make({ windowMs: 10_000, slotMs: 500 });
    for (let i = 0; i < 30; i++) w.record(1);
    expect(w.ratePerSecond()).toBe(3);
    now += 10_000;
    expect(w.count()).toBe(0);
    expect(() => make({ windowMs: 1000, slotMs: 300 })).toThrow();
  });
});
