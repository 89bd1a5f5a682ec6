import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server, type Socket as ServerSocket } from 'socket.io';
import type { PublicationFields, StreamPosition } from './contract';
import type { ResyncEvent } from './stream-tracker';
import { TradingClient, TradingClientError, type TradingClientOptions } from './trading-client';

/**
 * A small in-process server that speaks the stream-positions contract: a history per stream, replay after
 * `since`, `user:stream` after the handshake, `server:shutdown`. Tests steer what it sends live, so they can
 * reorder, duplicate, lose and re-epoch publications.
 */
class FakeTradingServer {
  readonly auths: Array<{ token: string; since?: StreamPosition }> = [];
  readonly subscribes: Array<{ portfolioId: string; since?: StreamPosition }> = [];
  readonly resumes: StreamPosition[] = [];
  /** When false, subscribe/resume requests with `since` get no answer at all (a hung replica). */
  answerResumes = true;
  /** When true, subscribes are taken but answered with `position: null`, as while the server's Redis is down. */
  historyUnavailable = false;
  private readonly histories = new Map<
    string,
    { epoch: string; offset: number; firstKept: number; events: Map<number, Sent> }
  >();
  private nextId = 1;

  private constructor(
    readonly io: Server,
    private readonly http: HttpServer,
    readonly url: string,
  ) {
    io.use((socket, next) => {
      const auth = socket.handshake.auth as { token?: unknown; since?: StreamPosition };
      if (typeof auth.token !== 'string' || !auth.token.startsWith('good'))
        return next(new Error('unauthorized'));
      this.auths.push({ token: auth.token, ...(auth.since ? { since: auth.since } : {}) });
      next();
    });
    io.on('connection', (socket) => this.onConnection(socket));
  }

  static async start(): Promise<FakeTradingServer> {
    const http = createServer();
    const io = new Server(http, { transports: ['websocket'] });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    const { port } = http.address() as AddressInfo;
    return new FakeTradingServer(io, http, `http://127.0.0.1:${port}`);
  }

  async close(): Promise<void> {
    this.io.disconnectSockets(true);
    await this.io.close();
    if (this.http.listening) await new Promise<void>((resolve) => this.http.close(() => resolve()));
  }

  sockets(): ServerSocket[] {
    return [...this.io.sockets.sockets.values()];
  }

  /** Records a publication in every stream it belongs to; sends it to the rooms unless `live: false`. */
  publish(
    name: 'portfolio:update' | 'trade:executed',
    target: { portfolioId?: string; userId?: string },
    options: { live?: boolean } = {},
  ): Sent {
    const streams = [
      target.userId && `user:${target.userId}`,
      target.portfolioId && `portfolio:${target.portfolioId}`,
    ].filter((s): s is string => !!s);
    const positions: Record<string, StreamPosition> = {};
    for (const stream of streams) {
      const history = this.history(stream);
      positions[stream] = { epoch: history.epoch, offset: ++history.offset };
    }
    const payload: PublicationFields & { portfolioId?: string; userId?: string } = {
      id: `pub-${this.nextId++}`,
      ...target,
      data: { n: this.nextId },
      timestamp: new Date().toISOString(),
      stream: streams[0],
      position: positions[streams[0]],
      positions,
    };
    const sent = { name, payload };
    for (const stream of streams) this.history(stream).events.set(positions[stream].offset, sent);
    if (options.live !== false) this.io.to(streams).emit(name, payload);
    return sent;
  }

  /** Sends a publication again (or for the first time) to every socket, as it is. */
  send(...sent: Sent[]): void {
    for (const { name, payload } of sent) this.io.emit(name, payload);
  }

  /** The stream's history is reset (Redis lost it): a new epoch, offsets start again. */
  newEpoch(stream: string, epoch: string): void {
    this.histories.set(stream, { epoch, offset: 0, firstKept: 1, events: new Map() });
  }

  /** History before the stream's next offset is gone (trimmed): a resume from earlier cannot recover. */
  forgetHistory(stream: string): void {
    const history = this.history(stream);
    history.firstKept = history.offset + 1;
    history.events.clear();
  }

