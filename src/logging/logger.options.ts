import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Params } from 'nestjs-pino';
import type { LoggerOptions } from 'pino';
import { isHealthPath } from '../common/health-path';
import type { Env } from '../config/env.schema';
import { censorSecrets, REDACTED, REDACT_PATHS, redactUrl } from './log-redaction';
import { assignRequestId } from './request-id';
import { rejectionOf } from './request-rejection';

/** `err` (what pino and nestjs-pino use) becomes `error` (message) and `stack`, as operators search for them. */
export function flattenError(obj: Record<string, unknown>): Record<string, unknown> {
  const err = obj.err;
  if (err === undefined || err === null || typeof err !== 'object') return obj;
  const { err: _err, ...rest } = obj;
  const e = err as { message?: unknown; stack?: unknown };
  return {
    ...rest,
    error: typeof e.message === 'string' ? e.message : JSON.stringify(err),
    ...(typeof e.stack === 'string' ? { stack: e.stack } : {}),
  };
}

/** Base pino options shared by the HTTP logger and anything that logs before Nest is up. */
export function basePinoOptions(env: Pick<Env, 'LOG_LEVEL' | 'SERVICE_NAME' | 'NODE_ENV'>): LoggerOptions {
  return {
    // Production never logs below info: debug and trace lines carry detail meant for development.
    level:
      env.NODE_ENV === 'production' && (env.LOG_LEVEL === 'debug' || env.LOG_LEVEL === 'trace')
        ? 'info'
        : env.LOG_LEVEL,
    messageKey: 'message',
    errorKey: 'err',
    base: { service: env.SERVICE_NAME, pid: process.pid },
    timestamp: () => `,"timestamp":"${new Date().toISOString()}"`,
    formatters: {
      level: (label) => ({ level: label }),
      log: (obj) => censorSecrets(flattenError(obj)),
    },
    redact: { paths: REDACT_PATHS, censor: REDACTED },
  };
}

export function loggerParams(env: Env): Params {
  const pretty = env.NODE_ENV === 'development' && process.stdout.isTTY === true;
  return {
    pinoHttp: {
      ...basePinoOptions(env),
      ...(pretty
        ? {
            transport: {
              target: 'pino-pretty',
              options: { messageKey: 'message', timestampKey: 'timestamp', singleLine: true },
            },
          }
        : {}),
      genReqId: (req: IncomingMessage, res: ServerResponse) => assignRequestId(req, res),
      quietReqLogger: true,
      customAttributeKeys: { reqId: 'requestId', responseTime: 'duration' },
      customLogLevel: (req, res, err) => {
        // Health probes come every few seconds from platforms and load balancers; at info they would drown the logs.
        if (isHealthPath(req.url)) return 'debug';
        // Refused before a handler ran (too large, wrong token, stalled body...): the client's doing, but a flood of
        // them is what an operator must notice, so one warning each rather than an info line among thousands.
        if (rejectionOf(res) !== undefined) return 'warn';
        // 503 is this server saying "not now" on purpose (a disabled endpoint, draining): worth a warning, not a page.
        if (res.statusCode === 503) return 'warn';
        if (err !== undefined || res.statusCode >= 500) return 'error';
        return 'info';
      },
      // Evaluated again when the response ends, which is when a rejection is known.
      customProps: (_req, res) => {
        const rejection = rejectionOf(res);
        return rejection === undefined ? {} : { rejection };
      },
      customSuccessMessage: (req, res) => `${req.method} ${redactUrl(req.url ?? '')} ${res.statusCode}`,
      customErrorMessage: (req, res) => `${req.method} ${redactUrl(req.url ?? '')} ${res.statusCode}`,
      // For a 5xx without an error, pino-http invents one ("failed with status code 503") with a stack that only
      // points into pino-http: noise on every deliberate 503. Real errors keep their error and stack.
      customErrorObject: (_req, res, err, value: Record<string, unknown>) => {
        if (err.message !== `failed with status code ${res.statusCode}`) return value;
        const { err: _invented, ...rest } = value;
        return rest;
      },
      serializers: {
        // Express's req.ip follows TRUST_PROXY (app.setup.ts), so behind a trusted proxy the log names the client.
        req: (req: { method?: string; url?: string; remoteAddress?: string; raw?: { ip?: unknown } }) => ({
          method: req.method,
          url: redactUrl(req.url ?? ''),
          remoteAddress: typeof req.raw?.ip === 'string' ? req.raw.ip : req.remoteAddress,
        }),
        res: (res: { statusCode?: number }) => ({ statusCode: res.statusCode }),
      },
    },
  };
}
