import request from 'supertest';

export interface PublishOutcome {
  seq: number;
  status: number;
  elapsedMs: number;
  degraded: boolean;
  delivered: number;
}

/**
 * Steady POST /events traffic to one portfolio room: one publish every `everyMs`, each carrying a sequence
 * number, each answer recorded with its time. Bounded: stops by itself after `maxPublishes`.
 */
export class PublishTraffic {
  readonly outcomes: PublishOutcome[] = [];
  private seq = 0;
  private timer: NodeJS.Timeout | null = null;
  private inFlight = new Set<Promise<void>>();

  constructor(
    private readonly url: string,
    private readonly token: string,
    private readonly portfolioId: string,
    private readonly everyMs = 25,
    private readonly maxPublishes = 2000,
  ) {}

  start(): this {
    this.timer = setInterval(() => {
      if (this.seq >= this.maxPublishes) return this.halt();
      const p = this.publishOne(this.seq++).finally(() => this.inFlight.delete(p));
      this.inFlight.add(p);
    }, this.everyMs);
    return this;
  }

  /** Stops publishing and waits for the answers still in flight. Returns how many were sent. */
  async stop(): Promise<number> {
    this.halt();
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
    return this.seq;
  }

  get sent(): number {
    return this.seq;
  }

  private halt(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  private async publishOne(seq: number): Promise<void> {
    const started = performance.now();
    let status = 0;
    let degraded = false;
    let delivered = -1;
    try {
      const res = await request(this.url)
        .post('/events')
        .set('Authorization', `Bearer ${this.token}`)
        .send({ event: 'portfolio:update', portfolioId: this.portfolioId, data: { seq } })
        .timeout(10_000);
      status = res.status;
      degraded = res.body?.degraded === true;
      delivered = typeof res.body?.delivered === 'number' ? res.body.delivered : -1;
    } catch {
      status = -1;
    }
    this.outcomes.push({ seq, status, elapsedMs: performance.now() - started, degraded, delivered });
  }
}
