import { Logger, ServiceUnavailableException } from '@nestjs/common';
import { OnGatewayInit, WebSocketGateway, WebSocketServer } from '@nestjs/websockets';
import type { Server, Socket } from 'socket.io';
import { AppConfig } from '../config/app-config';
import { SystemUsageSampler } from '../common/system-usage';
import { ShutdownState } from '../lifecycle/shutdown-state';
import { MetricsService, RealtimeStatsSource } from '../metrics/metrics.service';
import { socketAdapterState } from '../redis/redis-io.adapter';
import { ConnectionAdmission } from './connection-admission';
import { ConnectionRegistry } from './connection-registry';
import { parsePortfolioSubscription } from './dto/portfolio-subscription.dto';
import type { PublishEventDto } from './dto/publish-event.dto';
import { RealtimeExceptionFilter } from './filters/ws-exception.filter';
import { WsLatencyInterceptor } from './interceptors/ws-latency.interceptor';
import {
  Ack,
  ACK_CODES,
  CLIENT_EVENTS,
  CONNECT_ERRORS,
  portfolioRoom,
  REFUSAL_REASONS,
  RefusalReason,
  SERVER_EVENTS,
  UNKNOWN_EVENT_LABEL,
  userRoom,
  WS_OUTCOMES,
} from './realtime.events';
import { SocketIdentity, verifyAccessToken } from './socket-auth';
import { originPolicy } from './socket-server.options';
import { RATE, SocketRateLimiter } from './socket-rate-limiter';
import { SlowConsumerGuard } from './slow-consumer.guard';
import { UserConnectionCap } from './user-connection-cap';

type AckFn = (response: Ack) => void;
type Handler = (socket: Socket, identity: SocketIdentity, payload: unknown) => Ack;

export interface PublishResult {
  event: PublishEventDto['event'];
  rooms: string[];
  /** Sockets on this instance that the event reached (other instances deliver to their own). */
  delivered: number;
  /** Present (true) when the Redis adapter is on but Redis is not connected: other instances may miss it. */
  degraded?: true;
}

/** Stands in for the payload when a client sent more than one data argument. */
const EXTRA_ARGUMENTS = Symbol('extra arguments');
const MAX_TIMER_MS = 2_147_483_647;

const RATE_LIMITED_ACK: Ack = Object.freeze({
  ok: false,
  error: Object.freeze({ code: ACK_CODES.RATE_LIMITED }),
});

const OUTCOME_BY_CODE: Record<string, string> = {
  [ACK_CODES.INVALID_PAYLOAD]: WS_OUTCOMES.INVALID_PAYLOAD,
  [ACK_CODES.FORBIDDEN]: WS_OUTCOMES.FORBIDDEN,
  [ACK_CODES.RATE_LIMITED]: WS_OUTCOMES.RATE_LIMITED,
  [ACK_CODES.INTERNAL]: WS_OUTCOMES.ERROR,
};

function invalid(message: string): Ack {
  return { ok: false, error: { code: ACK_CODES.INVALID_PAYLOAD, message } };
}

/**
 * The Socket.IO gateway: authenticates handshakes, keeps the connection registry, answers portfolio
 * subscriptions and delivers published events to rooms (on every replica through the Redis adapter).
 *
 * Events are dispatched straight from one `onAny` listener per socket instead of through `@SubscribeMessage`:
 * Nest's per-event rxjs pipeline costs about 17 % of throughput on this stack (see FACTS), and this path is
 * the server's hot loop. Every event still goes through the same timing (WsLatencyInterceptor.record) and
 * error handling (RealtimeExceptionFilter.toAck) that the Nest pipeline would apply.
 */
@WebSocketGateway()
export class RealtimeGateway implements OnGatewayInit, RealtimeStatsSource {
  private readonly logger = new Logger(RealtimeGateway.name);
  private readonly registry = new ConnectionRegistry();
  private readonly usage = new SystemUsageSampler();
  private readonly handlers = new Map<unknown, Handler>();
  private readonly maxPerUser: number;
  private readonly rate: number;
  private readonly burst: number;
  private initialized = false;

