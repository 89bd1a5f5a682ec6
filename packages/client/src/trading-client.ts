import { io, type ManagerOptions, type Socket, type SocketOptions } from 'socket.io-client';
import {
  PUBLICATION_EVENTS,
  SOCKET_EVENTS,
  portfolioStream,
  type PortfolioUpdateEvent,
  type PublicationEventName,
  type PublicationFields,
  type StreamPosition,
  type TradeExecutedEvent,
} from './contract';
import { StreamTracker, type ResyncEvent } from './stream-tracker';
import { TypedEmitter } from './typed-emitter';

/** A fixed token, or a function asked for a fresh one on every (re)connect. */
export type TokenSource = string | (() => string | Promise<string>);

export interface TradingClientOptions {
  /** The server's URL, e.g. `https://trading.example.com`. */
  url: string;
  token: TokenSource;
  /** Passed to socket.io-client's `io()` (`transports`, `reconnectionDelay`, ...); `auth` is the client's own. */
  socketOptions?: Partial<ManagerOptions & SocketOptions>;
  /** How long a subscribe, resume or token request may take. Default 10 000. */
  ackTimeoutMs?: number;
  /** How long `connect()` waits for the first connection. Default 20 000. */
  connectTimeoutMs?: number;
  /** Requests for the same missing range before the library gives up on it (resync). Default 3. */
  maxGapAttempts?: number;
  /** Events held behind a gap per stream before the gap is given up (resync). Default 10 000. */
  maxHeldPerStream?: number;
  /** Delivered publication ids remembered for de-duplication. Default 10 000. */
  maxRememberedIds?: number;
}

export interface ConnectedEvent {
  /** False on the first connection, true on every later one. */
  reconnect: boolean;
}

export interface DisconnectedEvent {
  /** socket.io-client's reason: `transport close`, `io server disconnect`, `ping timeout`, ... */
  reason: string;
  /** Whether the client will connect again by itself. */
  willReconnect: boolean;
}

/** The client's events; the type parameters type the `data` of the two publication events. */
export interface TradingClientEvents<PortfolioData = unknown, TradeData = unknown> {
  'portfolio:update': PortfolioUpdateEvent<PortfolioData>;
  'trade:executed': TradeExecutedEvent<TradeData>;
  /** Delivery of a stream could not stay gap-free: refetch its snapshot; events after `position` follow. */
  resync: ResyncEvent;
  connected: ConnectedEvent;
  disconnected: DisconnectedEvent;
  /** Refusals, failed requests and exceptions thrown by listeners. Never thrown at the caller. */
  error: Error;
}

export class TradingClientError extends Error {
  constructor(
    /** A server acknowledgement code (`FORBIDDEN`, ...) or the library's own (`ACK_TIMEOUT`, `CLOSED`, ...). */
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'TradingClientError';
  }
}

interface Waiter<T> {
  resolve: (value: T) => void;
  reject: (error: Error) => void;
}

interface PortfolioSubscription {
  portfolioId: string;
  stream: string;
  waiters: Array<Waiter<StreamPosition>>;
}

/** One stream's outstanding subscribe/resume request, and how often the same range was asked for. */
interface StreamRequest {
  inflight: boolean;
  again: boolean;
  key?: string;
  attempts: number;
}

interface StreamAnswer {
  stream?: unknown;
  position: StreamPosition;
  recovered?: boolean;
}

/** Refusals after which retrying cannot help. */
const FINAL_ACK_CODES = new Set(['FORBIDDEN', 'INVALID_PAYLOAD']);
const UNAUTHORIZED = 'unauthorized';

/**
 * The trading server's Socket.IO client: typed events, delivered once each and in order per stream, resumed
 * across reconnects, with `resync` when that cannot be guaranteed.
 */
export class TradingClient<PortfolioData = unknown, TradeData = unknown> extends TypedEmitter<
  TradingClientEvents<PortfolioData, TradeData>
