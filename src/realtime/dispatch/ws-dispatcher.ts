import { Injectable, Logger, OnModuleInit } from '@nestjs/common';
import {
  EXCEPTION_FILTERS_METADATA,
  FILTER_CATCH_EXCEPTIONS,
  GUARDS_METADATA,
  INTERCEPTORS_METADATA,
  PIPES_METADATA,
  ROUTE_ARGS_METADATA,
} from '@nestjs/common/constants';
import type { ExceptionFilterMetadata } from '@nestjs/common/interfaces/exceptions/exception-filter-metadata.interface';
import { DiscoveryService, MetadataScanner, Reflector } from '@nestjs/core';
import type { Module } from '@nestjs/core/injector/module';
import type { MessageMappingProperties } from '@nestjs/websockets';
import { GATEWAY_METADATA, MESSAGE_MAPPING_METADATA, MESSAGE_METADATA } from '@nestjs/websockets/constants';
import { WsParamtype } from '@nestjs/websockets/enums/ws-paramtype.enum';
import { WsExceptionsHandler } from '@nestjs/websockets/exceptions/ws-exceptions-handler';
import type { Socket } from 'socket.io';
import type { SocketMessageBinder } from '../redis-io.adapter';
import { FastPathInterceptor, isFastPathInterceptor } from './fast-path';
import { FastRoute, ParamSource } from './fast-route';

/** Why a handler runs through Nest's own pipeline instead of the direct dispatch. */
export type NestPathReason =
  | 'guards'
  | 'pipes'
  | 'custom parameter decorator'
  | 'interceptor without fast path'
  | 'unresolved enhancer'
  | 'pattern declared twice';

export type RoutePlan = { path: 'fast' } | { path: 'nest'; reason: NestPathReason };

interface Enhanced {
  readonly cls: object;
  readonly method: object;
}

/** `@MessageBody(key)` stores the key as `data`; Nest reads `payload[data]` when it is truthy. */
type ParamMetadata = Record<string, { index: number; data?: string; pipes?: unknown[] }>;

/**
 * Finds every gateway's `@SubscribeMessage` handlers once at start-up and decides, per handler, whether the
 * direct dispatch (FastRoute) can run it with exactly Nest's client-visible behaviour: only when its
 * interceptors are all FastPathInterceptors, it has no guards, no pipes and no custom parameter decorators,
 * and every enhancer resolves to one static instance. Anything else stays on Nest's own pipeline, untouched.
 * Exception filters are never a reason to fall back: the fast path hands errors to Nest's own exception
 * handler built from the same filter instances. Nest 11 applies no global enhancers (`useGlobal*`, `APP_*`)
 * to gateways, so neither does this; test/ws-dispatch.e2e-spec.ts installs global ones on both servers and
 * fails if a Nest release starts applying them.
 *
 * The socket adapter asks `bind()` for each socket; the handlers it does not take are bound by Nest's
 * IoAdapter as usual.
 */
@Injectable()
export class WsDispatcher implements SocketMessageBinder, OnModuleInit {
  private readonly logger = new Logger(WsDispatcher.name);
  private readonly routes = new Map<string, FastRoute>();
  private readonly plans = new Map<string, RoutePlan>();

  constructor(
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
    private readonly reflector: Reflector,
  ) {}

  onModuleInit(): void {
    const seen = new Set<string>();
    for (const wrapper of this.discovery.getProviders()) {
      const instance: unknown = wrapper.instance;
      if (typeof instance !== 'object' || instance === null || wrapper.host === undefined) continue;
      const cls = instance.constructor;
      if (this.reflector.get<unknown>(GATEWAY_METADATA, cls) === undefined) continue;
      const proto = Object.getPrototypeOf(instance) as Record<string, unknown>;
      for (const name of this.scanner.getAllMethodNames(proto)) {
        const method = proto[name];
        if (typeof method !== 'function') continue;
        if (this.reflector.get<unknown>(MESSAGE_MAPPING_METADATA, method) === undefined) continue;
        const pattern = this.reflector.get<unknown>(MESSAGE_METADATA, method);
        if (typeof pattern !== 'string') continue;
        if (seen.has(pattern)) {
          // Two gateways answering one pattern (say, on two namespaces): Nest tells them apart, this map cannot.
          this.routes.delete(pattern);
          this.plans.set(pattern, { path: 'nest', reason: 'pattern declared twice' });
          continue;
        }
        seen.add(pattern);
        const plan = this.plan(
          instance,
          name,
          method as (...args: unknown[]) => unknown,
          pattern,
          wrapper.host,
        );
        this.plans.set(pattern, plan.plan);
        if (plan.route !== undefined) this.routes.set(pattern, plan.route);
        if (plan.plan.path === 'nest') {
          this.logger.log({
            message: "WebSocket handler runs through Nest's pipeline",
            pattern,
            reason: plan.plan.reason,
          });
        }
      }
    }
  }

  /** How each known pattern is dispatched; for start-up checks and tests. */
  get routePlans(): ReadonlyMap<string, RoutePlan> {
    return this.plans;
  }

  /** True when some gateway declares a handler for this event. */
  handles(event: unknown): boolean {
    return typeof event === 'string' && this.plans.has(event);
  }

