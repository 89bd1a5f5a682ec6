import { Injectable } from '@nestjs/common';

/**
 * CONTRACT (alerts/Sentry work implements): the one place unexpected errors are reported to error tracking.
 * HTTP filters and the gateway's exception filter call it for unexpected errors only (never 4xx, WsException,
 * validation failures). A no-op when SENTRY_DSN is unset.
 */
export interface ErrorContext {
  kind: 'http' | 'ws' | 'process';
  route?: string;
  method?: string;
  event?: string;
  userId?: string;
  requestId?: string;
  socketId?: string;
}

@Injectable()
export class ErrorReporter {
  report(_error: unknown, _context: ErrorContext): void {}
}
