import { Logger } from '@nestjs/common';

export type ProcessErrorKind = 'unhandledRejection' | 'uncaughtException';
type Listener = (kind: ProcessErrorKind, error: unknown) => void;

const listeners: Listener[] = [];

/** Lets metrics and error tracking hear about process-level errors without owning the handlers. */
export function onProcessError(listener: Listener): void {
  listeners.push(listener);
}

/**
 * A failing dependency must degrade the server, never end it: a library that rejects a promise nobody awaits
 * (the Redis adapter's publish during an outage is the known case) would otherwise kill the Node process and
 * every connection it holds. Both kinds are logged with their stack, counted, and the process goes on; the
 * same whether or not Sentry is configured.
 */
export function installProcessGuards(logger = new Logger('Process')): void {
  const handle = (kind: ProcessErrorKind) => (error: unknown) => {
    const err = error instanceof Error ? error : new Error(String(error));
    logger.error({
      message: kind === 'unhandledRejection' ? 'Unhandled rejection' : 'Uncaught exception',
      err,
    });
    for (const listener of listeners) {
      try {
        listener(kind, error);
      } catch {
        // a broken listener must not turn one error into a crash
      }
    }
  };
  process.on('unhandledRejection', handle('unhandledRejection'));
  process.on('uncaughtException', handle('uncaughtException'));
}
