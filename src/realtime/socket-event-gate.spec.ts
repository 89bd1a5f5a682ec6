import { Logger } from '@nestjs/common';
import type { Socket } from 'socket.io';
import { AppConfig } from '../config/app-config';
import type { WsDispatcher } from './dispatch/ws-dispatcher';
import type { WsLatencyInterceptor } from './interceptors/ws-latency.interceptor';
import { Registry } from 'prom-client';
import { DisconnectCounter } from './disconnect-reasons';
import { FLOOD_DISCONNECT_MS } from './realtime.events';
import { SocketAdapterState } from './socket-adapter-state';
import { SocketEventGate } from './socket-event-gate';

type Middleware = (args: unknown[], next: () => void) => void;

describe(SocketEventGate.name, () => {
  let now: number;
  let middleware: Middleware;
  let record: jest.Mock;
  let socket: {
    id: string;
    data: { userId: string };
    connected: boolean;
    disconnect: jest.Mock;
    use: jest.Mock;
  };
  let warn: jest.SpyInstance;

  const tick = () => new Promise((resolve) => process.nextTick(resolve));

  /** Sends one event through the gate; returns whether it reached the handlers and what was acked. */
  async function send(...args: unknown[]): Promise<{ admitted: boolean; acks: unknown[] }> {
    const acks: unknown[] = [];
    let admitted = false;
    middleware([...args, (a: unknown) => acks.push(a)], () => (admitted = true));
    await tick();
    return { admitted, acks };
  }

  beforeEach(() => {
    now = 1_000;
    jest.spyOn(performance, 'now').mockImplementation(() => now);
    warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    record = jest.fn();
    socket = {
      id: 's1',
      data: { userId: 'u1' },
      connected: true,
      disconnect: jest.fn(),
      use: jest.fn((fn: Middleware) => (middleware = fn)),
    };
    const config = AppConfig.from({ NODE_ENV: 'test', WS_RATE_LIMIT: '1', WS_RATE_BURST: '2' });
    const gate = new SocketEventGate(
      config,
      { record } as unknown as WsLatencyInterceptor,
      { handles: (e: unknown) => e === 'known' } as unknown as WsDispatcher,
      new DisconnectCounter(new Registry(), new SocketAdapterState()),
    );
    gate.install(socket as unknown as Socket);
  });
  afterEach(() => jest.restoreAllMocks());

  it('admits a known event with one payload and leaves timing to the handler', async () => {
    await expect(send('known', { a: 1 })).resolves.toEqual({ admitted: true, acks: [] });
    await expect(send('known')).resolves.toEqual({ admitted: true, acks: [] });
    expect(record).not.toHaveBeenCalled();
  });

  it('ignores an unknown event without answering, counted under `unknown`', async () => {
    await expect(send('nope', {})).resolves.toEqual({ admitted: false, acks: [] });
    expect(record).toHaveBeenCalledWith('unknown', 'u1', 0, 'ignored');
  });

  it('refuses several payload arguments', async () => {
    await expect(send('known', 1, 2)).resolves.toEqual({
      admitted: false,
      acks: [{ ok: false, error: { code: 'INVALID_PAYLOAD', message: 'send one payload object' } }],
    });
    expect(record).toHaveBeenCalledWith('known', 'u1', 0, 'invalid_payload');
  });

  it('answers RATE_LIMITED past the burst, for unknown events too, and admits again after a refill', async () => {
    await send('known', {});
    await send('nope', {});
    await expect(send('known', {})).resolves.toEqual({
      admitted: false,
      acks: [{ ok: false, error: { code: 'RATE_LIMITED' } }],
    });
    await send('nope', {});
    expect(record).toHaveBeenLastCalledWith('unknown', 'u1', 0, 'rate_limited');
    now += 1_000;
    await expect(send('known', {})).resolves.toMatchObject({ admitted: true });
  });

  it('answers a refusal after the events admitted before it in the same tick', () => {
    const order: string[] = [];
    // Socket.IO dispatches an admitted event on the next tick; the handler acks synchronously there.
    const dispatch = (name: string) => () => process.nextTick(() => order.push(name));
    middleware(['known', {}, () => undefined], dispatch('first'));
    middleware(['known', {}, () => undefined], dispatch('second'));
    middleware(['known', {}, () => order.push('refused')], dispatch('never'));
    return tick().then(() => expect(order).toEqual(['first', 'second', 'refused']));
  });

  it('disconnects a socket that keeps flooding, once, with a warning', async () => {
    socket.disconnect.mockImplementation(() => (socket.connected = false));
    // Every 100 ms, 2 s longer than FLOOD_DISCONNECT_MS: limited without a pause from the third event on.
    for (let i = 0; i < (FLOOD_DISCONNECT_MS + 2_000) / 100; i++) {
      await send('known', {});
      now += 100;
    }
    expect(socket.disconnect).toHaveBeenCalledTimes(1);
    expect(socket.disconnect).toHaveBeenCalledWith(true);
    expect(warn).toHaveBeenCalledWith({
      message: 'WebSocket client disconnected for flooding',
      userId: 'u1',
      socketId: 's1',
    });
  });
});
