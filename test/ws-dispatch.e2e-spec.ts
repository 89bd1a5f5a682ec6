import { INestApplication } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { IoAdapter } from '@nestjs/platform-socket.io';
import { Test } from '@nestjs/testing';
import type { MessageMappingProperties } from '@nestjs/websockets';
import { io, Socket } from 'socket.io-client';
import { AppConfig } from '../src/config/app-config';
import { ErrorReporter } from '../src/error-tracking/error-reporter';
import { MetricsService } from '../src/metrics/metrics.service';
import { WsDispatcher } from '../src/realtime/dispatch/ws-dispatcher';
import { RealtimeExceptionFilter } from '../src/realtime/filters/ws-exception.filter';
import { WsLatencyInterceptor } from '../src/realtime/interceptors/ws-latency.interceptor';
import { CLIENT_EVENTS } from '../src/realtime/realtime.events';
import { ConnectionAdmission } from '../src/realtime/connection-admission';
import { RealtimeMetrics } from '../src/realtime/realtime.metrics';
import { RedisIoAdapter } from '../src/realtime/redis-io.adapter';
import { SocketAdapterState } from '../src/realtime/socket-adapter-state';
import type { RedisService } from '../src/redis/redis.service';
import {
  DispatchCasesGateway,
  Latch,
  UnfilteredCasesGateway,
  WrapInterceptor,
} from './fixtures/dispatch-cases.gateway';
import { createTestApp } from './utils/test-app';

/**
 * The direct dispatch (WsDispatcher through RedisIoAdapter.bindMessageHandlers) against Nest's default IoAdapter
 * pipeline: one gateway, one table of cases, both servers, and what a real socket.io-client sees must be the
 * same, down to which events arrive and which acks do not. "Nothing arrives" is proven by a `flush` ack sent
 * after the case, which the gateway answers only once every handler's async work settled.
 */

type PathName = 'nest' | 'fast';

interface Server {
  app: INestApplication;
  url: string;
  gateway: DispatchCasesGateway;
  metrics: { enabled: true; recordWsEvent: jest.Mock };
  reporter: { report: jest.Mock };
  adapter: IoAdapter;
  client: Socket;
}

interface Seen {
  acks: unknown[][];
  events: unknown[][];
  /** Outcome labels the latency interceptor recorded for the case's event. */
  outcomes: string[];
}

const INTERNAL = { ok: false, error: { code: 'INTERNAL', message: 'Internal error' } };
const refused = (message: string) => ({ ok: false, error: { code: 'INVALID_PAYLOAD', message } });
const nothing: Omit<Seen, 'outcomes'> = { acks: [], events: [] };

interface Row {
  name: string;
  event: string;
  args: unknown[];
  /** Send an ack callback (default true). */
  ack?: boolean;
  expected: Omit<Seen, 'outcomes'>;
  /** What the latency interceptor records; [] when it never runs (a guard refused first). */
  outcomes: string[];
}

