import {
  CanActivate,
  ExecutionContext,
  Injectable,
  Logger,
  OnModuleInit,
  UnauthorizedException,
} from '@nestjs/common';
import type { Request, Response } from 'express';
import { AppConfig } from '../config/app-config';
import { credentialFromAuthorization, safeEqual } from '../common/constant-time';

/**
 * Guards the operator views (/metrics*, /alerts, /dashboard) with METRICS_TOKEN: a Bearer token, or HTTP basic
 * auth with the token as the password so a browser can open the dashboard. Open when the token is unset.
 * /health* is never guarded: the platform's health check must reach it.
 */
@Injectable()
export class MetricsAuthGuard implements CanActivate, OnModuleInit {
  private readonly logger = new Logger(MetricsAuthGuard.name);

  constructor(private readonly config: AppConfig) {}

  onModuleInit(): void {
    if (this.config.env.METRICS_TOKEN === undefined && this.config.isProduction) {
      this.logger.warn({
        message:
          'METRICS_TOKEN is not set: /metrics, /alerts and /dashboard are open to anyone who can reach the server',
      });
    }
  }

  canActivate(context: ExecutionContext): boolean {
    const token = this.config.env.METRICS_TOKEN;
    if (token === undefined) return true;
    const req = context.switchToHttp().getRequest<Request>();
    const given = credentialFromAuthorization(req.headers.authorization);
    if (given !== null && safeEqual(given, token)) return true;
    context
      .switchToHttp()
      .getResponse<Response>()
      .setHeader('WWW-Authenticate', 'Basic realm="metrics", charset="UTF-8"');
    throw new UnauthorizedException(
      'A valid METRICS_TOKEN is required (Bearer token or basic auth password)',
    );
  }
}
