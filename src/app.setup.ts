import { INestApplication } from '@nestjs/common';
import { NestExpressApplication } from '@nestjs/platform-express';
import { Logger } from 'nestjs-pino';
import { AppConfig } from './config/app-config';
import { MetricsService } from './metrics/metrics.service';
import { WsDispatcher } from './realtime/dispatch/ws-dispatcher';
import { PUBLISH_BODY_LIMIT_BYTES } from './realtime/realtime.events';
import { RedisIoAdapter } from './redis/redis-io.adapter';
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
  // Room for POST /events' 64 KB `data` plus its envelope; larger bodies are refused (413) before parsing.
  express.useBodyParser('json', { limit: PUBLISH_BODY_LIMIT_BYTES });
  const socketAdapter = new RedisIoAdapter(
    app,
    app.get(AppConfig),
    app.get(RedisService),
    app.get(MetricsService),
    app.get(WsDispatcher),
  );
  await socketAdapter.connect();
  app.useWebSocketAdapter(socketAdapter);
}

/** Options every app is created with: buffered logs until pino is in place, keep-alive sockets closed on close(). */
export const APP_OPTIONS = { bufferLogs: true, forceCloseConnections: true, abortOnError: false } as const;
