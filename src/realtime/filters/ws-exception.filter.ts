import { ArgumentsHost, Catch, Injectable, Logger, WsExceptionFilter } from '@nestjs/common';
import { WsException } from '@nestjs/websockets';
import type { Socket } from 'socket.io';
import { ErrorReporter } from '../../error-tracking/error-reporter';
import { ACK_CODES, Ack } from '../realtime.events';

const INTERNAL_ACK: Ack = Object.freeze({
  ok: false,
  error: Object.freeze({ code: ACK_CODES.INTERNAL, message: 'Internal error' }),
});

export interface WsErrorContext {
  event: string;
  userId?: string;
  socketId: string;
}

/**
 * Turns a handler's failure into an acknowledgement, so a client is never left waiting and the connection
 * survives. A WsException is the handler's own answer to the client; anything else is unexpected: logged once
 * with its stack (`WebSocket event error`), reported to error tracking, and answered with INTERNAL without
 * details. Nest's global exception filters are HTTP-only, hence this one, applied with `@UseFilters`.
 */
@Injectable()
@Catch()
export class RealtimeExceptionFilter implements WsExceptionFilter {
  private readonly logger = new Logger('RealtimeGateway');

  constructor(private readonly reporter: ErrorReporter) {}

  private toAck(err: unknown, ctx: WsErrorContext): Ack {
    if (err instanceof WsException) {
      const e = err.getError();
      const message = typeof e === 'string' ? e : 'Request refused';
      return { ok: false, error: { code: ACK_CODES.INVALID_PAYLOAD, message } };
    }
    const error = err instanceof Error ? err : new Error(String(err));
    this.logger.error({
      message: 'WebSocket event error',
      event: ctx.event,
      userId: ctx.userId,
      socketId: ctx.socketId,
      err: error,
    });
    try {
      this.reporter.report(error, {
        kind: 'ws',
        event: ctx.event,
        userId: ctx.userId,
        socketId: ctx.socketId,
      });
    } catch {
      // error tracking must never turn a handled error into an unhandled one
    }
    return INTERNAL_ACK;
  }

  /**
   * Nest never acks a thrown exception by itself; this does, through the handler's ack callback. Nest calls
   * filters with the arguments `[client, data, ack, pattern]` (ack undefined when the client sent none), so the
   * ack is argument 2; the last one is the pattern. The direct dispatch builds the same host and calls this too.
   */
  catch(exception: unknown, host: ArgumentsHost): void {
    const ws = host.switchToWs();
    const client = ws.getClient<Socket>();
    const ack = host.getArgByIndex<unknown>(2);
    const result = this.toAck(exception, {
      event: ws.getPattern(),
      userId: (client.data as { userId?: string } | undefined)?.userId,
      socketId: client.id,
    });
    if (typeof ack === 'function') (ack as (a: Ack) => void)(result);
  }
}
