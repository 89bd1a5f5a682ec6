import { INestApplication } from '@nestjs/common';
import { NestExpressApplication } from '@nestjs/platform-express';
import { Logger } from 'nestjs-pino';

/**
 * Everything an app needs beyond its modules, shared by main.ts and the e2e tests so that tests run the
 * server exactly as production does.
 */
export async function configureApp(app: INestApplication): Promise<void> {
  app.useLogger(app.get(Logger));
  app.flushLogs();
  const express = app as NestExpressApplication;
  express.disable('x-powered-by');
  await Promise.resolve();
}

/** Options every app is created with: buffered logs until pino is in place, keep-alive sockets closed on close(). */
export const APP_OPTIONS = { bufferLogs: true, forceCloseConnections: true, abortOnError: false } as const;
