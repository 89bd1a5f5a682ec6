import { FLOOD_DISCONNECT_MS, FLOOD_PAUSE_MS } from './realtime.events';

export const RATE = { ALLOWED: 0, LIMITED: 1, FLOODING: 2 } as const;
export type RateDecision = (typeof RATE)[keyof typeof RATE];

/**
 * A token bucket per socket: `rate` events per second on average, `burst` at once. A socket that keeps being
 * limited (no pause of FLOOD_PAUSE_MS between refusals) for FLOOD_DISCONNECT_MS is flooding. Plain numbers,
 * no timers: the bucket refills lazily from the time of each event.
 */
export class SocketRateLimiter {
  private tokens: number;
  private last: number;
  private limitedSince = -1;
  private lastLimited = -Infinity;

  constructor(
    private readonly ratePerMs: number,
    private readonly burst: number,
    now: number,
  ) {
    this.tokens = burst;
    this.last = now;
  }

  static perSecond(rate: number, burst: number, now: number): SocketRateLimiter {
    return new SocketRateLimiter(rate / 1000, burst, now);
  }

  take(now: number): RateDecision {
    const refilled = this.tokens + (now - this.last) * this.ratePerMs;
    this.tokens = refilled > this.burst ? this.burst : refilled;
    this.last = now;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return RATE.ALLOWED;
    }
    if (now - this.lastLimited > FLOOD_PAUSE_MS) this.limitedSince = now;
    this.lastLimited = now;
    return now - this.limitedSince >= FLOOD_DISCONNECT_MS ? RATE.FLOODING : RATE.LIMITED;
  }
}
