import { ServiceUnavailableException } from '@nestjs/common';
import type { Server } from 'socket.io';
import { realtimeMetricsFixture } from '../../test/fixtures/realtime-metrics';
import { portfolioRoom, userRoom } from './realtime.events';
import { REALTIME_METRIC } from './realtime.metric-names';
import { RealtimePublisher } from './realtime.publisher';

/** The slice of a Socket.IO server the publisher uses: the local room table and `to(rooms).emit`. */
function fakeServer(rooms: Record<string, string[]>) {
  const emitted: Array<{ rooms: string[]; event: string; payload: unknown }> = [];
  const table = new Map(Object.entries(rooms).map(([room, ids]) => [room, new Set(ids)]));
  const server = {
    of: () => ({ adapter: { rooms: table } }),
    to: (to: string[]) => ({
      emit: (event: string, payload: unknown) => void emitted.push({ rooms: to, event, payload }),
    }),
  } as unknown as Server;
  return { server, emitted };
}

describe(RealtimePublisher.name, () => {
  let fx: ReturnType<typeof realtimeMetricsFixture>;
  let publisher: RealtimePublisher;

  beforeEach(() => {
    fx = realtimeMetricsFixture();
    publisher = new RealtimePublisher(fx.metrics, fx.adapterState);
  });

  it('refuses with 503 until the gateway hands over its server', () => {
    expect(() => publisher.publish({ event: 'portfolio:update', portfolioId: 'p1', data: {} })).toThrow(
      ServiceUnavailableException,
    );
  });

  it('sends portfolio:update to the portfolio room, counts local deliveries and the published event', async () => {
    const { server, emitted } = fakeServer({ [portfolioRoom('p1')]: ['s1', 's2'], [userRoom('u1')]: ['s1'] });
    publisher.attach(server);
    const result = publisher.publish({ event: 'portfolio:update', portfolioId: 'p1', data: { v: 1 } });
    expect(result).toEqual({ event: 'portfolio:update', rooms: [portfolioRoom('p1')], delivered: 2 });
    expect(emitted).toEqual([
      {
        rooms: [portfolioRoom('p1')],
        event: 'portfolio:update',
        payload: { portfolioId: 'p1', data: { v: 1 }, timestamp: expect.any(String) },
      },
    ]);
    expect(await fx.value(REALTIME_METRIC.portfolioUpdatesPublished)).toBe(1);
    expect(await fx.value(REALTIME_METRIC.wsEventsSent, { event: 'portfolio:update' })).toBe(2);
  });

  it('sends trade:executed to the user and portfolio rooms, counting a socket in both once', async () => {
    const { server, emitted } = fakeServer({
      [portfolioRoom('p1')]: ['s1', 's2'],
      [userRoom('u1')]: ['s1', 's3'],
    });
    publisher.attach(server);
    const result = publisher.publish({ event: 'trade:executed', userId: 'u1', portfolioId: 'p1', data: {} });
    expect(result).toEqual({
      event: 'trade:executed',
      rooms: [userRoom('u1'), portfolioRoom('p1')],
      delivered: 3,
    });
    expect(emitted[0].payload).toEqual({
      userId: 'u1',
      portfolioId: 'p1',
      data: {},
      timestamp: expect.any(String),
    });
    expect(await fx.value(REALTIME_METRIC.tradesPublished)).toBe(1);
    const snapshot = fx.core.currentSnapshot();
    fx.metrics.contribute(snapshot);
    expect(snapshot.business.trades).toBe(1);
  });

  it('says degraded while the Redis adapter is attached but not connected', () => {
    const { server } = fakeServer({});
    publisher.attach(server);
    let connected = false;
    fx.adapterState.redisAttached(() => connected);
    expect(publisher.publish({ event: 'portfolio:update', portfolioId: 'p1', data: {} }).degraded).toBe(true);
    connected = true;
    expect(publisher.publish({ event: 'portfolio:update', portfolioId: 'p1', data: {} })).not.toHaveProperty(
      'degraded',
    );
  });
});
