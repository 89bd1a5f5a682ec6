import { Logger, ServiceUnavailableException, UseFilters, UseInterceptors } from '@nestjs/common';
import {
  ConnectedSocket,
  MessageBody,
  OnGatewayInit,
  SubscribeMessage,
  WebSocketGateway,
  WebSocketServer,
} from '@nestjs/websockets';
import type { Server, Socket } from 'socket.io';
import { AppConfig } from '../config/app-config';
import { SystemUsageSampler } from '../common/system-usage';
import { ShutdownState } from '../lifecycle/shutdown-state';
import { ConnectionAdmission } from './connection-admission';
import { ConnectionRegistry } from './connection-registry';
import { parsePortfolioSubscription } from './dto/portfolio-subscription.dto';
import type { PublishEventDto } from './dto/publish-event.dto';
import { RealtimeExceptionFilter } from './filters/ws-exception.filter';
import { RealtimeMetrics } from './realtime.metrics';
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
  userRoom,
} from './realtime.events';
import { SocketIdentity, verifyAccessToken } from './socket-auth';
import { SocketEventGate } from './socket-event-gate';
import { originPolicy } from './socket-server.options';
import { SlowConsumerGuard } from './slow-consumer.guard';
import { SocketAdapterState } from './socket-adapter-state';
import { UserConnectionCap } from './user-connection-cap';

export interface PublishResult {
  event: PublishEventDto['event'];
  rooms: string[];
  /** Sockets on this instance that the event reached (other instances deliver to their own). */
  delivered: number;
  /** Present (true) when the Redis adapter is on but Redis is not connected: other instances may miss it. */
  degraded?: true;
}

const MAX_TIMER_MS = 2_147_483_647;

function invalid(message: string): Ack {
  return { ok: false, error: { code: ACK_CODES.INVALID_PAYLOAD, message } };
}

/**
 * The Socket.IO gateway: authenticates handshakes, keeps the connection registry, answers portfolio
 * subscriptions and delivers published events to rooms (on every replica through the Redis adapter).
 *
 * A client event is one `@SubscribeMessage` method: SocketEventGate admits it (rate limit, known event, one
 * payload), WsLatencyInterceptor times it and RealtimeExceptionFilter turns a throw into an ack. WsDispatcher
 * runs these handlers without Nest's per-event rxjs pipeline, with the same client-visible behaviour
 * (test/ws-dispatch.e2e-spec.ts).
 */
@WebSocketGateway()
@UseInterceptors(WsLatencyInterceptor)
@UseFilters(RealtimeExceptionFilter)
export class RealtimeGateway implements OnGatewayInit {
  private readonly logger = new Logger(RealtimeGateway.name);
  private readonly usage = new SystemUsageSampler();
  private readonly maxPerUser: number;
  private initialized = false;

  @WebSocketServer()
  server!: Server;

  constructor(
    private readonly config: AppConfig,
    private readonly metrics: RealtimeMetrics,
    private readonly shutdown: ShutdownState,
    private readonly gate: SocketEventGate,
    private readonly slowConsumers: SlowConsumerGuard,
    private readonly admission: ConnectionAdmission,
    private readonly userCap: UserConnectionCap,
    private readonly registry: ConnectionRegistry,
    private readonly adapterState: SocketAdapterState,
  ) {
    this.maxPerUser = config.env.WS_MAX_CONNECTIONS_PER_USER;
  }

  afterInit(server: Server): void {
    this.server = server;
    server.use((socket, next) => this.admit(socket, next));
    server.on('connection', (socket: Socket) => this.onConnection(socket));
    this.warnAboutConfiguration();
    this.initialized = true;
    this.metrics.markGatewayUp();
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
    });
    void socket.join(userRoom(userId));
    this.slowConsumers.watch(socket);
    this.gate.install(socket);
    expiry = this.scheduleExpiry(socket, identity.expiresAt);
  }

  @SubscribeMessage(CLIENT_EVENTS.SUBSCRIBE)
  subscribe(@MessageBody() payload: unknown, @ConnectedSocket() socket: Socket): Ack {
    const identity = socket.data as SocketIdentity;
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

  @SubscribeMessage(CLIENT_EVENTS.UNSUBSCRIBE)
  unsubscribe(@MessageBody() payload: unknown, @ConnectedSocket() socket: Socket): Ack {
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
    if (this.adapterState.degraded) result.degraded = true;
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

  private get redisAdapter(): boolean {
    return this.initialized && this.adapterState.redisEnabled;
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
