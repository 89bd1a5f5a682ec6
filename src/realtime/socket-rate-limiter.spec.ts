import { RATE, SocketRateLimiter } from './socket-rate-limiter';

describe(SocketRateLimiter.name, () => {
  it('allows a burst, then the refill rate', () => {
    const l = SocketRateLimiter.perSecond(20, 40, 0);
    let allowed = 0;
    for (let i = 0; i < 100; i++) if (l.take(0) === RATE.ALLOWED) allowed++;
    expect(allowed).toBe(40);
    // One second later: 20 more tokens.
    allowed = 0;
    for (let i = 0; i < 100; i++) if (l.take(1000) === RATE.ALLOWED) allowed++;
    expect(allowed).toBe(20);
  });

  it('never holds more than the burst', () => {
    const l = SocketRateLimiter.perSecond(20, 5, 0);
    let allowed = 0;
    for (let i = 0; i < 100; i++) if (l.take(60_000) === RATE.ALLOWED) allowed++;
    expect(allowed).toBe(5);
  });

  it('reports flooding after 10 s of continuous refusals, not after refusals with pauses', () => {
    const flood = SocketRateLimiter.perSecond(1, 1, 0);
    let firstFlooding = -1;
    for (let t = 0; t <= 10_100 && firstFlooding < 0; t += 10)
      if (flood.take(t) === RATE.FLOODING) firstFlooding = t;
    // Refused from t=10 on (the burst of one went at t=0): flooding once refusals have lasted 10 s.
    expect(firstFlooding).toBeGreaterThanOrEqual(10_000);
    expect(firstFlooding).toBeLessThanOrEqual(10_020);

    const bursty = SocketRateLimiter.perSecond(1, 1, 0);
    const seen = new Set<number>();
    // Floods for 5 s, pauses 2 s, floods 5 s again: never 10 s in a row.
    for (let t = 0; t < 5_000; t += 10) seen.add(bursty.take(t));
    for (let t = 7_000; t < 12_000; t += 10) seen.add(bursty.take(t));
    expect(seen.has(RATE.LIMITED)).toBe(true);
    expect(seen.has(RATE.FLOODING)).toBe(false);
  });
});