  @WebSocketServer()
  server!: Server;

  constructor(
    private readonly config: AppConfig,
    private readonly metrics: MetricsService,
    private readonly shutdown: ShutdownState,
    private readonly latency: WsLatencyInterceptor,
    private readonly errors: RealtimeExceptionFilter,
    private readonly slowConsumers: SlowConsumerGuard,
    private readonly admission: ConnectionAdmission,
    private readonly userCap: UserConnectionCap,
  ) {
    this.maxPerUser = config.env.WS_MAX_CONNECTIONS_PER_USER;
    this.rate = config.env.WS_RATE_LIMIT;
    this.burst = config.env.WS_RATE_BURST;
    this.handlers.set(CLIENT_EVENTS.SUBSCRIBE, (socket, identity, payload) =>
      this.subscribe(socket, identity, payload),
    );
    this.handlers.set(CLIENT_EVENTS.UNSUBSCRIBE, (socket, identity, payload) =>
      this.unsubscribe(socket, payload),
    );
  }

  afterInit(server: Server): void {
    this.server = server;
    server.use((socket, next) => this.admit(socket, next));
    server.on('connection', (socket: Socket) => this.onConnection(socket));
    this.warnAboutConfiguration();
    this.initialized = true;
    this.metrics.setRealtimeSource(this);
    this.metrics.setConnections(0, 0);
  }

  /**
   * Socket.IO middleware: runs before any connection handler; refusals reach the client as `connect_error`.
   * The per-user cap is checked on this instance first (free), then across replicas (UserConnectionCap).
   */
  private admit(socket: Socket, next: (err?: Error) => void): void {
    const refusal = this.authenticate(socket);
    if (refusal !== undefined) return next(refusal);
    const { userId } = socket.data as SocketIdentity;
    this.userCap
      .admit(userId, socket)
      .then((admitted) =>
        next(
          admitted
            ? undefined
            : this.refuse(REFUSAL_REASONS.TOO_MANY_CONNECTIONS, CONNECT_ERRORS.TOO_MANY_CONNECTIONS, {
                userId,
                scope: 'cluster',
              }),
        ),
      )
      .catch((err: unknown) => this.logger.error({ message: 'WebSocket admission failed', err }));
  }

  private authenticate(socket: Socket): Error | undefined {
    if (this.shutdown.isDraining)
      return this.refuse(REFUSAL_REASONS.SHUTTING_DOWN, CONNECT_ERRORS.SHUTTING_DOWN);
    const auth = socket.handshake.auth as { token?: unknown } | undefined;
    const identity = verifyAccessToken(auth?.token, this.config.jwt);
    if (identity === null) return this.refuse(REFUSAL_REASONS.UNAUTHORIZED, CONNECT_ERRORS.UNAUTHORIZED);
    if (this.registry.countFor(identity.userId) >= this.maxPerUser)
      return this.refuse(REFUSAL_REASONS.TOO_MANY_CONNECTIONS, CONNECT_ERRORS.TOO_MANY_CONNECTIONS, {
        userId: identity.userId,
        scope: 'instance',
      });
    socket.data = identity;
    return undefined;
  }

  private refuse(reason: RefusalReason, message: string, fields?: Record<string, unknown>): Error {
    this.admission.refused(reason, fields);
    return new Error(message);
  }