const ROWS: Row[] = [
  {
    name: 'sync value',
    event: 'sync',
    args: [{ a: 1 }],
    expected: { acks: [[{ echo: { a: 1 } }]], events: [] },
    outcomes: ['ok'],
  },
  {
    name: 'sync value, no ack callback',
    event: 'sync',
    args: [{ a: 1 }],
    ack: false,
    expected: nothing,
    outcomes: ['ok'],
  },
  {
    name: 'no data argument',
    event: 'sync',
    args: [],
    expected: { acks: [[{}]], events: [] },
    outcomes: ['ok'],
  },
  {
    name: 'several data arguments arrive as one array',
    event: 'sync',
    args: [1, 'two'],
    expected: { acks: [[{ echo: [1, 'two'] }]], events: [] },
    outcomes: ['ok'],
  },
  {
    name: 'several data arguments, no ack',
    event: 'event',
    args: [1, 'two'],
    ack: false,
    expected: { acks: [], events: [['cases:pushed', [1, 'two']]] },
    outcomes: ['ok'],
  },
  {
    name: 'primitive value',
    event: 'primitive',
    args: [],
    expected: { acks: [[42]], events: [] },
    outcomes: ['ok'],
  },
  {
    name: 'Promise',
    event: 'promise',
    args: ['p'],
    expected: { acks: [[{ later: 'p' }]], events: [] },
    outcomes: ['ok'],
  },
  {
    name: 'Observable: every value delivered, Socket.IO sends the first ack only',
    event: 'observable',
    args: [],
    expected: {
      acks: [[{ first: true }]],
      events: [
        ['cases:item', 1],
        ['cases:item', 2],
      ],
    },
    outcomes: ['ok'],
  },
  {
    name: 'async Observable',
    event: 'observable-async',
    args: [],
    expected: { acks: [[{ tick: true }]], events: [] },
    outcomes: ['ok'],
  },
  { name: 'empty Observable', event: 'observable-empty', args: [], expected: nothing, outcomes: ['ok'] },
  {
    name: 'Promise of an Observable',
    event: 'promise-of-observable',
    args: [],
    expected: { acks: [[{ flattened: true }]], events: [] },
    outcomes: ['ok'],
  },
  { name: 'null: no ack', event: 'null', args: [], expected: nothing, outcomes: ['ok'] },
  { name: 'undefined: no ack', event: 'undefined', args: [], expected: nothing, outcomes: ['ok'] },
  {
    name: '{event, data}: emitted, not acked',
    event: 'event',
    args: ['x'],
    expected: { acks: [], events: [['cases:pushed', 'x']] },
    outcomes: ['ok'],
  },
  {
    name: '{event, data} without ack callback',
    event: 'event',
    args: ['x'],
    ack: false,
    expected: { acks: [], events: [['cases:pushed', 'x']] },
    outcomes: ['ok'],
  },
  {
    name: '@Ack(): the handler acks, the result does not',
    event: 'manual-ack',
    args: ['m'],
    expected: { acks: [[{ manual: 'm' }]], events: [] },
    outcomes: ['ok'],
  },
  {
    name: '@Ack() unused: no ack at all',
    event: 'manual-ack-unused',
    args: [],
    expected: nothing,
    outcomes: ['ok'],
  },
  {
    name: '@MessageBody(key) and @ConnectedSocket()',
    event: 'body-key',
    args: [{ id: 7 }],
    expected: { acks: [[{ id: 7, user: 'u1' }]], events: [] },
    outcomes: ['ok'],
  },
  {
    name: 'no parameter decorators: (client, data, ack)',
    event: 'default-params',
    args: ['d'],
    expected: { acks: [[{ connected: true, data: 'd', ackIsFunction: true }]], events: [] },
    outcomes: ['ok'],
  },
  {
    name: 'sync throw: the filter acks INTERNAL',
    event: 'throw',
    args: [],
    expected: { acks: [[INTERNAL]], events: [] },
    outcomes: ['error'],
  },
  {
    name: 'sync throw, no ack callback',
    event: 'throw',
    args: [],
    ack: false,
    expected: nothing,
    outcomes: ['error'],
  },
  {
    name: 'WsException: the filter acks its message',
    event: 'throw-ws',
    args: [],
    expected: { acks: [[refused('bad request from client')]], events: [] },
    outcomes: ['error'],
  },
  {
    name: 'throw with @Ack(): the filter still acks',
    event: 'throw-manual-ack',
    args: [],
    expected: { acks: [[INTERNAL]], events: [] },
    outcomes: ['error'],
  },
  {
    name: 'rejected Promise',
    event: 'reject',
    args: [],
    expected: { acks: [[INTERNAL]], events: [] },
    outcomes: ['error'],
  },
  {
    name: 'Observable error',
    event: 'observable-error',
    args: [],
    expected: { acks: [[INTERNAL]], events: [] },
    outcomes: ['error'],
  },
  {
    name: 'Observable value then error: the first ack wins',
    event: 'observable-value-then-error',
    args: [],
    expected: { acks: [[{ before: 'error' }]], events: [] },
    outcomes: ['error'],
  },
  {
    name: "no filter: Nest's default `exception` event",
    event: 'unfiltered-throw',
    args: ['u'],
    expected: {
      acks: [],
      events: [
        [
          'exception',
          {
            status: 'error',
            message: 'Internal server error',
            cause: { pattern: 'unfiltered-throw', data: 'u' },
          },
        ],
      ],
    },
    outcomes: [],
  },
  {
    name: "no filter, WsException: Nest's default `exception` event with its message",
    event: 'unfiltered-throw-ws',
    args: ['u'],
    expected: {
      acks: [],
      events: [
        [
          'exception',
          { status: 'error', message: 'nope', cause: { pattern: 'unfiltered-throw-ws', data: 'u' } },
        ],
      ],
    },
    outcomes: [],
  },
  {
    name: 'guard allows (Nest pipeline)',
    event: 'guarded',
    args: [{ allow: true }],
    expected: { acks: [[{ passed: { allow: true } }]], events: [] },
    outcomes: ['ok'],
  },
  {
    name: 'guard refuses (Nest pipeline)',
    event: 'guarded',
    args: [{ allow: false }],
    expected: { acks: [[refused('Forbidden resource')]], events: [] },
    outcomes: [],
  },
  {
    name: 'parameter pipe (Nest pipeline)',
    event: 'piped',
    args: ['12'],
    expected: { acks: [[{ n: 12 }]], events: [] },
    outcomes: ['ok'],
  },
  {
    name: 'parameter pipe refuses (Nest pipeline)',
    event: 'piped',
    args: ['x'],
    expected: { acks: [[INTERNAL]], events: [] },
    outcomes: ['error'],
  },
  {
    name: '@UsePipes (Nest pipeline)',
    event: 'method-pipes',
    args: ['5'],
    expected: { acks: [[{ n: 5 }]], events: [] },
    outcomes: ['ok'],
  },
  {
    name: 'other interceptor (Nest pipeline)',
    event: 'wrapped',
    args: ['w'],
    expected: { acks: [[{ wrapped: 'w' }]], events: [] },
    outcomes: ['ok'],
  },
];

