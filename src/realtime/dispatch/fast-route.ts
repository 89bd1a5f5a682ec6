import { Logger } from '@nestjs/common';
import { ExecutionContextHost } from '@nestjs/core/helpers/execution-context-host';
import type { WsExceptionsHandler } from '@nestjs/websockets/exceptions/ws-exceptions-handler';
import { isObservable } from 'rxjs';
import type { Socket } from 'socket.io';
import type { FastPathInterceptor, WsCall, WsOutcome } from './fast-path';

/** Where a handler parameter comes from (`@ConnectedSocket()`, `@MessageBody(key?)`, `@Ack()`). */
export type ParamSource =
  | { readonly kind: 'socket' }
  | { readonly kind: 'body'; readonly key: string | undefined }
  | { readonly kind: 'ack' };

/** Everything the direct dispatch needs about one handler, resolved once at start-up. */
export interface FastRouteSpec {
  readonly pattern: string;
  readonly instance: object;
  readonly method: (...args: unknown[]) => unknown;
  /** Indexed like the method's parameters; a parameter without a decorator gets undefined, as in Nest. */
  readonly params: readonly (ParamSource | undefined)[];
  /** `@Ack()` present: Nest sends no automatic acknowledgement. */
  readonly manualAck: boolean;
  readonly interceptors: readonly FastPathInterceptor[];
  /** Nest's own exception handler, built from the handler's filters exactly as Nest builds it. */
  readonly exceptions: WsExceptionsHandler;
}

type AckFn = (...args: unknown[]) => void;

const logger = new Logger('WsDispatcher');

/**
 * Runs one handler for one client event with the client-visible semantics of Nest's IoAdapter pipeline
 * (@nestjs/websockets and @nestjs/platform-socket.io 11), without its per-event rxjs chain:
 * - payload: one data argument is the data, several are an array of them, a trailing function is the ack;
 * - the result, awaited when it is a Promise: null/undefined sends nothing, a value with a truthy `event`
 *   is emitted as `event` with its `data`, anything else is the ack unless `@Ack()` took it over;
 * - an Observable result: every value is treated like that (Socket.IO sends only the first ack);
 * - nothing is sent once the client disconnected (Nest's `takeUntil(disconnect)`);
 * - a throw, rejection or Observable error goes to Nest's exception handler with the host Nest would build,
 *   `[client, data, ack, pattern]`, so `@UseFilters` filters (or Nest's default `exception` event) answer.
 * test/ws-dispatch.e2e-spec.ts runs the same gateway both ways and compares what clients see.
 */
export class FastRoute {
  constructor(private readonly spec: FastRouteSpec) {}

  /** The Socket.IO listener for this handler on one socket. */
  listener(socket: Socket): (...args: unknown[]) => void {
    return (...args: unknown[]) => this.dispatch(socket, args);
  }

  dispatch(socket: Socket, args: unknown[]): void {
    const n = args.length;
    const last = n > 0 ? args[n - 1] : undefined;
    const ack = typeof last === 'function' ? (last as AckFn) : undefined;
    const count = ack === undefined ? n : n - 1;
    const data =
      count === 0 ? undefined : count === 1 ? args[0] : ack === undefined ? args : args.slice(0, count);
    const { spec } = this;
    const call: WsCall = { pattern: spec.pattern, client: socket };
    // Interceptors whose before() ran get their after(); one that throws fails the call like a handler would.
    const states: unknown[] = [];
    let result: unknown;
    try {
      for (const interceptor of spec.interceptors) states.push(interceptor.before(call));
      result = spec.method.apply(spec.instance, this.arguments(socket, data, ack));
    } catch (error) {
      this.fail(call, states, socket, data, ack, error);
      return;
    }
    if (isPromiseLike(result)) {
      result.then(
        (value) => this.settle(call, states, socket, data, ack, value),
        (error: unknown) => this.fail(call, states, socket, data, ack, error),
      );
      return;
    }
    this.settle(call, states, socket, data, ack, result);
  }

  private arguments(socket: Socket, data: unknown, ack: AckFn | undefined): unknown[] {
    const { params } = this.spec;
    const out = new Array<unknown>(params.length);
    for (let i = 0; i < params.length; i++) {
      const p = params[i];
      if (p === undefined) continue;
      out[i] =
        p.kind === 'socket'
          ? socket
          : p.kind === 'ack'
            ? ack
            : p.key === undefined
              ? data
              : (data as Record<string, unknown> | null | undefined)?.[p.key];
    }
    return out;
  }

  private settle(
    call: WsCall,
    states: unknown[],
    socket: Socket,
    data: unknown,
    ack: AckFn | undefined,
    value: unknown,
  ): void {
    if (!isObservable(value)) {
      this.deliver(socket, ack, value);
      this.after(call, states, { failed: false, value });
      return;
    }
    let lastValue: unknown;
    let done = false;
    // Nest unsubscribes a handler's Observable when the client disconnects, which ends its interceptors too.
    const onDisconnect = () => {
      subscription.unsubscribe();
      this.after(call, states, { failed: false, value: lastValue });
    };
    const subscription = value.subscribe({
      next: (v: unknown) => {
        lastValue = v;
        this.deliver(socket, ack, v);
      },
      error: (error: unknown) => {
        done = true;
        socket.off('disconnect', onDisconnect);
        this.fail(call, states, socket, data, ack, error);
      },
      complete: () => {
        done = true;
        socket.off('disconnect', onDisconnect);
        this.after(call, states, { failed: false, value: lastValue });
      },
    });
    if (done) return;
    if (socket.connected) socket.once('disconnect', onDisconnect);
    else onDisconnect();
  }

  private deliver(socket: Socket, ack: AckFn | undefined, value: unknown): void {
    if (value === null || value === undefined || !socket.connected) return;
    const event = (value as { event?: unknown }).event;
    // Sending runs inside Socket.IO's listener or a promise callback: a throw there would end the process.
    try {
      if (event) {
        socket.emit(event as string, (value as { data?: unknown }).data);
      } else if (ack !== undefined && !this.spec.manualAck) {
        ack(value);
      }
    } catch (err) {
      logger.debug({ message: 'WebSocket ack failed', event: this.spec.pattern, socketId: socket.id, err });
    }
  }

  private fail(
    call: WsCall,
    states: unknown[],
    socket: Socket,
    data: unknown,
    ack: AckFn | undefined,
    error: unknown,
  ): void {
    this.after(call, states, { failed: true, error });
    const host = new ExecutionContextHost([socket, data, ack, this.spec.pattern]);
    host.setType('ws');
    try {
      this.spec.exceptions.handle(error as Error, host);
    } catch (err) {
      // Nest would let this escape as an uncaught error; a failing filter must not end the process.
      logger.error({ message: 'WebSocket exception filter failed', event: call.pattern, err });
    }
  }

  /** Interceptors unwind in reverse order, as nested rxjs `finalize`s do. */
  private after(call: WsCall, states: unknown[], outcome: WsOutcome): void {
    const { interceptors } = this.spec;
    for (let i = states.length - 1; i >= 0; i--) {
      try {
        interceptors[i].after(call, states[i], outcome);
      } catch (err) {
        logger.error({ message: 'WebSocket interceptor failed', event: call.pattern, err });
      }
    }
  }
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return (
    typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function'
  );
}
