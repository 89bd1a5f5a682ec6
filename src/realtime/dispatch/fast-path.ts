import type { CallHandler, ExecutionContext, NestInterceptor } from '@nestjs/common';
import { finalize, Observable, tap } from 'rxjs';
import type { Socket } from 'socket.io';

/** One client event as an interceptor sees it, on either dispatch path. */
export interface WsCall {
  /** The `@SubscribeMessage` pattern. */
  readonly pattern: string;
  readonly client: Socket;
}

/** How a handler call ended: its last value (undefined when it emitted none), or the error it failed with. */
export type WsOutcome =
  { readonly failed: false; readonly value: unknown } | { readonly failed: true; readonly error: unknown };

/** Marks an interceptor whose whole behaviour is a synchronous before/after pair (see FastPathInterceptor). */
export const FAST_PATH_INTERCEPTOR: unique symbol = Symbol('FastPathInterceptor');

/**
 * An interceptor the direct dispatch can run without Nest's rxjs pipeline: `before()` runs just before the
 * handler, `after()` once its result settled (value, Promise, Observable completion, or any failure). Its
 * `intercept()` must be `interceptWithHooks(this, ...)`, so that both paths run the same two functions.
 * The marker is explicit so that an interceptor whose `intercept()` does more is never skipped by accident.
 */
export interface FastPathInterceptor<S = unknown> extends NestInterceptor {
  readonly [FAST_PATH_INTERCEPTOR]: true;
  before(call: WsCall): S;
  after(call: WsCall, state: S, outcome: WsOutcome): void;
}

export function isFastPathInterceptor(value: unknown): value is FastPathInterceptor {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as Partial<FastPathInterceptor>)[FAST_PATH_INTERCEPTOR] === true
  );
}

const NO_VALUE: WsOutcome = Object.freeze({ failed: false, value: undefined });

/** Nest's pipeline: the same before/after around `next.handle()`; `finalize` also covers errors and unsubscribe. */
export function interceptWithHooks<S>(
  interceptor: FastPathInterceptor<S>,
  context: ExecutionContext,
  next: CallHandler,
): Observable<unknown> {
  const ws = context.switchToWs();
  const call: WsCall = { pattern: ws.getPattern(), client: ws.getClient<Socket>() };
  const state = interceptor.before(call);
  let outcome = NO_VALUE;
  return next.handle().pipe(
    tap({
      next: (value: unknown) => (outcome = { failed: false, value }),
      error: (error: unknown) => (outcome = { failed: true, error }),
    }),
    finalize(() => interceptor.after(call, state, outcome)),
  );
}
