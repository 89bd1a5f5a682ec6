import {
  HttpException,
  Injectable,
  NestMiddleware,
  PayloadTooLargeException,
  ServiceUnavailableException,
  UnauthorizedException,
  UnsupportedMediaTypeException,
} from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { bearerToken, safeEqual } from '../common/constant-time';
import { AppConfig } from '../config/app-config';
import { markRejected, Rejection, REJECTIONS } from '../logging/request-rejection';
import { PUBLISH_BODY_LIMIT_BYTES } from './realtime.events';

/**
 * Everything POST /events can decide from its headers alone, decided before a single body byte is read:
 * publishing disabled (503), a missing or wrong token (401), a body that is not JSON (415), a declared length
 * over the limit (413). Reading first and checking the token after let any unauthenticated client hold a
 * connection for as long as it cared to trickle a body.
 *
 * Each refusal closes the connection once answered: the unread body is left on the wire rather than read and
 * thrown away, which is what Node would otherwise do to keep the connection alive.
 */
@Injectable()
export class PublishPrecheckMiddleware implements NestMiddleware {
  constructor(private readonly config: AppConfig) {}

  use(req: Request, res: Response, next: NextFunction): void {
    const refusal = this.refusal(req);
    if (refusal === null) return next();
    refuseAndClose(res, refusal.reason);
    next(refusal.exception);
  }

  private refusal(req: Request): { reason: Rejection; exception: HttpException } | null {
    const token = this.config.env.PUBLISH_TOKEN;
    if (token === undefined) {
      return {
        reason: REJECTIONS.PUBLISHING_DISABLED,
        exception: new ServiceUnavailableException(
          'Publishing is disabled: PUBLISH_TOKEN is not set on this server',
        ),
      };
    }
    const authorization = req.headers.authorization;
    const given = bearerToken(authorization);
    if (given === null || !safeEqual(given, token)) {
      return {
        reason: REJECTIONS.UNAUTHORIZED,
        exception: new UnauthorizedException('A valid PUBLISH_TOKEN bearer token is required'),
      };
    }
    if (hasBody(req) && !isJsonContentType(req.headers['content-type'])) {
      return {
        reason: REJECTIONS.UNSUPPORTED_MEDIA_TYPE,
        exception: new UnsupportedMediaTypeException('Content-Type must be application/json'),
      };
    }
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > PUBLISH_BODY_LIMIT_BYTES) {
      return {
        reason: REJECTIONS.BODY_TOO_LARGE,
        exception: new PayloadTooLargeException(`The body must not exceed ${PUBLISH_BODY_LIMIT_BYTES} bytes`),
      };
    }
    return null;
  }
}

/** Marks the request as refused (logged at warn with the reason) and closes the connection after the answer. */
export function refuseAndClose(res: Response, reason: Rejection): void {
  markRejected(res, reason);
  if (!res.headersSent) res.setHeader('Connection', 'close');
}

/** As body-parser decides it: a body is coming when it is chunked or declares a non-zero length. */
function hasBody(req: Request): boolean {
  return req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
}

/**
 * `application/json`, optionally with a charset parameter, nothing else: JSON look-alikes
 * (`application/jsonx`, `+json` types) and form encodings, which body parsers would otherwise turn into an
 * object of strings, are refused.
 */
export function isJsonContentType(header: string | undefined): boolean {
  if (header === undefined) return false;
  const [type, ...params] = header.split(';');
  return (
    type.trim().toLowerCase() === 'application/json' &&
    params.every((p) => /^\s*charset=("?)[A-Za-z0-9._-]+\1\s*$/i.test(p))
  );
}