  private onConnection(socket: Socket): void {
    const identity = socket.data as SocketIdentity;
    const { userId } = identity;
    // Two handshakes of one user can pass the middleware in the same tick; the registry has the last word.
    if (this.registry.add(userId, socket.id) > this.maxPerUser) {
      this.registry.remove(userId, socket.id);
      this.admission.refused(REFUSAL_REASONS.TOO_MANY_CONNECTIONS, { userId, scope: 'instance' });
      socket.disconnect(true);
      return;
    }
    // Cleanup first: anything below may disconnect the socket at once (an expiry timer armed in the past),
    // and a disconnect with no listener yet would leave this socket in the registry for good.
    let expiry: ReturnType<RealtimeGateway['scheduleExpiry']> | null = null;
    socket.once('disconnect', () => {
      if (expiry !== null) clearTimeout(expiry.timer);
      this.registry.remove(userId, socket.id);
      this.publishConnectionCounts();
    });
    void socket.join(userRoom(userId));
    this.slowConsumers.watch(socket);
    const limiter = SocketRateLimiter.perSecond(this.rate, this.burst, performance.now());
    socket.onAny((event: unknown, ...args: unknown[]) => {
      // Socket.IO appends the ack callback after whatever arguments the client sent.
      const n = args.length;
      const last = n > 0 ? args[n - 1] : undefined;
      const ack = typeof last === 'function' ? (last as AckFn) : undefined;
      const dataArgs = ack === undefined ? n : n - 1;
      const data = dataArgs === 0 ? undefined : dataArgs === 1 ? args[0] : EXTRA_ARGUMENTS;
      this.handleEvent(socket, identity, limiter, event, data, ack);
    });
    this.publishConnectionCounts();
    expiry = this.scheduleExpiry(socket, identity.expiresAt);
  }

  /** One client event: rate limit, dispatch, time, answer. Never throws into Socket.IO. */
  private handleEvent(
    socket: Socket,
    identity: SocketIdentity,
    limiter: SocketRateLimiter,
    event: unknown,
    payload: unknown,
    ack: AckFn | undefined,
  ): void {
    const start = performance.now();
    const handler = this.handlers.get(event);
    const label = handler === undefined ? UNKNOWN_EVENT_LABEL : (event as string);
    let result: Ack | undefined;
    let outcome: string = WS_OUTCOMES.OK;
    try {
      const decision = limiter.take(start);
      if (decision !== RATE.ALLOWED) {
        outcome = WS_OUTCOMES.RATE_LIMITED;
        result = RATE_LIMITED_ACK;
        if (decision === RATE.FLOODING) {
          this.logger.warn({
            message: 'WebSocket client disconnected for flooding',
            userId: identity.userId,
            socketId: socket.id,
          });
          socket.disconnect(true);
          return;
        }
      } else if (handler === undefined) {
        outcome = WS_OUTCOMES.IGNORED;
        return;
      } else {
        result =
          payload === EXTRA_ARGUMENTS
            ? invalid('send one payload object')
            : handler(socket, identity, payload);
        if (!result.ok) outcome = OUTCOME_BY_CODE[result.error.code] ?? WS_OUTCOMES.ERROR;
      }
    } catch (err) {
      outcome = WS_OUTCOMES.ERROR;
      result = this.errors.toAck(err, { event: label, userId: identity.userId, socketId: socket.id });
    } finally {
      this.latency.record(label, identity.userId, performance.now() - start, outcome);
    }
    if (ack !== undefined) {
      try {
        ack(result);
      } catch (err) {
        this.logger.debug({ message: 'WebSocket ack failed', event: label, socketId: socket.id, err });
      }
    }
  }

  private subscribe(socket: Socket, identity: SocketIdentity, payload: unknown): Ack {
    const parsed = parsePortfolioSubscription(payload);
    if (!parsed.ok) return invalid(parsed.message);
    const portfolioId = parsed.value;
    if (!identity.portfolios.has(portfolioId)) {
      return {
        ok: false,
        error: { code: ACK_CODES.FORBIDDEN, message: 'Not allowed to watch this portfolio' },
      };
    }
    void socket.join(portfolioRoom(portfolioId));
    this.metrics.recordSubscription('subscribe');
    return { ok: true, portfolioId };
  }

  private unsubscribe(socket: Socket, payload: unknown): Ack {
    const parsed = parsePortfolioSubscription(payload);
    if (!parsed.ok) return invalid(parsed.message);
    const portfolioId = parsed.value;
    const room = portfolioRoom(portfolioId);
    if (socket.rooms.has(room)) {
      void socket.leave(room);
      this.metrics.recordSubscription('unsubscribe');
    }
    return { ok: true, portfolioId };
  }