  bind(socket: Socket, handlers: MessageMappingProperties[]): MessageMappingProperties[] {
    const rest: MessageMappingProperties[] = [];
    for (const handler of handlers) {
      const route = typeof handler.message === 'string' ? this.routes.get(handler.message) : undefined;
      if (route === undefined) rest.push(handler);
      else socket.on(handler.message as string, route.listener(socket));
    }
    return rest;
  }

  private plan(
    instance: object,
    name: string,
    method: (...args: unknown[]) => unknown,
    pattern: string,
    host: Module,
  ): { plan: RoutePlan; route?: FastRoute } {
    const at: Enhanced = { cls: instance.constructor, method };
    const nest = (reason: NestPathReason) => ({ plan: { path: 'nest', reason } as RoutePlan });
    if (this.enhancers(GUARDS_METADATA, at).length > 0) return nest('guards');
    if (this.enhancers(PIPES_METADATA, at).length > 0) return nest('pipes');

    const explicit = Reflect.getMetadata(ROUTE_ARGS_METADATA, instance.constructor, name) as
      ParamMetadata | undefined;
    const params = explicit === undefined ? DEFAULT_PARAMS : toParams(explicit);
    if (params === 'pipes') return nest('pipes');
    if (params === 'custom') return nest('custom parameter decorator');

    const interceptors: FastPathInterceptor[] = [];
    for (const enhancer of this.enhancers(INTERCEPTORS_METADATA, at)) {
      const resolved = resolveEnhancer(enhancer, host);
      if (resolved === null) return nest('unresolved enhancer');
      if (!isFastPathInterceptor(resolved)) return nest('interceptor without fast path');
      interceptors.push(resolved);
    }

    const filters: ExceptionFilterMetadata[] = [];
    for (const enhancer of this.enhancers(EXCEPTION_FILTERS_METADATA, at)) {
      const resolved = resolveEnhancer(enhancer, host) as { catch?: unknown } | null;
      if (resolved === null) return nest('unresolved enhancer');
      // Nest skips an object without catch() the same way.
      if (typeof resolved.catch !== 'function') continue;
      filters.push({
        func: (resolved.catch as ExceptionFilterMetadata['func']).bind(resolved),
        exceptionMetatypes: catchTypes(resolved),
      });
    }
    const exceptions = new WsExceptionsHandler();
    // Nest tries method filters before class filters, the last declared first.
    if (filters.length > 0) exceptions.setCustomFilters(filters.reverse());

    const manualAck = explicit !== undefined && params.some((p) => p?.kind === 'ack');
    const route = new FastRoute({ pattern, instance, method, params, manualAck, interceptors, exceptions });
    return { plan: { path: 'fast' }, route };
  }

  /** Class-level then method-level enhancers, the order Nest applies them in. */
  private enhancers(key: string, at: Enhanced): unknown[] {
    const cls = this.reflector.get<unknown[] | undefined>(key, at.cls as never) ?? [];
    const method = this.reflector.get<unknown[] | undefined>(key, at.method as never) ?? [];
    return [...cls, ...method];
  }
}

/** Nest's parameters for a handler without parameter decorators: (client, data, ack). */
const DEFAULT_PARAMS: readonly ParamSource[] = [
  { kind: 'socket' },
  { kind: 'body', key: undefined },
  { kind: 'ack' },
];

function toParams(metadata: ParamMetadata): (ParamSource | undefined)[] | 'pipes' | 'custom' {
  const params: (ParamSource | undefined)[] = [];
  for (const [key, { index, data, pipes }] of Object.entries(metadata)) {
    if (pipes !== undefined && pipes.length > 0) return 'pipes';
    const type = Number(key.split(':')[0]);
    let source: ParamSource;
    if (type === Number(WsParamtype.SOCKET)) source = { kind: 'socket' };
    else if (type === Number(WsParamtype.ACK)) source = { kind: 'ack' };
    else if (type === Number(WsParamtype.PAYLOAD)) source = { kind: 'body', key: data ? data : undefined };
    else return 'custom';
    params[index] = source;
  }
  return params;
}

/**
 * The instance Nest itself would use for an enhancer: an object as given, or the module's static injectable of
 * that class. Request-scoped or transient enhancers have no such instance and keep the handler on Nest's path.
 */
function resolveEnhancer(enhancer: unknown, host: Module): object | null {
  if (typeof enhancer === 'object' && enhancer !== null) return enhancer;
  if (typeof enhancer !== 'function') return null;
  const wrapper = host.injectables.get(enhancer as never);
  if (wrapper === undefined || !wrapper.isDependencyTreeStatic()) return null;
  const instance: unknown = wrapper.instance;
  return typeof instance === 'object' && instance !== null ? instance : null;
}

/** A filter's `@Catch()` types, looked up where Nest looks for them; empty means it catches everything. */
function catchTypes(filter: object): ExceptionFilterMetadata['exceptionMetatypes'] {
  return (
    (Reflect.getMetadata(FILTER_CATCH_EXCEPTIONS, Object.getPrototypeOf(filter) as object) as
      ExceptionFilterMetadata['exceptionMetatypes'] | undefined) ??
    (Reflect.getMetadata(FILTER_CATCH_EXCEPTIONS, filter.constructor) as
      ExceptionFilterMetadata['exceptionMetatypes'] | undefined) ??
    []
  );
}
