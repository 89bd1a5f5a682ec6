import { BeforeApplicationShutdown, Logger, UseFilters, UseInterceptors } from '@nestjs/common';
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
import { parsePortfolioSubscription, parsePosition } from './dto/portfolio-subscription.dto';
import { RealtimeExceptionFilter } from './filters/ws-exception.filter';
import { DisconnectCounter } from './disconnect-reasons';
import { HandshakeAdmission } from './handshake-admission';
import { WsLatencyInterceptor } from './interceptors/ws-latency.interceptor';
import {
  Ack,
  ACK_CODES,
  CLIENT_EVENTS,
  CONTROL_EVENTS,
  portfolioRoom,
  type StreamAck,
  userRoom,
} from './realtime.events';
import { RealtimeMetrics } from './realtime.metrics';
import { RealtimePublisher } from './realtime.publisher';
import type { SocketIdentity } from './socket-auth';
import { SocketEventGate } from './socket-event-gate';
import { originPolicy } from './socket-server.options';
import { SlowConsumerGuard } from './slow-consumer.guard';
import { type ResumeAnswer, StreamDelivery } from './stream-delivery';

/** The stream part of an ack (and of `user:stream`): `recovered` only when the client asked to resume. */
function streamAck(stream: string, answer: ResumeAnswer): StreamAck {
  const ack: StreamAck = { stream, position: answer.position };
  if (answer.result !== 'position') {
    ack.recovered = answer.result === 'recovered';
    ack.replayed = answer.replayed;
  }
  return ack;
}

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
export class RealtimeGateway implements OnGatewayInit, BeforeApplicationShutdown {
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
    private readonly delivery: StreamDelivery,
  ) {}

  afterInit(server: Server): void {
    this.server = server;
    server.use(this.admission.middleware);
    server.on('connection', (socket: Socket) => this.onConnection(socket));
    this.warnAboutConfiguration();
    this.publisher.attach(server);
    this.delivery.attach(server);
    this.metrics.markGatewayUp();
  }

  private onConnection(socket: Socket): void {
    if (!this.admission.admitConnected(socket)) return;
    this.disconnects.watch(socket);
    this.slowConsumers.watch(socket);
    this.gate.install(socket);
    // Joins the user's room at once (live events are held until the resume is done), then says where the
    // stream stands: replayed events (handshake `since`) come before this `user:stream` event.
    const identity = socket.data as SocketIdentity;
    const stream = userRoom(identity.userId);
    this.delivery
      .resume(socket, stream, identity.userSince ?? null, true)
      .then((answer) => {
        if (socket.connected) socket.emit(CONTROL_EVENTS.USER_STREAM, streamAck(stream, answer));
      })
      .catch((err: unknown) => this.logger.error({ message: 'User stream resume failed', err }));
  }

  /**
   * Before the server closes this instance's sockets (shutdown): tells every client to reconnect at once, to
   * another replica, and resume. Sent on this instance only.
   */
  beforeApplicationShutdown(): void {
    this.server?.local.emit(CONTROL_EVENTS.SERVER_SHUTDOWN, { reconnect: true });
  }

  /**
   * Joins the portfolio's stream and answers with its position; with `since`, first sends what was published
   * after it (docs/socket-contract.md#resume).
   */
  @SubscribeMessage(CLIENT_EVENTS.SUBSCRIBE)
  subscribe(@MessageBody() payload: unknown, @ConnectedSocket() socket: Socket): Ack | Promise<Ack> {
    const identity = socket.data as SocketIdentity;
    const parsed = parsePortfolioSubscription(payload, true);
    if (!parsed.ok) return invalid(parsed.message);
    const { portfolioId, since } = parsed.value;
    if (!identity.portfolios.has(portfolioId)) {
      return {
        ok: false,
        error: { code: ACK_CODES.FORBIDDEN, message: 'Not allowed to watch this portfolio' },
      };
    }
    const stream = portfolioRoom(portfolioId);
    // Answered synchronously when it can be (no `since`, history in memory): the common subscribe stays cheap.
    const position = since === null ? this.delivery.subscribeNow(socket, stream) : null;
    if (position !== null) {
      this.metrics.recordSubscription('subscribe');
      return { ok: true, portfolioId, stream, position };
    }
    return this.delivery
      .resume(socket, stream, since, true)
      .then((answer) => this.subscribed(portfolioId, stream, answer));
  }

  private subscribed(portfolioId: string, stream: string, answer: ResumeAnswer): Ack {
    this.metrics.recordSubscription('subscribe');
    return { ok: true, portfolioId, ...streamAck(stream, answer) };
  }

  /** Resumes the user stream on a live connection, to fill a gap (events already received may come again). */
  @SubscribeMessage(CLIENT_EVENTS.USER_RESUME)
  async resumeUser(@MessageBody() payload: unknown, @ConnectedSocket() socket: Socket): Promise<Ack> {
    if (typeof payload !== 'object' || payload === null || Array.isArray(payload))
      return invalid('payload must be an object like {"since": {"epoch": "...", "offset": 12}}');
    for (const key in payload) if (key !== 'since') return invalid(`unexpected field "${key.slice(0, 32)}"`);
    const since = parsePosition((payload as { since?: unknown }).since ?? null);
    if (!since.ok) return invalid(since.message);
    if (since.value === null) return invalid('since is required');
    const stream = userRoom((socket.data as SocketIdentity).userId);
    return { ok: true, ...streamAck(stream, await this.delivery.resume(socket, stream, since.value, false)) };
  }

  @SubscribeMessage(CLIENT_EVENTS.UNSUBSCRIBE)
  unsubscribe(@MessageBody() payload: unknown, @ConnectedSocket() socket: Socket): Ack {
    const parsed = parsePortfolioSubscription(payload);
    if (!parsed.ok) return invalid(parsed.message);
    const { portfolioId } = parsed.value;
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