  /** Disconnects the socket when its token expires (timers are capped, so far expiries re-arm). */
  private scheduleExpiry(socket: Socket, expiresAt: number): { timer: NodeJS.Timeout } {
    const handle = { timer: undefined as unknown as NodeJS.Timeout };
    const arm = () => {
      const left = expiresAt - Date.now();
      if (left <= 0) {
        this.logger.debug({
          message: 'WebSocket token expired, disconnecting',
          userId: (socket.data as SocketIdentity).userId,
        });
        socket.disconnect(true);
        return;
      }
      handle.timer = setTimeout(arm, Math.min(left, MAX_TIMER_MS));
      handle.timer.unref();
    };
    arm();
    return handle;
  }

  /** Sends a server event to its rooms on every instance; returns how many sockets on this one it reached. */
  publish(dto: PublishEventDto): PublishResult {
    if (!this.initialized) throw new ServiceUnavailableException('WebSocket server not initialized');
    const rooms: string[] = [];
    const timestamp = new Date().toISOString();
    let payload: Record<string, unknown>;
    if (dto.event === SERVER_EVENTS.PORTFOLIO_UPDATE) {
      rooms.push(portfolioRoom(dto.portfolioId as string));
      payload = { portfolioId: dto.portfolioId, data: dto.data, timestamp };
    } else {
      if (dto.userId !== undefined) rooms.push(userRoom(dto.userId));
      if (dto.portfolioId !== undefined) rooms.push(portfolioRoom(dto.portfolioId));
      payload = {
        ...(dto.userId !== undefined ? { userId: dto.userId } : {}),
        ...(dto.portfolioId !== undefined ? { portfolioId: dto.portfolioId } : {}),
        data: dto.data,
        timestamp,
      };
    }
    const delivered = this.countLocalSockets(rooms);
    this.server.to(rooms).emit(dto.event, payload);
    this.metrics.recordPublished(dto.event);
    this.metrics.recordWsSent(dto.event, delivered);
    const result: PublishResult = { event: dto.event, rooms, delivered };
    if (socketAdapterState(this.server)?.degraded === true) result.degraded = true;
    return result;
  }

  /** Distinct sockets of this instance in any of the rooms. */
  private countLocalSockets(rooms: string[]): number {
    const local = this.server.of('/').adapter.rooms;
    if (rooms.length === 1) return local.get(rooms[0])?.size ?? 0;
    const seen = new Set<string>();
    for (const room of rooms) for (const id of local.get(room) ?? []) seen.add(id);
    return seen.size;
  }

  private publishConnectionCounts(): void {
    this.metrics.setConnections(this.registry.totalConnections, this.registry.uniqueUsers);
  }

  private get redisAdapter(): boolean {
    return this.initialized && socketAdapterState(this.server)?.redisEnabled === true;
  }

  getStats() {
    return {
      initialized: this.initialized,
      totalConnections: this.registry.totalConnections,
      uniqueUsers: this.registry.uniqueUsers,
      redisAdapter: this.redisAdapter,
      uptime: process.uptime(),
      memory: process.memoryUsage(),
      timestamp: new Date().toISOString(),
    };
  }

  getMetrics() {
    const mem = process.memoryUsage();
    return {
      websocket: {
        totalConnections: this.registry.totalConnections,
        uniqueUsers: this.registry.uniqueUsers,
        redisEnabled: this.redisAdapter,
      },
      system: {
        uptime: process.uptime(),
        memory: {
          heapUsed: mb(mem.heapUsed),
          heapTotal: mb(mem.heapTotal),
          rss: mb(mem.rss),
          external: mb(mem.external),
        },
        cpu: this.usage.sample().cpuPercent,
      },
      timestamp: new Date().toISOString(),
    };
  }

  private warnAboutConfiguration(): void {
    if (this.config.usingDevelopmentJwtSecret) {
      this.logger.warn({
        message:
          'JWT_SECRET is not set: using the fixed development secret; anyone can mint tokens. Never run like this in production',
      });
    }
    if (originPolicy(this.config).browserOriginsRefused) {
      this.logger.warn({
        message:
          'CORS_ORIGINS is not set in production: browser clients are refused; only clients without an Origin header (native, mobile, servers) can connect',
      });
    }
  }
}

function mb(bytes: number): string {
  return `${Math.round(bytes / 1024 / 1024)} MB`;
}