const NEST_PATH_EVENTS = ['guarded', 'piped', 'method-pipes', 'wrapped'];

function connect(url: string, user: string): Promise<Socket> {
  const client = io(url, { transports: ['websocket'], reconnection: false, forceNew: true, auth: { user } });
  return new Promise((resolve, reject) => {
    client.once('connect', () => resolve(client));
    client.once('connect_error', reject);
  });
}

async function start(path: PathName): Promise<Server> {
  const metrics = { enabled: true as const, recordWsEvent: jest.fn() };
  const reporter = { report: jest.fn() };
  const config = AppConfig.from({ NODE_ENV: 'test', HOST: '127.0.0.1', WS_SLOW_EVENT_MS: '60000' });
  const moduleRef = await Test.createTestingModule({
    imports: [DiscoveryModule],
    providers: [
      DispatchCasesGateway,
      UnfilteredCasesGateway,
      WsLatencyInterceptor,
      RealtimeExceptionFilter,
      WsDispatcher,
      ConnectionAdmission,
      SocketAdapterState,
      { provide: AppConfig, useValue: config },
      { provide: RealtimeMetrics, useValue: metrics },
      { provide: ErrorReporter, useValue: reporter },
    ],
  }).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  // Nest 11 does not apply global enhancers to gateways, and the direct dispatch relies on that. These would
  // change every row's answer if a Nest release started applying them; then the dispatcher must learn them.
  app.useGlobalInterceptors(new WrapInterceptor());
  app.useGlobalGuards({ canActivate: () => false });
  app.useGlobalPipes({ transform: () => 'piped globally' });
  app.useGlobalFilters({ catch: () => undefined });
  const adapter =
    path === 'nest'
      ? new IoAdapter(app)
      : new RedisIoAdapter(
          app,
          config,
          { isConfigured: false } as RedisService,
          metrics as unknown as MetricsService,
          app.get(ConnectionAdmission),
          app.get(SocketAdapterState),
          app.get(WsDispatcher),
        );
  app.useWebSocketAdapter(adapter);
  await app.listen(0, '127.0.0.1');
  const url = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  return {
    app,
    url,
    gateway: app.get(DispatchCasesGateway),
    metrics,
    reporter,
    adapter,
    client: await connect(url, 'u1'),
  };
}

