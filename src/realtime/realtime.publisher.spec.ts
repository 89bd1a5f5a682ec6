import { ConflictException, ServiceUnavailableException } from '@nestjs/common';
import type { Server } from 'socket.io';
import { realtimeMetricsFixture } from '../../test/fixtures/realtime-metrics';
import { AppConfig } from '../config/app-config';
import type { InstanceInfo } from '../lifecycle/instance-info';
import type { RedisService } from '../redis/redis.service';
import { StreamHistory } from '../streams/stream-history';
import { StreamsMetrics } from '../streams/streams.metrics';
import { ClusterPeers } from './cluster-peers';
import { portfolioRoom, userRoom } from './realtime.events';
import { REALTIME_METRIC } from './realtime.metric-names';
import { RealtimePublisher } from './realtime.publisher';
import { StreamDelivery } from './stream-delivery';

/** The slice of a Socket.IO server delivery uses: the local room table and `local.to(rooms).except().emit`. */
function fakeServer(rooms: Record<string, string[]>) {
  const emitted: Array<{ rooms: string[]; event: string; payload: Record<string, unknown> }> = [];
  const table = new Map(Object.entries(rooms).map(([room, ids]) => [room, new Set(ids)]));
  const operator = (to: string[]) => ({
    except: () => operator(to),
    emit: (event: string, payload: Record<string, unknown>) =>
      void emitted.push({ rooms: to, event, payload }),
  });
  const server = { of: () => ({ adapter: { rooms: table } }), local: { to: operator } } as unknown as Server;
  return { server, emitted };
}

/** Without REDIS_URL: positions and history in memory, delivery in-process. */
function memoryPublisher() {
  const fx = realtimeMetricsFixture();
  const config = AppConfig.from({ NODE_ENV: 'test' });
  const redis = { client: null } as unknown as RedisService;
  const streamsMetrics = new StreamsMetrics(fx.core);
  const history = new StreamHistory(config, redis, streamsMetrics, fx.core);
  const delivery = new StreamDelivery(history, redis, fx.metrics, streamsMetrics, {
    id: 'test-instance',
  } as InstanceInfo);
  const publisher = new RealtimePublisher(
    fx.metrics,
    fx.adapterState,
    history,
    streamsMetrics,
    delivery,
    new ClusterPeers(),
  );
  return { fx, publisher, delivery };
}

describe(RealtimePublisher.name, () => {
  it('refuses with 503 until the gateway hands over its server', async () => {
    const { publisher } = memoryPublisher();
    await expect(
      publisher.publish({ event: 'portfolio:update', portfolioId: 'p1', data: {} }),
    ).rejects.toThrow(ServiceUnavailableException);
  });

  it('sends portfolio:update to the portfolio room with consecutive positions, and counts it', async () => {
    const { fx, publisher, delivery } = memoryPublisher();
    const { server, emitted } = fakeServer({ [portfolioRoom('p1')]: ['s1', 's2'], [userRoom('u1')]: ['s1'] });
    publisher.attach(server);
    delivery.attach(server);
    const first = await publisher.publish({ event: 'portfolio:update', portfolioId: 'p1', data: { v: 1 } });
    const second = await publisher.publish({ event: 'portfolio:update', portfolioId: 'p1', data: { v: 2 } });
    const epoch = first.result.positions['portfolio:p1'].epoch;
    expect(first.result).toEqual({
      event: 'portfolio:update',
      rooms: [portfolioRoom('p1')],
      delivered: 2,
      id: expect.any(String),
      positions: { 'portfolio:p1': { epoch: expect.any(String), offset: 1 } },
    });
    expect(second.result.positions).toEqual({ 'portfolio:p1': { epoch, offset: 2 } });
    expect(emitted[1]).toEqual({
      rooms: [portfolioRoom('p1')],
      event: 'portfolio:update',
      payload: {
        portfolioId: 'p1',
        data: { v: 2 },
        timestamp: expect.any(String),
        id: second.result.id,
        stream: 'portfolio:p1',
        position: { epoch, offset: 2 },
        positions: { 'portfolio:p1': { epoch, offset: 2 } },
      },
    });
    expect(await fx.value(REALTIME_METRIC.portfolioUpdatesPublished)).toBe(2);
    expect(await fx.value(REALTIME_METRIC.wsEventsSent, { event: 'portfolio:update' })).toBe(4);
  });

  it('gives a trade to a user and a portfolio a position in both streams, and delivers it once per socket', async () => {
    const { fx, publisher, delivery } = memoryPublisher();
    const { server, emitted } = fakeServer({
      [portfolioRoom('p1')]: ['s1', 's2'],
      [userRoom('u1')]: ['s1', 's3'],
    });
    publisher.attach(server);
    delivery.attach(server);
    const { result } = await publisher.publish({
      event: 'trade:executed',
      userId: 'u1',
      portfolioId: 'p1',
      data: {},
    });
    expect(result).toMatchObject({ rooms: [userRoom('u1'), portfolioRoom('p1')], delivered: 3 });
    expect(Object.keys(result.positions)).toEqual(['user:u1', 'portfolio:p1']);
    expect(emitted).toHaveLength(1);
    expect(emitted[0].payload).toMatchObject({ userId: 'u1', portfolioId: 'p1', stream: 'user:u1' });
    expect(await fx.value(REALTIME_METRIC.tradesPublished)).toBe(1);
  });

  it('answers a repeated Idempotency-Key with the first result and delivers nothing; another body is a 409', async () => {
    const { publisher, delivery } = memoryPublisher();
    const { server, emitted } = fakeServer({ [portfolioRoom('p1')]: ['s1'] });
    publisher.attach(server);
    delivery.attach(server);
    const dto = { event: 'portfolio:update' as const, portfolioId: 'p1', data: { v: 1 } };
    const first = await publisher.publish(dto, 'key-1');
    const again = await publisher.publish({ ...dto, data: { v: 1 } }, 'key-1');
    expect(first.repeated).toBe(false);
    expect(again).toEqual({ result: first.result, repeated: true });
    expect(emitted).toHaveLength(1);
    await expect(publisher.publish({ ...dto, data: { v: 2 } }, 'key-1')).rejects.toThrow(ConflictException);
    expect(emitted).toHaveLength(1);
    await publisher.publish(dto, 'key-2');
    expect(emitted).toHaveLength(2);
  });

  it('says degraded while the Redis adapter is attached but not connected', async () => {
    const { fx, publisher, delivery } = memoryPublisher();
    const { server } = fakeServer({});
    publisher.attach(server);
    delivery.attach(server);
    let connected = false;
    fx.adapterState.redisAttached(() => connected);
    const dto = { event: 'portfolio:update' as const, portfolioId: 'p1', data: {} };
    expect((await publisher.publish(dto)).result.degraded).toBe(true);
    connected = true;
    expect((await publisher.publish(dto)).result).not.toHaveProperty('degraded');
  });
});
