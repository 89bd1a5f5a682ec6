import { Injectable, Logger, NestMiddleware } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { AppConfig } from '../config/app-config';
import { redactUrl } from '../logging/log-redaction';
import { UNMATCHED_ROUTE } from './metric-names';
import { MetricsService } from './metrics.service';

/**
 * Times every HTTP request, from the moment it reaches the app until its response is finished (or the client
 * went away), into http_requests_total / http_request_duration_seconds and (health probes aside) the 60 s window
 * behind JSON /metrics and the HTTP alerts. A middleware rather
 * than an interceptor: interceptors never see 404s for unknown paths nor requests refused by a guard.
 *
 * The `route` label is the route pattern Express matched (`/dashboard/static/:file`), never the raw URL; a
 * request that matched no route is labelled `unmatched`, so random URLs cannot create series.
 */
@Injectable()
export class HttpMetricsMiddleware implements NestMiddleware {
  private readonly logger = new Logger('HttpMetrics');
  private readonly slowMs: number;
  private readonly debugEach: boolean;

  constructor(
    private readonly metrics: MetricsService,
    config: AppConfig,
  ) {
    this.slowMs = config.http.slowRequestMs;
    this.debugEach = !config.isProduction;
  }

  use(req: Request, res: Response, next: NextFunction): void {
    if (!this.metrics.enabled) return next();
    const started = performance.now();
    // Nest mounts middleware as a catch-all route, so req.route is already set here: that one is not a match.
    const ownRoute: unknown = req.route;
    // 'close' comes after 'finish' for a completed response and alone for an aborted one: one place records both.
    res.once('close', () => this.done(req, res, started, ownRoute));
    next();
  }

  private done(req: Request, res: Response, started: number, ownRoute: unknown): void {
    const durationMs = performance.now() - started;
    const route = routePattern(req, ownRoute);
    // A client that hung up before the response finished is counted as 499 (nginx's convention), not as success.
    const statusCode = res.writableFinished ? res.statusCode : 499;
    this.metrics.recordHttp(req.method, route, statusCode, durationMs);
    const duration = `${Math.round(durationMs)}ms`;
    if (durationMs > this.slowMs) {
      this.logger.warn({
        message: 'Slow request detected',
        method: req.method,
        url: redactUrl(req.originalUrl),
        duration,
        statusCode,
      });
    } else if (this.debugEach) {
      // pino-http already writes one line per request; this one adds the route pattern and the precise timing.
      this.logger.debug({ message: 'Request timed', method: req.method, route, statusCode, duration });
    }
  }
}

/** Root catch-alls are middleware mounts (Nest's, nestjs-pino's) or a 404 handler, never an endpoint worth a label. */
const CATCH_ALL = /^\/?(\*|\{\*)/;

/**
 * The matched route's pattern, including a mounted router's base path; `unmatched` when no endpoint matched
 * (req.route is unset, is still the middleware's own mount, or is a root catch-all).
 */
export function routePattern(req: Request, ownRoute?: unknown): string {
  const route: unknown = req.route;
  if (route === undefined || route === ownRoute) return UNMATCHED_ROUTE;
  const path = (route as { path?: unknown }).path;
  if (typeof path !== 'string' || CATCH_ALL.test(path)) return UNMATCHED_ROUTE;
  return `${req.baseUrl ?? ''}${path}` || '/';
}
