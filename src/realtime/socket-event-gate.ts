import { Injectable, Logger } from '@nestjs/common';
import type { Socket } from 'socket.io';
import { AppConfig } from '../config/app-config';
import { WsDispatcher } from './dispatch/ws-dispatcher';
import { WsLatencyInterceptor } from './interceptors/ws-latency.interceptor';
import { DisconnectCounter } from './disconnect-reasons';
import { Ack, ACK_CODES, DISCONNECT_REASONS, UNKNOWN_EVENT_LABEL, WS_OUTCOMES } from './realtime.events';
import { RATE, SocketRateLimiter } from './socket-rate-limiter';

type AckFn = (response: Ack) => void;

interface Refusal {
  readonly outcome: string;
  /** Sent when the client asked for an ack. */
  readonly answer?: Ack;
  readonly disconnect?: true;
}

const REFUSALS = {
  flooding: { outcome: WS_OUTCOMES.RATE_LIMITED, disconnect: true },
  limited: {
    outcome: WS_OUTCOMES.RATE_LIMITED,
    answer: { ok: false, error: { code: ACK_CODES.RATE_LIMITED } },
  },
  unknown: { outcome: WS_OUTCOMES.IGNORED },
  extraArguments: {
    outcome: WS_OUTCOMES.INVALID_PAYLOAD,
    answer: { ok: false, error: { code: ACK_CODES.INVALID_PAYLOAD, message: 'send one payload object' } },
  },
} satisfies Record<string, Refusal>;

/**
 * What every client event passes before any handler: the socket's rate limit (a flooding socket is
 * disconnected), unknown events (counted as ignored, never dispatched) and the one-payload rule. It is a
 * Socket.IO middleware per socket, so a new `@SubscribeMessage` handler is covered without being listed here.
 * Refusals are timed and recorded like handled events, under the event's name (or `unknown`).
 *
 * Refusals are answered on the next tick: the events admitted before them are dispatched by Socket.IO on the
 * next tick too (FIFO), so answers keep arriving in the order the client sent the events, and a flood
 * disconnect does not drop an earlier event that is still on its way to its handler.
 */
@Injectable()
export class SocketEventGate {
  private readonly logger = new Logger('RealtimeGateway');
  private readonly rate: number;
  private readonly burst: number;

  constructor(
    config: AppConfig,
    private readonly latency: WsLatencyInterceptor,
    private readonly dispatcher: WsDispatcher,
    private readonly disconnects: DisconnectCounter,
  ) {
    this.rate = config.ws.rateLimitPerSecond;
    this.burst = config.ws.rateBurst;
  }

  install(socket: Socket): void {
    const limiter = SocketRateLimiter.perSecond(this.rate, this.burst, performance.now());
    socket.use((args, next) => {
      const start = performance.now();
      const known = this.dispatcher.handles(args[0]);
      // Socket.IO appends the ack callback after whatever arguments the client sent.
      const last: unknown = args[args.length - 1];
      const ack = typeof last === 'function' ? (last as AckFn) : undefined;
      const dataArgs = args.length - 1 - (ack === undefined ? 0 : 1);
      const decision = limiter.take(start);
      const refusal: Refusal | null =
        decision === RATE.FLOODING
          ? REFUSALS.flooding
          : decision === RATE.LIMITED
            ? REFUSALS.limited
            : !known
              ? REFUSALS.unknown
              : dataArgs > 1
                ? REFUSALS.extraArguments
                : null;
      if (refusal === null) {
        next();
        return;
      }
      const label = known ? args[0] : UNKNOWN_EVENT_LABEL;
      this.refuse(socket, label, start, refusal, ack);
    });
  }

  private refuse(
    socket: Socket,
    label: string,
    start: number,
    refusal: Refusal,
    ack: AckFn | undefined,
  ): void {
    const userId = (socket.data as { userId?: string } | undefined)?.userId;
    this.latency.record(label, userId, performance.now() - start, refusal.outcome);
    const { answer } = refusal;
    if (refusal.disconnect === true) {
      process.nextTick(() => {
        if (!socket.connected) return;
        this.logger.warn({
          message: 'WebSocket client disconnected for flooding',
          userId,
          socketId: socket.id,
        });
        this.disconnects.mark(socket, DISCONNECT_REASONS.FLOODING);
        socket.disconnect(true);
      });
    } else if (answer !== undefined && ack !== undefined) {
      process.nextTick(() => {
        try {
          ack(answer);
        } catch (err) {
          this.logger.debug({ message: 'WebSocket ack failed', event: label, socketId: socket.id, err });
        }
      });
    }
  }
}
