import { Logger, UseFilters, UseInterceptors } from '@nestjs/common';
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
import { parsePortfolioSubscription } from './dto/portfolio-subscription.dto';
import { RealtimeExceptionFilter } from './filters/ws-exception.filter';
import { DisconnectCounter } from './disconnect-reasons';
import { HandshakeAdmission } from './handshake-admission';
import { WsLatencyInterceptor } from './interceptors/ws-latency.interceptor';
import { Ack, ACK_CODES, CLIENT_EVENTS, portfolioRoom, userRoom } from './realtime.events';
import { RealtimeMetrics } from './realtime.metrics';
import { RealtimePublisher } from './realtime.publisher';
import type { SocketIdentity } from './socket-auth';
import { SocketEventGate } from './socket-event-gate';
import { originPolicy } from './socket-server.options';
import { SlowConsumerGuard } from './slow-consumer.guard';

function invalid(message: string): Ack {
  return { ok: false, error: { code: ACK_CODES.INVALID_PAYLOAD, message } };
}

/**
 * The Socket.IO gateway: the client events' handlers. The jobs around them are providers of their own:
 * HandshakeAdmission (token, per-user cap, expiry), SlowConsumerGuard, SocketEventGate, RealtimePublisher
 * (POST /events fan-out) and, outside Nest's module graph, RedisIoAdapter (the server and its Redis adapter).
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

  @WebSocketServer()
  server!: Server;

  constructor(
    private readonly config: AppConfig,
    private readonly metrics: RealtimeMetrics,
    private readonly admission: HandshakeAdmission,
    private readonly gate: SocketEventGate,
    private readonly slowConsumers: SlowConsumerGuard,
    private readonly publisher: RealtimePublisher,
    private readonly disconnects: DisconnectCounter,
  ) {}

  afterInit(server: Server): void {
    this.server = server;
    server.use(this.admission.middleware);
    server.on('connection', (socket: Socket) => this.onConnection(socket));
    this.warnAboutConfiguration();
    this.publisher.attach(server);
    this.metrics.markGatewayUp();
  }

  private onConnection(socket: Socket): void {
    if (!this.admission.admitConnected(socket)) return;
    this.disconnects.watch(socket);
    void socket.join(userRoom((socket.data as SocketIdentity).userId));
    this.slowConsumers.watch(socket);
    this.gate.install(socket);
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
