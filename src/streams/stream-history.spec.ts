import type { AppConfig } from '../config/app-config';
import type { MetricsService } from '../metrics/metrics.service';
import type { RedisService } from '../redis/redis.service';
import { StreamHistory } from './stream-history';
import type { StreamsMetrics } from './streams.metrics';

describe(StreamHistory.name, () => {
  afterEach(() => jest.useRealTimers());

  it('measures the Redis clock again every second until a sample is kept (a slow first round trip left publications without a deadline for 30 s)', async () => {
    jest.useFakeTimers({ now: 1_000_000 });
    let slow = true;
    const time = jest.fn(() => {
      // The first TIME answers after 100 ms: too slow a round trip to keep.
      if (slow) jest.setSystemTime(Date.now() + 100);
      slow = false;
      return Promise.resolve([String(Math.floor(Date.now() / 1000)), '0']);
    });
    const client = { status: 'ready', on: jest.fn(), defineCommand: jest.fn(), time };
    // The scripts and the clock use the publishing connection (createClient('socket.io-pub')).
    const redis = { client, isReady: true, createClient: () => client } as unknown as RedisService;
    const config = {
      streams: { historySize: 10, historyTtlMs: 60_000, idempotencyTtlMs: 60_000 },
      env: { SERVICE_NAME: 'spec' },
    } as unknown as AppConfig;
    const history = new StreamHistory(config, redis, {} as StreamsMetrics, {} as MetricsService);

    history.onModuleInit();
    await jest.advanceTimersByTimeAsync(0);
    expect(time).toHaveBeenCalledTimes(1);
    await jest.advanceTimersByTimeAsync(1000);
    expect(time).toHaveBeenCalledTimes(2);
    // Kept: back to the slow schedule.
    await jest.advanceTimersByTimeAsync(20_000);
    expect(time).toHaveBeenCalledTimes(2);
    await jest.advanceTimersByTimeAsync(10_000);
    expect(time).toHaveBeenCalledTimes(3);
    history.onApplicationShutdown();
  });
});
