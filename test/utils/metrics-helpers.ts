import { Controller, Get, Module, Param, Query } from '@nestjs/common';
import { NestExpressApplication } from '@nestjs/platform-express';
import request from 'supertest';
import { sleep } from '../../src/common/with-timeout';
import { RedisMetrics } from '../../src/health/redis.metrics';
import { METRICS_CLOCK, MetricsService } from '../../src/metrics/metrics.service';
import { RealtimeMetrics } from '../../src/realtime/realtime.metrics';
import { createTestApp } from './test-app';

/**
 * The Accept header Prometheus 2.42 sends when it scrapes: OpenMetrics first, text/plain at 0.5, anything at 0.1.
 * test/metrics.e2e-spec.ts sends it to the real app and src/metrics/metrics.controller.spec.ts to the header check.
 */
export const PROMETHEUS_ACCEPT =
  'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1';

@Controller('probe')
class ProbeController {
  @Get('slow')
  async slow(@Query('ms') ms: string) {
    await sleep(Math.min(Number(ms) || 0, 2000));
    return { ok: true };
  }

  @Get('fail')
  fail(): never {
    throw new Error('probe failure');
  }

  @Get('items/:id')
  item(@Param('id') id: string) {
    return { id };
  }
}

/** Test-only routes: a slow one, a failing one (500) and a parameterised one (route pattern label). */
@Module({ controllers: [ProbeController] })
export class ProbeModule {}

/** A clock the test moves by hand, so the 60 s windows hold exactly the traffic the test made. */
export class ManualClock {
  now = 1_000_000;
  readonly fn = () => this.now;
}

/** RealtimeMetrics that keeps the gateway's "I am up" until the test releases it. */
class HeldGatewayMetrics extends RealtimeMetrics {
  private held = false;

  override markGatewayUp(): void {
    this.held = true;
  }

  release(): void {
    if (this.held) super.markGatewayUp();
  }
}

export interface MetricsApp {
  app: NestExpressApplication;
  url: string;
  metrics: MetricsService;
  /** The realtime feature's instruments (ws_*, subscriptions, published events). */
  realtime: RealtimeMetrics;
  /** redis_up / redis_latency_seconds and the JSON `redis` block. */
  redis: RedisMetrics;
  clock: ManualClock;
  /** With holdGateway: tells RealtimeMetrics the gateway is up, as the gateway did during start-up. */
  release(): void;
  close(): Promise<void>;
}

/**
 * The real AppModule plus the probe routes, with a manual window clock. With `holdGateway`, the gateway's
 * "I am up" during start-up is held back until release(), so "before the gateway is up" can be observed on a
 * real app.
 */
export async function createMetricsApp(
  env: Record<string, string> = {},
  opts: { holdGateway?: boolean } = {},
): Promise<MetricsApp> {
  const clock = new ManualClock();
  const t = await createTestApp(
    env,
    (builder) => {
      const timed = builder.overrideProvider(METRICS_CLOCK).useValue(clock.fn);
      return opts.holdGateway ? timed.overrideProvider(RealtimeMetrics).useClass(HeldGatewayMetrics) : timed;
    },
    [ProbeModule],
  );
  const realtime = t.app.get(RealtimeMetrics);
  return {
    app: t.app,
    url: t.url,
    metrics: t.app.get(MetricsService),
    realtime,
    redis: t.app.get(RedisMetrics),
    clock,
    release: () => {
      if (realtime instanceof HeldGatewayMetrics) realtime.release();
    },
    close: () => t.close(),
  };
}

/** Parses the text exposition into `name{labels}` → value (labels sorted, so lookups do not depend on order). */
export function parseExposition(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)$/.exec(line);
    if (m === null) throw new Error(`unparseable exposition line: ${line}`);
    const labels =
      m[3] === undefined
        ? ''
        : m[3]
            .split(/,(?=[a-zA-Z_]+=")/)
            .sort()
            .join(',');
    out.set(labels === '' ? m[1] : `${m[1]}{${labels}}`, Number(m[4]));
  }
  return out;
}

export function seriesKey(name: string, labels: Record<string, string> = {}): string {
  const parts = Object.entries(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .sort();
  return parts.length === 0 ? name : `${name}{${parts.join(',')}}`;
}

export async function scrape(url: string, auth?: string): Promise<Map<string, number>> {
  const req = request(url).get('/metrics/prometheus');
  if (auth !== undefined) req.set('Authorization', auth);
  const res = await req.expect(200);
  return parseExposition(res.text);
}

export const seriesValue = (
  m: Map<string, number>,
  name: string,
  labels: Record<string, string> = {},
): number => m.get(seriesKey(name, labels)) ?? 0;

/** The response's 'close' (where requests are recorded) runs just after it is written: let it run before reading. */
export const settle = (): Promise<void> => sleep(20);
