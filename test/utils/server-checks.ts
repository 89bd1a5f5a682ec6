import request from 'supertest';
import { closeAll, connectClient, emitAck, nextEvent } from './socket-client';

let probeCount = 0;

/**
 * What every fault and abuse case ends with: the server is alive for everyone else. GET /health is 200 and a
 * brand-new, well-behaved client connects, subscribes and receives a POST /events publish.
 */
export async function expectServerServes(url: string, publishToken: string): Promise<void> {
  const health = await request(url).get('/health').timeout(5000);
  expect(health.status).toBe(200);
  const portfolio = `probe${++probeCount}`;
  const socket = await connectClient(url, `probe-user-${probeCount}`, [portfolio]);
  try {
    // The ack's stream position is null while Redis is unreachable (a fault case may leave it so).
    await expect(emitAck(socket, 'portfolio:subscribe', { portfolioId: portfolio })).resolves.toMatchObject({
      ok: true,
      portfolioId: portfolio,
      stream: `portfolio:${portfolio}`,
    });
    const received = nextEvent<{ portfolioId: string; data: unknown }>(socket, 'portfolio:update', 5000);
    const res = await request(url)
      .post('/events')
      .set('Authorization', `Bearer ${publishToken}`)
      .send({ event: 'portfolio:update', portfolioId: portfolio, data: { probe: probeCount } })
      .timeout(5000);
    expect(res.status).toBe(202);
    expect(res.body.delivered).toBe(1);
    await expect(received).resolves.toMatchObject({ portfolioId: portfolio, data: { probe: probeCount } });
  } finally {
    closeAll([socket]);
  }
}

/**
 * The value of one sample of a Prometheus text exposition, or undefined when absent. `labels` must match the
 * sample's labels exactly (order does not matter).
 */
export function sampleValue(
  exposition: string,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  const wanted = Object.entries(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .sort()
    .join(',');
  for (const line of exposition.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)/.exec(line);
    if (m === null || m[1] !== name) continue;
    const got = (m[2] ?? '')
      .split(/,(?=[a-zA-Z_]+=")/)
      .filter((s) => s.length > 0)
      .sort()
      .join(',');
    if (got === wanted) return Number(m[3]);
  }
  return undefined;
}

export async function exposition(url: string): Promise<string> {
  const res = await request(url).get('/metrics/prometheus').timeout(5000);
  expect(res.status).toBe(200);
  return res.text;
}

/** Median of a non-empty list. */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}