> {
  private readonly socket: Socket;
  private readonly tracker: StreamTracker<PublicationEventName>;
  private readonly portfolios = new Map<string, PortfolioSubscription>();
  private readonly requests = new Map<string, StreamRequest>();
  private readonly connectWaiters: Array<Waiter<void>> = [];
  private readonly ackTimeoutMs: number;
  private readonly connectTimeoutMs: number;
  private readonly maxGapAttempts: number;
  private readonly reconnection: boolean;
  private readonly retryDelayMs: number;
  private readonly retryDelayMaxMs: number;
  private userStream?: string;
  /** Bumped on every disconnect: answers to requests of an earlier connection are ignored. */
  private generation = 0;
  private everConnected = false;
  private restarting = false;
  private closed = false;
  private retryTimer?: ReturnType<typeof setTimeout>;
  /** Requests to repeat once the server's history is reachable again. */
  private readonly laterTimers = new Set<ReturnType<typeof setTimeout>>();
  private retryAttempt = 0;

  constructor(private readonly options: TradingClientOptions) {
    super((error, event) => this.listenerFailed(error, event));
    this.ackTimeoutMs = options.ackTimeoutMs ?? 10_000;
    this.connectTimeoutMs = options.connectTimeoutMs ?? 20_000;
    this.maxGapAttempts = options.maxGapAttempts ?? 3;
    const socketOptions = options.socketOptions ?? {};
    this.reconnection = socketOptions.reconnection !== false;
    this.retryDelayMs = socketOptions.reconnectionDelay ?? 1_000;
    this.retryDelayMaxMs = socketOptions.reconnectionDelayMax ?? 5_000;
    this.tracker = new StreamTracker<PublicationEventName>(
      {
        deliver: (event, name) => this.deliver(name, event),
        resync: (event) => this.emit('resync', event),
        gap: (stream) => this.sync(stream),
      },
      { maxHeldPerStream: options.maxHeldPerStream, maxRememberedIds: options.maxRememberedIds },
    );
    this.socket = io(options.url, {
      forceNew: true,
      ...socketOptions,
      autoConnect: false,
      auth: (cb: (data: object) => void) => this.authenticate(cb),
    });
    this.bindSocket();
  }

  /** Connects (once connected, the client stays connected until close()); resolves on the first connection. */
  connect(): Promise<void> {
    if (this.closed) return Promise.reject(new TradingClientError('CLOSED', 'the client is closed'));
    if (this.socket.connected) return Promise.resolve();
    const connected = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        remove();
        reject(new TradingClientError('CONNECT_TIMEOUT', `not connected within ${this.connectTimeoutMs} ms`));
      }, this.connectTimeoutMs);
      const waiter: Waiter<void> = {
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      const remove = () => {
        const index = this.connectWaiters.indexOf(waiter);
        if (index >= 0) this.connectWaiters.splice(index, 1);
      };
      this.connectWaiters.push(waiter);
    });
    if (!this.socket.active) this.socket.connect();
    return connected;
  }

  /** Disconnects for good: no reconnect; pending promises reject with code CLOSED. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.generation++;
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    for (const timer of this.laterTimers) clearTimeout(timer);
    this.laterTimers.clear();
    const error = new TradingClientError('CLOSED', 'the client was closed');
    for (const waiter of this.connectWaiters.splice(0)) waiter.reject(error);
    for (const subscription of this.portfolios.values()) {
      for (const waiter of subscription.waiters.splice(0)) waiter.reject(error);
    }
    this.socket.disconnect();
  }

  get connected(): boolean {
    return this.socket.connected;
  }

  /**
   * Subscribes to a portfolio's updates; resolves with the stream's position once the server has acknowledged
   * (on the next connection if not connected now). Kept across reconnects, resumed from the last position.
   * Rejects with the server's code (FORBIDDEN, ...) if refused.
   */
  subscribePortfolio(portfolioId: string): Promise<StreamPosition> {
    if (this.closed) return Promise.reject(new TradingClientError('CLOSED', 'the client is closed'));
    const stream = portfolioStream(portfolioId);
    let subscription = this.portfolios.get(portfolioId);
    if (!subscription) {
      subscription = { portfolioId, stream, waiters: [] };
      this.portfolios.set(portfolioId, subscription);
      this.tracker.track(stream);
    } else {
      const position = this.tracker.position(stream);
      if (position && !this.requests.get(stream)?.inflight) return Promise.resolve(position);
    }
    const waiters = subscription.waiters;
    const acknowledged = new Promise<StreamPosition>((resolve, reject) => waiters.push({ resolve, reject }));
    this.sync(stream);
    return acknowledged;
  }

  /** Stops a portfolio's updates; its position is forgotten (a later subscribe starts fresh). */
  async unsubscribePortfolio(portfolioId: string): Promise<void> {
    const subscription = this.portfolios.get(portfolioId);
    if (!subscription) return;
    this.portfolios.delete(portfolioId);
    this.tracker.untrack(subscription.stream);
    this.requests.delete(subscription.stream);
    const error = new TradingClientError('UNSUBSCRIBED', `unsubscribed from ${portfolioId}`);
    for (const waiter of subscription.waiters.splice(0)) waiter.reject(error);
    if (!this.socket.connected) return;
    const ack = await this.request(SOCKET_EVENTS.UNSUBSCRIBE, { portfolioId });
    if (!isOk(ack)) throw ackError(ack, `portfolio:unsubscribe ${portfolioId}`);
  }

  /** The last delivered position of a stream (`portfolio:<id>`, `user:<id>`), if known. */
  position(stream: string): StreamPosition | undefined {
    return this.tracker.position(stream);
  }

  /** The user stream's name (`user:<id>`), known once the server has sent `user:stream`. */
  get userStreamName(): string | undefined {
    return this.userStream;
  }

  private bindSocket(): void {
    const socket = this.socket;
    socket.on('connect', () => this.onConnect());
    socket.on('disconnect', (reason) => this.onDisconnect(reason));
    socket.on('connect_error', (error) => this.onConnectError(error));
    socket.on(PUBLICATION_EVENTS.PORTFOLIO_UPDATE, (event: unknown) =>
      this.onPublication(PUBLICATION_EVENTS.PORTFOLIO_UPDATE, event),
    );
    socket.on(PUBLICATION_EVENTS.TRADE_EXECUTED, (event: unknown) =>
      this.onPublication(PUBLICATION_EVENTS.TRADE_EXECUTED, event),
    );
    socket.on(SOCKET_EVENTS.USER_STREAM, (payload: unknown) => this.onUserStream(payload));
    socket.on(SOCKET_EVENTS.SERVER_SHUTDOWN, () => this.onServerShutdown());
  }

  /** Handshake `auth`, built on every (re)connect: a fresh token, and where the user stream stopped. */
  private authenticate(cb: (data: object) => void): void {
    const generation = this.generation;
    this.resolveToken().then(
      (token) => {
        if (generation !== this.generation) return;
        const since = this.userStream ? this.tracker.position(this.userStream) : undefined;
        cb(since ? { token, since } : { token });
      },
      (error: unknown) => {
        if (generation !== this.generation || this.closed) return;
        this.report(
          new TradingClientError('TOKEN_UNAVAILABLE', 'the token function failed', { cause: error }),
        );
        this.socket.disconnect();
        this.scheduleRetry();
      },
    );
  }

  private async resolveToken(): Promise<string> {
    const source = this.options.token;
    if (typeof source === 'string') return source;
    const token = await withTimeout(Promise.resolve().then(source), this.ackTimeoutMs, 'the token function');
    if (typeof token !== 'string') throw new TypeError('the token function must return a string');
    return token;
  }

  private onConnect(): void {
    this.retryAttempt = 0;
    const reconnect = this.everConnected;
    this.everConnected = true;
    for (const waiter of this.connectWaiters.splice(0)) waiter.resolve();
    this.emit('connected', { reconnect });
    for (const subscription of this.portfolios.values()) this.sync(subscription.stream);
  }

  private onDisconnect(reason: string): void {
    this.generation++;
    for (const request of this.requests.values()) {
      request.inflight = false;
      request.again = false;
      request.attempts = 0;
      request.key = undefined;
    }
    // socket.io-client does not reconnect after the server disconnected the socket (an expired token, a
    // flood): the client does, after a backoff, with a fresh token.
    const serverSide = reason === 'io server disconnect';
    const willReconnect =
      !this.closed && (this.restarting || this.socket.active || (serverSide && this.reconnection));
    this.emit('disconnected', { reason, willReconnect });
    if (serverSide) this.scheduleRetry();
  }

  private onConnectError(error: Error): void {
    this.report(error);
    if (this.socket.active || this.closed) return; // socket.io-client retries transport failures itself
    // Refused by the server's middleware: socket.io-client stops here. A fixed token will not become valid;
    // anything else (a draining replica, a connection cap, a token function) is worth another try.
    const final = error.message === UNAUTHORIZED && typeof this.options.token === 'string';
    if (final || !this.reconnection) {
      for (const waiter of this.connectWaiters.splice(0)) waiter.reject(error);
      return;
    }
    this.scheduleRetry();
  }

  /** The replica is going away: reconnect now (to another replica) rather than after a transport-close backoff. */
  private onServerShutdown(): void {
    if (this.closed || !this.reconnection) return;
    this.restarting = true;
    try {
      this.socket.disconnect();
    } finally {
      this.restarting = false;
    }
    this.socket.connect();
  }

  private scheduleRetry(): void {
    if (this.closed || !this.reconnection || this.retryTimer) return;
    const ceiling = Math.min(this.retryDelayMaxMs, this.retryDelayMs * 2 ** Math.min(this.retryAttempt, 16));
    this.retryAttempt++;
    const delay = ceiling / 2 + (Math.random() * ceiling) / 2;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (!this.closed && !this.socket.active) this.socket.connect();
    }, delay);
  }

  private onPublication(name: PublicationEventName, event: unknown): void {
    if (typeof event !== 'object' || event === null) return;
    const publication = event as PublicationFields;
    // Without an id (a server older than stream positions) there is nothing to order or de-duplicate by.
    if (typeof publication.id !== 'string') this.deliver(name, publication);
    else this.tracker.ingest(publication, name);
  }

  private deliver(name: PublicationEventName, event: PublicationFields): void {
    // Nothing checks `data` against the application's types: the type parameters are the application's own
    // statement about what it publishes.
    if (name === PUBLICATION_EVENTS.PORTFOLIO_UPDATE)
      this.emit(name, event as PortfolioUpdateEvent<PortfolioData>);
    else this.emit(name, event as TradeExecutedEvent<TradeData>);
  }

  private onUserStream(payload: unknown): void {
    if (!isStreamAnswer(payload) || typeof payload.stream !== 'string') return;
    const stream = payload.stream;
    if (this.userStream !== stream) {
      if (this.userStream) {
        this.tracker.untrack(this.userStream);
        this.requests.delete(this.userStream);
      }
      this.userStream = stream;
      this.tracker.track(stream);
    }
    this.tracker.acknowledge(stream, payload);
    if (this.tracker.gapSince(stream)) this.sync(stream);
  }

  /**
   * Brings a stream up to date with one request at a time: the first portfolio subscribe (no `since`), the
   * re-subscribe after a reconnect, or a gap fill (`since` = last delivered). The same range asked for more than
   * maxGapAttempts times is given up (resync).
   */
  private sync(stream: string): void {
    if (this.closed || !this.socket.connected) return;
    let request = this.requests.get(stream);
    if (!request) this.requests.set(stream, (request = { inflight: false, again: false, attempts: 0 }));
    if (request.inflight) {
      request.again = true;
      return;
    }
    const since = this.tracker.position(stream);
    const portfolio = this.portfolioOf(stream);
    if (!portfolio && (stream !== this.userStream || !since)) return;
    const key = since ? `${since.epoch}:${since.offset}` : '';
    request.attempts = key === request.key ? request.attempts + 1 : 1;
    request.key = key;
    if (request.attempts > this.maxGapAttempts) {
      request.attempts = 0;
      request.key = undefined;
      if (since) {
        this.tracker.skipGap(stream, 'gap_unfilled');
      } else if (portfolio) {
        const error = new TradingClientError(
          'SUBSCRIBE_FAILED',
          `portfolio:subscribe ${portfolio.portfolioId} failed`,
        );
        for (const waiter of portfolio.waiters.splice(0)) waiter.reject(error);
        this.report(error);
      }
      return;
    }
    request.inflight = true;
    request.again = false;
    const generation = this.generation;
    const { portfolioId } = portfolio ?? {};
    const sent = portfolioId
      ? this.request(SOCKET_EVENTS.SUBSCRIBE, since ? { portfolioId, since } : { portfolioId })
      : this.request(SOCKET_EVENTS.USER_RESUME, { since });
    sent.then(
      (ack) => {
        if (generation !== this.generation || this.requests.get(stream) !== request) return;
        request.inflight = false;
        if (isHistoryUnavailable(ack)) {
          // Taken (the server joined the room) but answered without a position: its history store (Redis) is
          // unreachable. Not a failed attempt: ask again later, until a position comes.
          request.attempts = 0;
          request.key = undefined;
          this.askAgainLater(stream, request, generation);
          return;
        }
        this.onStreamAck(stream, ack);
        this.followUp(stream, request);
      },
      (error: unknown) => {
        if (generation !== this.generation || this.requests.get(stream) !== request) return;
        request.inflight = false;
        this.report(toError(error));
        this.followUp(stream, request);
      },
    );
  }

  private onStreamAck(stream: string, ack: unknown): void {
    const portfolio = this.portfolioOf(stream);
    if (!isOk(ack) || !isStreamAnswer(ack)) {
      const error = ackError(ack, portfolio ? `portfolio:subscribe ${portfolio.portfolioId}` : 'user:resume');
      this.report(error);
      if (portfolio && error.code && FINAL_ACK_CODES.has(error.code)) {
        for (const waiter of portfolio.waiters.splice(0)) waiter.reject(error);
        this.portfolios.delete(portfolio.portfolioId);
        this.tracker.untrack(stream);
        this.requests.delete(stream);
      }
      return;
    }
    this.tracker.acknowledge(stream, ack);
    const position = this.tracker.position(stream);
    if (portfolio && position) for (const waiter of portfolio.waiters.splice(0)) waiter.resolve(position);
  }

  private askAgainLater(stream: string, request: StreamRequest, generation: number): void {
    const timer = setTimeout(() => {
      this.laterTimers.delete(timer);
      if (this.closed || generation !== this.generation || this.requests.get(stream) !== request) return;
      this.sync(stream);
    }, this.retryDelayMs);
    this.laterTimers.add(timer);
  }

  /** After an answer (or a timeout): ask again while the stream still misses something, else start afresh. */
  private followUp(stream: string, request: StreamRequest): void {
    if (this.requests.get(stream) !== request) return;
    const pending = this.tracker.isTracked(stream) && !this.tracker.position(stream);
    if (request.again || pending || this.tracker.gapSince(stream)) {
      this.sync(stream);
    } else {
      request.attempts = 0;
      request.key = undefined;
    }
  }

  private portfolioOf(stream: string): PortfolioSubscription | undefined {
    for (const subscription of this.portfolios.values())
      if (subscription.stream === stream) return subscription;
    return undefined;
  }

  private request(event: string, payload: object): Promise<unknown> {
    return this.socket
      .timeout(this.ackTimeoutMs)
      .emitWithAck(event, payload)
      .catch((error: unknown) => {
        throw new TradingClientError('ACK_TIMEOUT', `${event}: no answer within ${this.ackTimeoutMs} ms`, {
          cause: error,
        });
      }) as Promise<unknown>;
  }

  private report(error: Error): void {
    this.emit('error', error);
  }

  private listenerFailed(error: unknown, event: keyof TradingClientEvents<PortfolioData, TradeData>): void {
    // An 'error' listener that throws has nowhere left to report to.
    if (event !== 'error') this.report(toError(error));
  }
}

function isOk(ack: unknown): boolean {
  return typeof ack === 'object' && ack !== null && (ack as { ok?: unknown }).ok === true;
}

/** An accepted request answered with `position: null`: the server cannot read the stream's history right now. */
function isHistoryUnavailable(ack: unknown): boolean {
  return isOk(ack) && (ack as { position?: unknown }).position === null;
}

function isStreamAnswer(value: unknown): value is StreamAnswer {
  if (typeof value !== 'object' || value === null) return false;
  const position = (value as { position?: unknown }).position;
  if (typeof position !== 'object' || position === null) return false;
  const { epoch, offset } = position as Partial<StreamPosition>;
  return typeof epoch === 'string' && typeof offset === 'number';
}

function ackError(ack: unknown, what: string): TradingClientError {
  const error = (ack as { error?: { code?: unknown; message?: unknown } } | null)?.error;
  const code = typeof error?.code === 'string' ? error.code : 'BAD_ANSWER';
  const message = typeof error?.message === 'string' ? `: ${error.message}` : '';
  return new TradingClientError(code, `${what} refused (${code})${message}`);
}

function toError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TradingClientError('TIMEOUT', `${what} took over ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
