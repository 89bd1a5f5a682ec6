import {
  Injectable,
  NestMiddleware,
  PayloadTooLargeException,
  RequestTimeoutException,
} from '@nestjs/common';
import { json, NextFunction, Request, RequestHandler, Response } from 'express';
import { AppConfig } from '../config/app-config';
import { markRejected, Rejection, REJECTIONS } from '../logging/request-rejection';
import { refuseAndClose } from './publish-precheck.middleware';
import { PUBLISH_BODY_LIMIT_BYTES } from './realtime.events';

/**
 * Reads and parses the JSON body of POST /events, after PublishPrecheckMiddleware let it through.
 *
 * body-parser alone is not enough for an untrusted sender: when a body passes its limit it keeps reading (and
 * discarding) to the end of the body before answering 413, so a chunked body that never ends is never
 * answered, and it waits for a slow body for as long as Node lets the request live. Here the bytes are counted
 * as they arrive and the body has PUBLISH_BODY_TIMEOUT_MS to arrive: past the limit (413) or the deadline
 * (408) the request is answered at once and the connection closed behind the answer.
 */
@Injectable()
export class PublishBodyMiddleware implements NestMiddleware {
  private readonly parse: RequestHandler;
  private readonly timeoutMs: number;

  constructor(config: AppConfig) {
    this.parse = json({ limit: PUBLISH_BODY_LIMIT_BYTES, strict: true });
    this.timeoutMs = config.env.PUBLISH_BODY_TIMEOUT_MS;
  }

  use(req: Request, res: Response, next: NextFunction): void {
    let received = 0;
    let settled = false;
    const settle = (err?: unknown): void => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      req.off('data', count);
      next(err);
    };
    const cut = (reason: Rejection, exception: Error): void => {
      if (settled) return;
      refuseAndClose(res, reason);
      settle(exception);
    };
    const count = (chunk: Buffer): void => {
      received += chunk.length;
      if (received > PUBLISH_BODY_LIMIT_BYTES) {
        cut(
          REJECTIONS.BODY_TOO_LARGE,
          new PayloadTooLargeException(`The body must not exceed ${PUBLISH_BODY_LIMIT_BYTES} bytes`),
        );
      }
    };
    const deadline = setTimeout(
      () =>
        cut(
          REJECTIONS.BODY_TIMEOUT,
          new RequestTimeoutException(`The body did not arrive within ${this.timeoutMs}ms`),
        ),
      this.timeoutMs,
    );
    // After a cut, body-parser still calls back once the connection is gone; `settled` drops that call.
    this.parse(req, res, (err?: unknown) => {
      const rejection = err === undefined || settled ? undefined : rejectionForParserError(err);
      if (rejection !== undefined) markRejected(res, rejection);
      settle(err);
    });
    // Added after the parser's own listener, on data that flows only from the next tick on: every byte counted.
    if (!settled) req.on('data', count);
  }
}

/**
 * body-parser's own refusals: a decompressed body over the limit, an unsupported charset or encoding, bad JSON.
 * A client that hung up mid-body was not refused (its request is counted as 499 by the HTTP metrics).
 */
function rejectionForParserError(err: unknown): Rejection | undefined {
  const { status, type } = err as { status?: unknown; type?: unknown };
  if (type === 'request.aborted') return undefined;
  if (status === 413) return REJECTIONS.BODY_TOO_LARGE;
  if (status === 415) return REJECTIONS.UNSUPPORTED_MEDIA_TYPE;
  return REJECTIONS.MALFORMED_BODY;
}
