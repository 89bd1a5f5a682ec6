import { Logger } from '@nestjs/common';
import type { INestApplicationContext } from '@nestjs/common';
import type { DiscoveryService } from '@nestjs/core';
import { EventEmitter } from 'node:events';
import { Registry } from 'prom-client';
import { AppConfig } from '../config/app-config';
import { METRIC } from '../metrics/metric-names';
import { MetricsService } from '../metrics/metrics.service';
import type { RedisService } from '../redis/redis.service';
import { ConnectionAdmission } from './connection-admission';
import { RedisIoAdapter } from './redis-io.adapter';
import { SocketAdapterState } from './socket-adapter-state';

/** The part of an ioredis client the adapter touches before a server exists: status, events, commands, shutdown. */
class FakeRedis extends EventEmitter {
  status = 'ready';
  /** What Redis answers; the adapter wraps sendCommand, so tests steer this instead. */
  readonly answer = jest.fn((_command: { name: string }): unknown => Promise.resolve('OK'));
  sendCommand = (command: { name: string }): unknown => this.answer(command);
  readonly disconnect = jest.fn(() => {
    this.status = 'reconnecting';
  });
  readonly quit = jest.fn(() => {
    this.status = 'end';
    return Promise.resolve('OK');
  });
}

const flush = () => new Promise((resolve) => setImmediate(resolve));

describe(RedisIoAdapter.name, () => {
  const config = AppConfig.from({ NODE_ENV: 'test', WS_TRANSPORTS: 'websocket' });
  let registry: Registry;
  let metrics: MetricsService;
  let clients: Record<string, FakeRedis>;
  let createClient: jest.Mock;
  let logged: { error: jest.SpyInstance; log: jest.SpyInstance };

  beforeEach(() => {
    registry = new Registry();
    metrics = new MetricsService(registry, config, () => 0, {
      getProviders: () => [],
    } as unknown as DiscoveryService);
    clients = {};
    // RedisService is the one injectable that reaches Redis; the adapter must keep calling createClient(role, overrides).
    createClient = jest.fn((role: string) => (clients[role] = new FakeRedis()));
    logged = {
      error: jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined),
      log: jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined),
    };
    jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
  });
  afterEach(() => jest.restoreAllMocks());

  const adapter = (configured: boolean) =>
    new RedisIoAdapter(
      {} as INestApplicationContext,
      config,
      { isConfigured: configured, createClient } as unknown as RedisService,
      metrics,
      new ConnectionAdmission(config, {} as never),
      new SocketAdapterState(),
    );

  const publishErrors = async () =>
    (await registry.getSingleMetric(METRIC.internalErrors)!.get()).values.find(
      (v) => v.labels.kind === 'redis_adapter_publish',
    )?.value ?? 0;

  it('opens no Redis client without REDIS_URL', async () => {
    await adapter(false).connect(10);
    expect(createClient).not.toHaveBeenCalled();
  });

  it('gives the subscriber a queue and endless retries, and the publisher no re-sending after a reconnect', async () => {
    await adapter(true).connect(10);
    expect(createClient.mock.calls).toEqual([
      ['socket.io-pub', { autoResendUnfulfilledCommands: false }],
      ['socket.io-sub', { enableOfflineQueue: true, maxRetriesPerRequest: null, commandTimeout: undefined }],
    ]);
  });

  it('handles every rejected publish: counted each time, logged once per outage, recovery logged', async () => {
    await adapter(true).connect(10);
    const pub = clients['socket.io-pub'];
    pub.answer.mockImplementation(() => Promise.reject(new Error('Connection is closed.')));
    // What the Redis adapter does: call the command and drop the promise.
    for (let i = 0; i < 3; i++) void pub.sendCommand({ name: 'publish' });
    await flush();
    expect(await publishErrors()).toBe(3);
    expect(logged.error).toHaveBeenCalledTimes(1);

    pub.emit('ready');
    expect(logged.log).toHaveBeenCalledWith(
      expect.objectContaining({ message: 'Redis adapter publishing again' }),
    );
    void pub.sendCommand({ name: 'publish' });
    await flush();
    expect(logged.error).toHaveBeenCalledTimes(2);
  });

  it('starts a fresh publisher connection once when Redis accepts commands but stops answering', async () => {
    await adapter(true).connect(10);
    const pub = clients['socket.io-pub'];
    pub.answer.mockImplementation(() => Promise.reject(new Error('Command timed out')));
    void pub.sendCommand({ name: 'publish' });
    void pub.sendCommand({ name: 'publish' });
    await flush();
    expect(pub.disconnect).toHaveBeenCalledTimes(1);
    expect(pub.disconnect).toHaveBeenCalledWith(true);
  });

  it('quits both clients on dispose', async () => {
    const a = adapter(true);
    await a.connect(10);
    await a.dispose();
    expect(clients['socket.io-pub'].quit).toHaveBeenCalledTimes(1);
    expect(clients['socket.io-sub'].quit).toHaveBeenCalledTimes(1);
  });
});
