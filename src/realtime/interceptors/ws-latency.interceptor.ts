import { CallHandler, ExecutionContext, Injectable, Logger } from '@nestjs/common';
import { Observable } from 'rxjs';
import { AppConfig } from '../../config/app-config';
import {
  FAST_PATH_INTERCEPTOR,
  FastPathInterceptor,
  interceptWithHooks,
  WsCall,
  WsOutcome,
} from '../dispatch/fast-path';
import { ACK_CODES, WS_OUTCOMES } from '../realtime.events';
import { RealtimeMetrics } from '../realtime.metrics';

const OUTCOME_BY_CODE: Record<string, string> = {
  [ACK_CODES.INVALID_PAYLOAD]: WS_OUTCOMES.INVALID_PAYLOAD,
  [ACK_CODES.FORBIDDEN]: WS_OUTCOMES.FORBIDDEN,
  [ACK_CODES.RATE_LIMITED]: WS_OUTCOMES.RATE_LIMITED,
  [ACK_CODES.INTERNAL]: WS_OUTCOMES.ERROR,
};

/** The metrics outcome of a handler's answer: a refusal (`{ ok: false, error: { code } }`) is labelled by its code. */
export function ackOutcome(result: unknown): string {
  if (typeof result !== 'object' || result === null) return WS_OUTCOMES.OK;
  const { ok, error } = result as { ok?: unknown; error?: { code?: unknown } };
  if (ok !== false) return WS_OUTCOMES.OK;
  const code = error?.code;
  return (typeof code === 'string' ? OUTCOME_BY_CODE[code] : undefined) ?? WS_OUTCOMES.ERROR;
}

/**
 * Times every gateway event. `record()` is the one place a duration is reported (metrics plus the
 * `Slow WebSocket event` warning). `before()`/`after()` are what both dispatch paths run: the direct dispatch
 * calls them around the handler, and `intercept()` (Nest's pipeline) calls them through rxjs `finalize`, so
 * failures are timed too on either path.
 */
@Injectable()
export class WsLatencyInterceptor implements FastPathInterceptor<number> {
  readonly [FAST_PATH_INTERCEPTOR] = true as const;
  private readonly logger = new Logger('RealtimeGateway');
  private readonly slowMs: number;

  constructor(
    config: AppConfig,
    private readonly metrics: RealtimeMetrics,
  ) {
    this.slowMs = config.ws.slowEventMs;
  }

  record(event: string, userId: string | undefined, durationMs: number, outcome: string): void {
    if (!this.metrics.enabled) return;
    this.metrics.recordWsEvent(event, durationMs, outcome);
    if (durationMs > this.slowMs) {
      this.logger.warn({
        message: 'Slow WebSocket event',
        event,
        userId,
        duration: `${Math.round(durationMs)}ms`,
      });
    }
  }

  before(): number {
    return performance.now();
  }

  after(call: WsCall, start: number, outcome: WsOutcome): void {
    const userId = (call.client.data as { userId?: string } | undefined)?.userId;
    const label = outcome.failed ? WS_OUTCOMES.ERROR : ackOutcome(outcome.value);
    this.record(call.pattern, userId, performance.now() - start, label);
  }

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    return interceptWithHooks(this, context, next);
  }
}
