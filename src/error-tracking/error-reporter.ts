import { HttpException, Injectable, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { WsException } from '@nestjs/websockets';
import * as Sentry from '@sentry/nestjs';
import { onProcessError } from '../lifecycle/process-guards';
import { sentryActive } from './sentry';

/**
 * The one place unexpected errors are reported to error tracking. HTTP filters and the gateway's
 * exception filter call it for unexpected errors only; expected ones (4xx HttpException, WsException,
 * validation failures) are dropped here too, as a second line. A no-op when SENTRY_DSN is unset.
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

let processListenerInstalled = false;
const SHUTDOWN_FLUSH_MS = 2000;

@Injectable()
export class ErrorReporter implements OnModuleInit, OnApplicationShutdown {
  onModuleInit(): void {
    // Once per process: the process guards hold their listeners for the process's lifetime.
    if (processListenerInstalled) return;
    processListenerInstalled = true;
    onProcessError((kind, error) => reportToSentry(error, { kind: 'process', event: kind }));
  }

  /** Sends what is still queued before the process goes (bounded: Sentry's flush takes a timeout). */
  async onApplicationShutdown(): Promise<void> {
    if (sentryActive()) await Sentry.flush(SHUTDOWN_FLUSH_MS).catch(() => false);
  }

  get enabled(): boolean {
    return sentryActive();
  }

  /** Never throws. */
  report(error: unknown, context: ErrorContext): void {
    try {
      reportToSentry(error, context);
    } catch {
      // error tracking must never turn a handled error into another one
    }
  }
}

export function isExpectedError(error: unknown): boolean {
  if (error instanceof WsException) return true;
  if (error instanceof HttpException) return error.getStatus() < 500;
  return false;
}

function reportToSentry(error: unknown, context: ErrorContext): void {
  if (!sentryActive() || isExpectedError(error)) return;
  Sentry.withScope((scope) => {
    scope.setTag('error.kind', context.kind);
    if (context.route !== undefined) scope.setTag('route', context.route);
    if (context.method !== undefined) scope.setTag('http.method', context.method);
    if (context.event !== undefined)
      scope.setTag(context.kind === 'ws' ? 'ws.event' : 'event', context.event);
    if (context.requestId !== undefined) scope.setTag('request_id', context.requestId);
    if (context.socketId !== undefined) scope.setTag('socket_id', context.socketId);
    if (context.userId !== undefined) scope.setUser({ id: context.userId });
    if (context.kind === 'http' && context.route !== undefined)
      scope.setTransactionName(`${context.method ?? ''} ${context.route}`.trim());
    if (context.kind === 'ws' && context.event !== undefined) scope.setTransactionName(`ws ${context.event}`);
    scope.setContext('error_context', { ...context });
    Sentry.captureException(error, {
      mechanism: { handled: context.kind !== 'process', type: `auto.${context.kind}.error_reporter` },
    });
  });
}