/** Sends one case and collects everything the client receives until the flush ack comes back. */
async function observe(server: Server, row: Row): Promise<Seen> {
  const { client } = server;
  const seen: Seen = { acks: [], events: [], outcomes: [] };
  const onAny = (event: string, ...args: unknown[]) => seen.events.push([event, ...args]);
  client.onAny(onAny);
  server.metrics.recordWsEvent.mockClear();
  if (row.ack === false) client.emit(row.event, ...row.args);
  else client.emit(row.event, ...row.args, (...ack: unknown[]) => seen.acks.push(ack));
  await expect(client.timeout(5000).emitWithAck('flush')).resolves.toBe('flushed');
  client.offAny(onAny);
  seen.outcomes = server.metrics.recordWsEvent.mock.calls
    .filter((c: unknown[]) => c[0] === row.event)
    .map((c: unknown[]) => c[2] as string);
  return seen;
}

/** Bounded: polls the server-side socket count every 5 ms for at most 2 s. */
async function serverSocketsDrop(server: Server, to: number): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (server.gateway.server.of('/').sockets.size <= to) return;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error('server never saw the disconnect');
}

describe('WebSocket dispatch: direct dispatch vs Nest pipeline', () => {
  const servers = {} as Record<PathName, Server>;
  const bound = new Map<object, Set<string>>();
  let bindSpy: jest.SpyInstance;

  beforeAll(async () => {
    // Records what reaches Nest's own binding (RedisIoAdapter calls it through super for the leftovers).
    const original = IoAdapter.prototype.bindMessageHandlers;
    bindSpy = jest.spyOn(IoAdapter.prototype, 'bindMessageHandlers').mockImplementation(function (
      this: IoAdapter,
      socket,
      handlers: MessageMappingProperties[],
      transform,
    ) {
      let set = bound.get(this);
      if (set === undefined) bound.set(this, (set = new Set()));
      for (const h of handlers) set.add(h.message as string);
      return original.call(this, socket, handlers, transform);
    });
    servers.nest = await start('nest');
    servers.fast = await start('fast');
  });

  afterAll(async () => {
    bindSpy.mockRestore();
    for (const server of Object.values(servers)) {
      server.client.disconnect();
      await server.app.close();
    }
  });

  it('binds only the handlers with guards, pipes or other interceptors through Nest, the rest directly', () => {
    const plans = servers.fast.app.get(WsDispatcher).routePlans;
    expect(
      Object.fromEntries([...plans].filter(([, p]) => p.path === 'nest').map(([k, p]) => [k, p])),
    ).toEqual({
      guarded: { path: 'nest', reason: 'guards' },
      piped: { path: 'nest', reason: 'pipes' },
      'method-pipes': { path: 'nest', reason: 'pipes' },
      wrapped: { path: 'nest', reason: 'interceptor without fast path' },
    });
    // Messages that reached Nest's own IoAdapter binding, per server.
    const viaNest = (path: PathName) => [...(bound.get(servers[path].adapter) ?? [])].sort();
    expect(viaNest('fast')).toEqual([...NEST_PATH_EVENTS].sort());
    expect(viaNest('nest')).toEqual(
      expect.arrayContaining(['sync', 'throw', 'unfiltered-throw', ...NEST_PATH_EVENTS]),
    );
  });

  it.each(ROWS)('$name', async (row) => {
    const nest = await observe(servers.nest, row);
    const fast = await observe(servers.fast, row);
    expect(fast).toEqual(nest);
    expect(nest).toEqual({ ...row.expected, outcomes: row.outcomes });
  });

  it('reports an unexpected error once on both paths, and a WsException on neither', async () => {
    for (const server of Object.values(servers)) {
      server.reporter.report.mockClear();
      await observe(
        server,
        ROWS.find((r) => r.event === 'throw')!,
      );
      await observe(
        server,
        ROWS.find((r) => r.event === 'throw-ws')!,
      );
      expect(server.reporter.report).toHaveBeenCalledTimes(1);
      expect(server.reporter.report).toHaveBeenCalledWith(expect.objectContaining({ message: 'boom' }), {
        kind: 'ws',
        event: 'throw',
        userId: 'u1',
        socketId: expect.any(String),
      });
    }
  });

  describe.each<PathName>(['nest', 'fast'])('results after the client disconnected (%s)', (path) => {
    it('a Promise settling after the disconnect sends nothing and is timed once', async () => {
      const server = servers[path];
      server.gateway.late = new Latch();
      const client = await connect(server.url, 'u2');
      const acks: unknown[] = [];
      const events: unknown[] = [];
      client.onAny((...args: unknown[]) => events.push(args));
      client.emit('late', {}, (a: unknown) => acks.push(a));
      // The emit is on the wire before the flush ack returns; then leave.
      await client.timeout(5000).emitWithAck('sync', null);
      server.metrics.recordWsEvent.mockClear();
      client.disconnect();
      await serverSocketsDrop(server, 1);
      server.gateway.late.resolve({ late: true });
      await expect(server.client.timeout(5000).emitWithAck('flush')).resolves.toBe('flushed');
      expect(acks).toEqual([]);
      expect(events).toEqual([]);
      const late = server.metrics.recordWsEvent.mock.calls.filter((c: unknown[]) => c[0] === 'late');
      expect(late.map((c: unknown[]) => c[2])).toEqual(['ok']);
    });

    it('a Promise rejecting after the disconnect sends nothing and never escapes', async () => {
      const server = servers[path];
      server.gateway.late = new Latch();
      const client = await connect(server.url, 'u2');
      const acks: unknown[] = [];
      client.emit('late', {}, (a: unknown) => acks.push(a));
      await client.timeout(5000).emitWithAck('sync', null);
      client.disconnect();
      await serverSocketsDrop(server, 1);
      server.gateway.late.reject(new Error('late boom'));
      await expect(server.client.timeout(5000).emitWithAck('flush')).resolves.toBe('flushed');
      expect(acks).toEqual([]);
      // fail-on-unhandled turns any escaped rejection into a failure of this test
    });

    it('an Observable still open at the disconnect is unsubscribed', async () => {
      const server = servers[path];
      const before = server.gateway.lateTornDown;
      const client = await connect(server.url, 'u3');
      const acks: unknown[] = [];
      client.emit('late-observable', {}, (a: unknown) => acks.push(a));
      await client.timeout(5000).emitWithAck('sync', null);
      expect(server.gateway.lateTornDown).toBe(before);
      client.disconnect();
      await serverSocketsDrop(server, 1);
      expect(server.gateway.lateTornDown).toBe(before + 1);
      server.gateway.lateSubject.next({ too: 'late' });
      await expect(server.client.timeout(5000).emitWithAck('flush')).resolves.toBe('flushed');
      expect(acks).toEqual([]);
    });
  });
});

describe('WebSocket dispatch of the real gateway', () => {
  it('runs every client event of RealtimeGateway on the direct dispatch', async () => {
    const t = await createTestApp();
    try {
      const plans = t.app.get(WsDispatcher).routePlans;
      expect(Object.fromEntries(plans)).toEqual({
        [CLIENT_EVENTS.SUBSCRIBE]: { path: 'fast' },
        [CLIENT_EVENTS.UNSUBSCRIBE]: { path: 'fast' },
        [CLIENT_EVENTS.USER_RESUME]: { path: 'fast' },
      });
    } finally {
      await t.close();
    }
  });
});
