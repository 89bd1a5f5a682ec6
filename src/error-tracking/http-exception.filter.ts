import { ArgumentsHost, Catch, HttpException, Injectable } from '@nestjs/common';
import { BaseExceptionFilter } from '@nestjs/core';
import type { Request } from 'express';
import { STATUS_CODES } from 'node:http';
import { REQUEST_ID_HEADER } from '../logging/request-id';
import { ErrorReporter } from './error-reporter';

/**
 * Reports unexpected HTTP errors (anything that is not an HttpException, i.e. what Nest turns into a 500) to
 * error tracking, then answers exactly as Nest's default handler does (same JSON, same logging). A deliberate
 * HttpException, 5xx included (a health check's 503), is an answer, not a bug, and is not reported.
 */
@Catch()
@Injectable()
export class ReportingExceptionFilter extends BaseExceptionFilter {
  constructor(private readonly reporter: ErrorReporter) {
    super();
  }

  override catch(thrown: unknown, host: ArgumentsHost): void {
    const exception = asClientHttpException(thrown);
    if (host.getType() === 'http' && !(exception instanceof HttpException)) {
      const req = host
        .switchToHttp()
        .getRequest<Request & { id?: unknown; user?: { id?: unknown; userId?: unknown } }>();
      const res = host.switchToHttp().getResponse<{ getHeader?: (name: string) => unknown }>();
      const route = (req.route as { path?: unknown } | undefined)?.path;
      const requestId = typeof req.id === 'string' ? req.id : res.getHeader?.(REQUEST_ID_HEADER);
      const userId = req.user?.userId ?? req.user?.id;
      this.reporter.report(exception, {
        kind: 'http',
        method: req.method,
        route: typeof route === 'string' ? route : undefined,
        requestId: typeof requestId === 'string' ? requestId : undefined,
        userId: typeof userId === 'string' ? userId : undefined,
      });
    }
    super.catch(exception, host);
  }
}

/**
 * Errors raised before a route runs by Express middleware (body-parser's invalid JSON 400, oversized body 413)
 * carry a 4xx `status` and are safe to show (`expose`). They are the client's mistake: answered as the
 * HttpException they mean, so they are neither logged as server errors nor reported.
 */
export function asClientHttpException(error: unknown): unknown {
  if (error instanceof HttpException || !(error instanceof Error)) return error;
  const e = error as Error & { status?: unknown; statusCode?: unknown; expose?: unknown };
  const status = typeof e.status === 'number' ? e.status : e.statusCode;
  if (typeof status !== 'number' || status < 400 || status > 499 || e.expose !== true) return error;
  return new HttpException({ statusCode: status, message: e.message, error: STATUS_CODES[status] }, status, {
    cause: error,
  });
}
