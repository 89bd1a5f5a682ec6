import { INestApplication, Logger } from '@nestjs/common';
import { PinoLogger } from 'nestjs-pino';
import { AppConfig } from '../config/app-config';
import { errorMessage, sleep } from '../common/with-timeout';
import { ShutdownState } from './shutdown-state';

/**
 * SIGTERM/SIGINT: health turns 503 at once, then after SHUTDOWN_DRAIN_MS the app closes (gateway, HTTP server
 * with its keep-alive connections, Redis and MongoDB clients), logs are flushed and the process exits 0. If
 * that has not finished within SHUTDOWN_TIMEOUT_MS the process exits 1 anyway: a deploy must never hang.
 */
export function installShutdownHandlers(app: INestApplication): void {
  const logger = new Logger('Shutdown');
  const config = app.get(AppConfig);
  const state = app.get(ShutdownState);
  const { SHUTDOWN_TIMEOUT_MS, SHUTDOWN_DRAIN_MS } = config.env;

  const flushAndExit = (code: number) => {
    const root = PinoLogger.root as PinoLogger['logger'] | undefined;
    if (root === undefined) process.exit(code);
    // flush() waits for an asynchronous destination (the pretty transport); stdout JSON is synchronous already.
    root.flush(() => process.exit(code));
  };

  const shutdown = async (signal: NodeJS.Signals) => {
    if (state.isDraining) {
      logger.warn({ message: 'Second shutdown signal received, still shutting down', signal });
      return;
    }
    const started = Date.now();
    state.beginDrain();
    logger.log({
      message: 'Shutdown started',
      signal,
      drainMs: SHUTDOWN_DRAIN_MS,
      timeoutMs: SHUTDOWN_TIMEOUT_MS,
    });
    const deadline = setTimeout(() => {
      logger.error({ message: 'Shutdown timed out, exiting', timeoutMs: SHUTDOWN_TIMEOUT_MS });
      flushAndExit(1);
    }, SHUTDOWN_TIMEOUT_MS);
    deadline.unref();
    try {
      if (SHUTDOWN_DRAIN_MS > 0) await sleep(Math.min(SHUTDOWN_DRAIN_MS, SHUTDOWN_TIMEOUT_MS / 2));
      await app.close();
      logger.log({ message: 'Shutdown complete', durationMs: Date.now() - started });
      flushAndExit(0);
    } catch (err) {
      logger.error({ message: 'Shutdown failed', error: errorMessage(err) });
      flushAndExit(1);
    }
  };

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => void shutdown(signal));
  }
}
