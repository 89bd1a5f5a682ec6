import { INestApplication } from '@nestjs/common';
import { NestExpressApplication } from '@nestjs/platform-express';
import { Logger } from 'nestjs-pino';
import { applyHttpServerTimeouts } from './common/http-server-timeouts';
import { AppConfig } from './config/app-config';
import { MetricsService } from './metrics/metrics.service';
import { ConnectionAdmission } from './realtime/connection-admission';
import { WsDispatcher } from './realtime/dispatch/ws-dispatcher';
import { RedisIoAdapter } from './realtime/redis-io.adapter';
import { SocketAdapterState } from './realtime/socket-adapter-state';
import { RedisService } from './redis/redis.service';

/**
 * Everything an app needs beyond its modules, shared by main.ts and the e2e tests so that tests run the
 * server exactly as production does. Must be awaited before listen(): the Socket.IO adapter connects here.
 */
export async function configureApp(app: INestApplication): Promise<void> {
  app.useLogger(app.get(Logger));
  app.flushLogs();
  const express = app as NestExpressApplication;
  express.disable('x-powered-by');
  const config = app.get(AppConfig);
  const { http } = config;
  // The same rule the socket caps use (ConnectionAdmission), so request logs and req.ip name the same client.
  express.set('trust proxy', http.trustProxy);
  applyHttpServerTimeouts(express.getHttpServer(), {
    headersMs: http.headersTimeoutMs,
    requestMs: http.requestTimeoutMs,
    keepAliveMs: http.keepAliveTimeoutMs,
    idleMs: http.idleTimeoutMs,
  });
  const socketAdapter = new RedisIoAdapter(
    app,
    config,
    app.get(RedisService),
    app.get(MetricsService),
    app.get(ConnectionAdmission),
    app.get(SocketAdapterState),
    app.get(WsDispatcher),
  );
  await socketAdapter.connect();
  app.useWebSocketAdapter(socketAdapter);
}

/**
 * Options every app is created with: buffered logs until pino is in place, keep-alive sockets closed on close().
 * No global body parser: Nest would mount it ahead of every module's middleware, so a body it refused (bad JSON,
 * too large) never reached the request logger or the HTTP metrics, and it parsed form bodies nobody accepts.
 * POST /events reads its own body (RealtimeModule).
 */
export const APP_OPTIONS = {
  bufferLogs: true,
  forceCloseConnections: true,
  abortOnError: false,
  bodyParser: false,
} as const;
