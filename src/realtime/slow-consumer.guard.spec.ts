import { Logger } from '@nestjs/common';
import { EventEmitter } from 'node:events';
import { Registry } from 'prom-client';
import type { Socket } from 'socket.io';
import { AppConfig } from '../config/app-config';
import { DisconnectCounter } from './disconnect-reasons';
import { SocketAdapterState } from './socket-adapter-state';
import { SlowConsumerGuard } from './slow-consumer.guard';
import { WsTrafficMetrics } from './ws-traffic.metrics';

const LIMIT = 262_144;
const HEARTBEAT_MS = 2000;

/** engine.io's Socket as the guard sees it: packet events, the WebSocket's bufferedAmount, close. */
class FakeEngine extends EventEmitter {
  readonly ws = { bufferedAmount: 0, terminate: jest.fn() };
  readonly transport = { name: 'websocket', socket: this.ws };
  readonly close = jest.fn();

  queue(type: string, data?: string): void {
    this.emit('packetCreate', { type, data });
  }

  flush(): void {
    this.emit('flush');
  }

  receive(type: string, data?: string): void {
    this.emit('packet', { type, data });
  }
}

function setup() {
  const config = AppConfig.from({
    NODE_ENV: 'test',
    WS_MAX_PENDING_BYTES: String(LIMIT),
    WS_PING_INTERVAL_MS: '1000',
    WS_PING_TIMEOUT_MS: '1000',
  });
  const registry = new Registry();
  const disconnects = new DisconnectCounter(registry, new SocketAdapterState());
  const traffic = new WsTrafficMetrics(registry, config);
  const guard = new SlowConsumerGuard(config, disconnects, traffic);
  const engine = new FakeEngine();
  // Socket.IO reports a server-side disconnect as `server namespace disconnect`; the counter attributes it.
  const emitter = new EventEmitter();
  const socket = Object.assign(emitter, {
    id: 'sock-1',
    data: { userId: 'u1' },
    conn: engine,
    disconnect: jest.fn((): boolean => emitter.emit('disconnect', 'server namespace disconnect')),
  });
  disconnects.watch(socket as unknown as Socket);
  guard.watch(socket as unknown as Socket);
  const count = async (reason: string) =>
    (await registry.getSingleMetricAsString('ws_disconnects_total'))
      .split('\n')
      .find((l) => l.startsWith(`ws_disconnects_total{reason="${reason}"}`))
      ?.split(' ')[1];
  return { engine, socket, count, traffic, registry };
}