  position(stream: string): StreamPosition {
    const { epoch, offset } = this.history(stream);
    return { epoch, offset };
  }

  private history(stream: string) {
    let history = this.histories.get(stream);
    if (!history)
      this.histories.set(stream, (history = { epoch: 'e1', offset: 0, firstKept: 1, events: new Map() }));
    return history;
  }

  /** Sends what followed `since`; false when that history is gone. */
  private replay(
    socket: ServerSocket,
    stream: string,
    since: StreamPosition,
  ): { recovered: boolean; replayed: number } {
    const history = this.history(stream);
    if (since.epoch !== history.epoch || since.offset + 1 < history.firstKept)
      return { recovered: false, replayed: 0 };
    let replayed = 0;
    for (let offset = since.offset + 1; offset <= history.offset; offset++) {
      const sent = history.events.get(offset);
      if (!sent) continue;
      socket.emit(sent.name, { ...sent.payload, replayed: true });
      replayed++;
    }
    return { recovered: true, replayed };
  }

  private onConnection(socket: ServerSocket): void {
    const userStream = 'user:u1';
    void socket.join(userStream);
    const since = (socket.handshake.auth as { since?: StreamPosition }).since;
    const result = since ? this.replay(socket, userStream, since) : {};
    socket.emit('user:stream', { stream: userStream, position: this.position(userStream), ...result });

    socket.on(
      'portfolio:subscribe',
      (payload: { portfolioId: string; since?: StreamPosition }, ack: (a: unknown) => void) => {
        this.subscribes.push(payload);
        if (payload.portfolioId === 'secret') return ack({ ok: false, error: { code: 'FORBIDDEN' } });
        if (payload.since && !this.answerResumes) return;
        const stream = `portfolio:${payload.portfolioId}`;
        void socket.join(stream);
        if (this.historyUnavailable) {
          const resumed = payload.since ? { recovered: false, replayed: 0 } : {};
          return ack({ ok: true, portfolioId: payload.portfolioId, stream, position: null, ...resumed });
        }
        const replay = payload.since ? this.replay(socket, stream, payload.since) : {};
        ack({
          ok: true,
          portfolioId: payload.portfolioId,
          stream,
          position: this.position(stream),
          ...replay,
        });
      },
    );
    socket.on('portfolio:unsubscribe', (payload: { portfolioId: string }, ack: (a: unknown) => void) => {
      void socket.leave(`portfolio:${payload.portfolioId}`);
      ack({ ok: true, portfolioId: payload.portfolioId });
    });
    socket.on('user:resume', (payload: { since: StreamPosition }, ack: (a: unknown) => void) => {
      this.resumes.push(payload.since);
      if (!this.answerResumes) return;
      const result = this.replay(socket, userStream, payload.since);
      ack({ ok: true, stream: userStream, position: this.position(userStream), ...result });
    });
  }
}

interface Sent {
  name: 'portfolio:update' | 'trade:executed';
  payload: PublicationFields;
}

