import { CallHandler, ExecutionContext, Injectable, Logger, NestInterceptor } from '@nestjs/common';
import { finalize, Observable, tap } from 'rxjs';
import type { Socket } from 'socket.io';
import { AppConfig } from '../../config/app-config';
import { MetricsService } from '../../metrics/metrics.service';
import { WS_OUTCOMES } from '../realtime.events';

/**
 * Times every gateway event. `record()` is the one place a duration is reported (metrics plus the
 * `Slow WebSocket event` warning); the gateway's direct event dispatch calls it from a `finally`, and
 * `intercept()` does the same for any `@SubscribeMessage` handler from rxjs `finalize`, so failures are
 * timed too on either path.
 */
@Injectable()
export class WsLatencyInterceptor implements NestInterceptor {
  private readonly logger = new Logger('RealtimeGateway');
  private readonly slowMs: number;

  constructor(
    config: AppConfig,
    private readonly metrics: MetricsService,
  ) {
    this.slowMs = config.env.WS_SLOW_EVENT_MS;
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

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const start = performance.now();
    const ws = context.switchToWs();
    const event = ws.getPattern();
    const userId = (ws.getClient<Socket>().data as { userId?: string } | undefined)?.userId;
    let outcome: string = WS_OUTCOMES.OK;
    return next.handle().pipe(
      tap({ error: () => (outcome = WS_OUTCOMES.ERROR) }),
      finalize(() => this.record(event, userId, performance.now() - start, outcome)),
    );
  }
}