/** Lets the microtask the guard queues after a pong run. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

describe(SlowConsumerGuard.name, () => {
  let warn: jest.SpyInstance;
  beforeEach(() => {
    warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
  });
  afterEach(() => {
    warn.mockRestore();
    jest.useRealTimers();
  });

  it('refuses a limit below four full-size events, naming the variable', () => {
    expect(() => AppConfig.from({ WS_MAX_PENDING_BYTES: '65536' })).toThrow(
      'WS_MAX_PENDING_BYTES must be at least 262144',
    );
  });

  it('starts both reasons at zero', async () => {
    const { count } = setup();
    expect(await count('slow_consumer')).toBe('0');
    expect(await count('blind_pong')).toBe('0');
  });

  it('leaves a socket alone whose output keeps leaving the buffer', () => {
    const { engine, socket } = setup();
    const event = 'x'.repeat(60_000);
    for (let i = 0; i < 100; i++) {
      engine.queue('message', event);
      engine.flush();
    }
    expect(socket.disconnect).not.toHaveBeenCalled();
    expect(warn).not.toHaveBeenCalled();
  });

  it('drops a socket once what waits in the writeBuffer passes the limit: logged once, counted, transport freed', async () => {
    const { engine, socket, count } = setup();
    const event = 'x'.repeat(60_000);
    for (let i = 0; i < 4; i++) engine.queue('message', event);
    expect(socket.disconnect).not.toHaveBeenCalled();
    engine.queue('message', event);
    expect(socket.disconnect).toHaveBeenCalledWith(true);
    expect(engine.close).toHaveBeenCalledWith(true);
    expect(engine.ws.terminate).toHaveBeenCalled();
    engine.queue('message', event);
    expect(socket.disconnect).toHaveBeenCalledTimes(1);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0][0]).toMatchObject({
      reason: 'slow_consumer',
      userId: 'u1',
      socketId: 'sock-1',
      pendingBytes: 5 * 60_001,
      maxPendingBytes: LIMIT,
    });
    expect(await count('slow_consumer')).toBe('1');
  });

  it("adds what the WebSocket still holds (bufferedAmount) to what waits in engine.io's buffer", () => {
    const { engine, socket } = setup();
    engine.ws.bufferedAmount = LIMIT - 100;
    engine.queue('message', 'x'.repeat(99));
    expect(socket.disconnect).not.toHaveBeenCalled();
    engine.queue('message', 'x');
    expect(socket.disconnect).toHaveBeenCalledTimes(1);
  });

  describe('traffic and backlog', () => {
    const value = async (registry: Registry, name: string) =>
      (await registry.getSingleMetricAsString(name))
        .split('\n')
        .find((l) => l.startsWith(`${name} `))
        ?.split(' ')[1];

    it('counts bytes and messages each way; pings and pongs are bytes, not messages', async () => {
      const { engine, registry } = setup();
      engine.queue('message', 'x'.repeat(99));
      engine.queue('message', 'y'.repeat(9));
      engine.queue('ping');
      engine.receive('message', 'z'.repeat(49));
      engine.receive('pong');
      expect(await value(registry, 'ws_bytes_sent_total')).toBe(String(100 + 10 + 1));
      expect(await value(registry, 'ws_messages_sent_total')).toBe('2');
      expect(await value(registry, 'ws_bytes_received_total')).toBe(String(50 + 1));
      expect(await value(registry, 'ws_messages_received_total')).toBe('1');
    });

    it('samples what each socket holds unsent, until it closes', async () => {
      const a = setup();
      const b = setup();
      // Both setups share nothing: sample each one's own sampler.
      a.engine.queue('message', 'x'.repeat(2047));
      a.engine.ws.bufferedAmount = 1000;
      expect(a.traffic.sample()).toMatchObject({ sockets: 1, totalBytes: 3048, maxBytes: 3048 });
      expect(await value(a.registry, 'ws_output_backlog_total_bytes')).toBe('3048');
      const buckets = await a.registry.getSingleMetricAsString('ws_output_backlog_bytes');
      expect(buckets).toContain('ws_output_backlog_bytes_count 1');
      expect(buckets).toContain('ws_output_backlog_bytes_bucket{le="1024"} 0');
      expect(buckets).toContain('ws_output_backlog_bytes_bucket{le="4096"} 1');
      a.engine.flush();
      a.engine.ws.bufferedAmount = 0;
      expect(a.traffic.sample()).toMatchObject({ sockets: 1, totalBytes: 0, maxBytes: 0 });
      a.engine.emit('close');
      expect(a.traffic.sample()).toMatchObject({ sockets: 0, totalBytes: 0 });
      expect(b.traffic.sample()).toMatchObject({ sockets: 1, totalBytes: 0 });
    });
  });

  describe('pongs', () => {
    beforeEach(() => jest.useFakeTimers({ doNotFake: ['queueMicrotask', 'nextTick', 'setImmediate'] }));

    it('counts a pong that answers a ping which left the buffer', async () => {
      const { engine, socket } = setup();
      for (let i = 0; i < 5; i++) {
        jest.advanceTimersByTime(1500);
        engine.queue('ping');
        engine.flush();
        engine.receive('pong');
        await settle();
      }
      expect(socket.disconnect).not.toHaveBeenCalled();
    });

    it('drops a socket kept alive only by unsolicited pongs, once pingInterval + pingTimeout have passed', async () => {
      const { engine, socket, count } = setup();
      jest.advanceTimersByTime(HEARTBEAT_MS - 100);
      engine.receive('pong');
      await settle();
      expect(socket.disconnect).not.toHaveBeenCalled();
      jest.advanceTimersByTime(200);
      engine.receive('pong');
      await settle();
      expect(socket.disconnect).toHaveBeenCalledTimes(1);
      expect(warn.mock.calls[0][0]).toMatchObject({ reason: 'blind_pong', userId: 'u1' });
      expect(await count('blind_pong')).toBe('1');
    });

    it('does not count a pong to a ping still waiting in the buffer', async () => {
      const { engine, socket } = setup();
      engine.queue('message', 'x'.repeat(1000));
      engine.queue('ping');
      jest.advanceTimersByTime(HEARTBEAT_MS + 1);
      engine.receive('pong');
      await settle();
      expect(socket.disconnect).toHaveBeenCalledTimes(1);
    });

    it('ignores every other packet', async () => {
      const { engine, socket } = setup();
      jest.advanceTimersByTime(HEARTBEAT_MS * 10);
      engine.receive('message');
      await settle();
      expect(socket.disconnect).not.toHaveBeenCalled();
    });
  });
});