/** Polls until the condition holds; fails with `what` after `timeoutMs`. */
async function waitFor(what: string, condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** The promise's value, or a failure naming `what` after `timeoutMs`. */
async function within<T>(what: string, promise: Promise<T>, timeoutMs = 5_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

const P = 'portfolio:p1';
const U = 'user:u1';

describe(TradingClient.name, () => {
  let server: FakeTradingServer;
  let client: TradingClient;
  /** Everything the application saw, in order: `<id>` for events, `resync:<stream>:<reason>:<epoch>:<offset>`. */
  let log: string[];
  let errors: Error[];

  beforeEach(async () => {
    server = await FakeTradingServer.start();
    log = [];
    errors = [];
  });

  afterEach(async () => {
    client?.close();
    await server.close();
  });

  function start(options: Partial<TradingClientOptions> = {}): TradingClient {
    client = new TradingClient({
      url: server.url,
      token: 'good',
      ackTimeoutMs: 2_000,
      ...options,
      socketOptions: {
        transports: ['websocket'],
        reconnectionDelay: 20,
        reconnectionDelayMax: 50,
        ...options.socketOptions,
      },
    });
    client.on('portfolio:update', (event) => log.push(event.id));
    client.on('trade:executed', (event) => log.push(event.id));
    client.on('resync', (e: ResyncEvent) =>
      log.push(`resync:${e.stream}:${e.reason}:${e.position.epoch}:${e.position.offset}`),
    );
    client.on('error', (error) => errors.push(error));
    return client;
  }

  /** Connected, user stream known, subscribed to p1. */
  async function ready(options: Partial<TradingClientOptions> = {}): Promise<TradingClient> {
    start(options);
    await client.connect();
    await waitFor('the user stream', () => client.position(U) !== undefined);
    await client.subscribePortfolio('p1');
    return client;
  }

  /** A live publication the client must deliver next: proves everything sent before it was handled. */
  async function barrier(): Promise<string> {
    const { payload } = server.publish('portfolio:update', { portfolioId: 'p1' });
    await waitFor(`barrier ${payload.id}`, () => log.includes(payload.id));
    return payload.id;
  }

  it('a subscribe answered without a position (the server cannot read its history) holds, is asked again, and resolves once a position comes', async () => {
    start();
    await client.connect();
    server.historyUnavailable = true;
    const subscribing = client.subscribePortfolio('p1');
    await waitFor('the subscribe asked again', () => server.subscribes.length >= 5);
    server.historyUnavailable = false;
    await expect(within('the subscribe', subscribing)).resolves.toEqual({ epoch: 'e1', offset: 0 });
    expect(server.subscribes.every((s) => s.since === undefined)).toBe(true);
    await barrier();
    expect(errors).toEqual([]);
    expect(log.filter((entry) => entry.startsWith('resync'))).toEqual([]);
  });

  it('subscribes without since first, adopts the acknowledged position and delivers live events', async () => {
    server.publish('portfolio:update', { portfolioId: 'p1' }, { live: false });
    server.publish('portfolio:update', { portfolioId: 'p1' }, { live: false });
    await ready();
    expect(server.subscribes).toEqual([{ portfolioId: 'p1' }]);
    expect(client.position(P)).toEqual({ epoch: 'e1', offset: 2 });
    const id = await barrier();
    expect(log).toEqual([id]);
    expect(client.position(P)).toEqual({ epoch: 'e1', offset: 3 });
  });

  it('puts out-of-order events back in order, each once', async () => {
    await ready();
    const [a, b, c] = [1, 2, 3].map(() =>
      server.publish('portfolio:update', { portfolioId: 'p1' }, { live: false }),
    );
    server.send(b, c, a);
    const last = await barrier();
    expect(log).toEqual([a.payload.id, b.payload.id, c.payload.id, last]);
  });

  it('drops duplicates without asking for anything', async () => {
    await ready();
    const a = server.publish('portfolio:update', { portfolioId: 'p1' });
    server.send(a, a);
    const b = server.publish('portfolio:update', { portfolioId: 'p1' });
    server.send(b, a);
    const last = await barrier();
    expect(log).toEqual([a.payload.id, b.payload.id, last]);
    expect(server.subscribes).toHaveLength(1);
  });

  it('fills a gap by re-subscribing with since and delivers the replay in order', async () => {
    await ready();
    const a = server.publish('portfolio:update', { portfolioId: 'p1' });
    const lost = server.publish('portfolio:update', { portfolioId: 'p1' }, { live: false });
    const c = server.publish('portfolio:update', { portfolioId: 'p1' });
    await waitFor('the replay', () => log.length === 3);
    const last = await barrier();
    expect(log).toEqual([a.payload.id, lost.payload.id, c.payload.id, last]);
    expect(server.subscribes[1]).toEqual({ portfolioId: 'p1', since: { epoch: 'e1', offset: 1 } });
  });

  it('fills a gap in the user stream with user:resume', async () => {
    await ready();
    const a = server.publish('trade:executed', { userId: 'u1' });
    const lost = server.publish('trade:executed', { userId: 'u1' }, { live: false });
    const c = server.publish('trade:executed', { userId: 'u1' });
    await waitFor('the replay', () => log.length === 3);
    expect(log).toEqual([a.payload.id, lost.payload.id, c.payload.id]);
    expect(server.resumes).toEqual([{ epoch: 'e1', offset: 1 }]);
    expect(client.position(U)).toEqual({ epoch: 'e1', offset: 3 });
  });

  it('raises resync when the gap cannot be filled, then continues from the adopted position', async () => {
    await ready();
    const a = server.publish('portfolio:update', { portfolioId: 'p1' });
    await waitFor('the first event', () => log.length === 1);
    server.publish('portfolio:update', { portfolioId: 'p1' }, { live: false });
    server.forgetHistory(P);
    server.publish('portfolio:update', { portfolioId: 'p1' });
    await waitFor('the resync', () => log.length === 2);
    const last = await barrier();
    expect(log).toEqual([a.payload.id, `resync:${P}:not_recovered:e1:3`, last]);
  });

  it('raises resync when the epoch changes and delivers the new epoch in order', async () => {
    await ready();
    const a = server.publish('portfolio:update', { portfolioId: 'p1' });
    await waitFor('the first event', () => log.length === 1);
    server.newEpoch(P, 'e2');
    const [b, c] = [1, 2].map(() =>
      server.publish('portfolio:update', { portfolioId: 'p1' }, { live: false }),
    );
    server.send(b, c);
    const last = await barrier();
    expect(log).toEqual([a.payload.id, `resync:${P}:epoch_changed:e2:0`, b.payload.id, c.payload.id, last]);
    expect(client.position(P)).toEqual({ epoch: 'e2', offset: 3 });
  });

  it('delivers a trade in both the user and the portfolio stream once, and advances both', async () => {
    await ready();
    const t = server.publish('trade:executed', { userId: 'u1', portfolioId: 'p1' }, { live: false });
    // As two replicas would: once to each room.
    server.io.to(U).emit(t.name, t.payload);
    server.io.to(P).emit(t.name, { ...t.payload, stream: P, position: t.payload.positions?.[P] });
    const last = await barrier();
    expect(log).toEqual([t.payload.id, last]);
    expect(client.position(U)).toEqual({ epoch: 'e1', offset: 1 });
    expect(client.position(P)).toEqual({ epoch: 'e1', offset: 2 });
  });

  it('delivers an unpositioned event at once; its positioned copy is dropped but advances the stream', async () => {
    await ready();
    const t = server.publish('portfolio:update', { portfolioId: 'p1' }, { live: false });
    const { stream: _s, position: _p, positions: _ps, ...bare } = t.payload;
    server.io.emit(t.name, { ...bare, unpositioned: true });
    await waitFor('the unpositioned event', () => log.length === 1);
    server.send(t);
    const last = await barrier();
    expect(log).toEqual([t.payload.id, last]);
    expect(client.position(P)).toEqual({ epoch: 'e1', offset: 2 });
  });

  it('a gap request that is never answered does not wedge the stream: retries, then resync', async () => {
    await ready({ ackTimeoutMs: 100, maxGapAttempts: 2 });
    server.answerResumes = false;
    const a = server.publish('portfolio:update', { portfolioId: 'p1' });
    server.publish('portfolio:update', { portfolioId: 'p1' }, { live: false });
    const c = server.publish('portfolio:update', { portfolioId: 'p1' });
    await waitFor('the resync', () => log.length === 3);
    expect(log).toEqual([a.payload.id, `resync:${P}:gap_unfilled:e1:2`, c.payload.id]);
    expect(server.subscribes.filter((s) => s.since)).toHaveLength(2);
    expect(errors.some((e) => e instanceof TradingClientError && e.code === 'ACK_TIMEOUT')).toBe(true);
  });

  it('after a dropped connection, reconnects with a fresh token and resumes every stream with since', async () => {
    let tokens = 0;
    await ready({ token: async () => `good-${++tokens}` });
    const a = server.publish('trade:executed', { userId: 'u1', portfolioId: 'p1' });
    await waitFor('the first event', () => log.length === 1);
    const reconnected = new Promise<boolean>((resolve) =>
      client.once('connected', (e) => resolve(e.reconnect)),
    );
    const disconnected = new Promise<string>((resolve) =>
      client.once('disconnected', (e) => resolve(e.reason)),
    );
    server.sockets()[0].conn.close();
    expect(await within('the disconnect', disconnected)).toBe('transport close');
    // Published while the client is away: only a resume can bring these.
    const b = server.publish('portfolio:update', { portfolioId: 'p1' });
    const c = server.publish('trade:executed', { userId: 'u1' });
    expect(await within('the reconnect', reconnected)).toBe(true);
    await waitFor('the replays', () => log.length === 3);
    const last = await barrier();
    expect(log.slice(0, 3).sort()).toEqual([a.payload.id, b.payload.id, c.payload.id].sort());
    expect(log.slice(1, 3).sort()).toEqual([b.payload.id, c.payload.id].sort());
    expect(log[3]).toBe(last);
    expect(server.auths.map((auth) => auth.token)).toEqual(['good-1', 'good-2']);
    expect(server.auths[1].since).toEqual({ epoch: 'e1', offset: 1 });
    expect(server.subscribes.at(-1)).toEqual({ portfolioId: 'p1', since: { epoch: 'e1', offset: 1 } });
  });

  it('on server:shutdown reconnects at once instead of after the backoff, and resumes', async () => {
    // A backoff this long would make the wait below time out.
    await ready({ socketOptions: { reconnectionDelay: 30_000, reconnectionDelayMax: 30_000 } });
    const a = server.publish('portfolio:update', { portfolioId: 'p1' });
    await waitFor('the first event', () => log.length === 1);
    const reconnected = new Promise<boolean>((resolve) =>
      client.once('connected', (e) => resolve(e.reconnect)),
    );
    const socket = server.sockets()[0];
    socket.emit('server:shutdown', { reconnect: true });
    socket.conn.close();
    expect(await within('the reconnect', reconnected)).toBe(true);
    await waitFor('the re-subscribe', () => server.subscribes.length === 2);
    expect(server.subscribes[1]).toEqual({ portfolioId: 'p1', since: { epoch: 'e1', offset: 1 } });
    expect(server.auths).toHaveLength(2);
    const last = await barrier();
    expect(log).toEqual([a.payload.id, last]);
  });

  it('reconnects after a server-side disconnect, which socket.io-client alone would not', async () => {
    await ready();
    const reconnected = new Promise<boolean>((resolve) =>
      client.once('connected', (e) => resolve(e.reconnect)),
    );
    const disconnected = new Promise<{ reason: string; willReconnect: boolean }>((resolve) =>
      client.once('disconnected', resolve),
    );
    server.sockets()[0].disconnect(true);
    expect(await within('the disconnect', disconnected)).toEqual({
      reason: 'io server disconnect',
      willReconnect: true,
    });
    expect(await within('the reconnect', reconnected)).toBe(true);
    await waitFor('the re-subscribe', () => server.subscribes.length === 2);
    expect(server.subscribes[1]).toEqual({ portfolioId: 'p1', since: { epoch: 'e1', offset: 0 } });
  });

  it('a failing token function is reported and retried, not left hanging', async () => {
    let calls = 0;
    start({
      connectTimeoutMs: 3_000,
      token: () => {
        if (++calls === 1) throw new Error('token service down');
        return 'good';
      },
    });
    await client.connect();
    expect(calls).toBe(2);
    expect(errors.some((e) => e instanceof TradingClientError && e.code === 'TOKEN_UNAVAILABLE')).toBe(true);
  });

  it('rejects a refused subscription with the server code and forgets it', async () => {
    await ready();
    await expect(client.subscribePortfolio('secret')).rejects.toMatchObject({ code: 'FORBIDDEN' });
    expect(client.position('portfolio:secret')).toBeUndefined();
  });

  it('unsubscribes: the position is forgotten', async () => {
    await ready();
    await client.unsubscribePortfolio('p1');
    expect(client.position(P)).toBeUndefined();
  });

  it('connect() rejects when a fixed token is refused', async () => {
    start({ token: 'bad' });
    await expect(client.connect()).rejects.toThrow('unauthorized');
  });
});
