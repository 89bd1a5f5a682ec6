import { Logger } from '@nestjs/common';
import type Redis from 'ioredis';

/**
 * Logs a Redis client's outages once each (not once per reconnect attempt or per failed command): a warning
 * when the connection is lost or cannot be made, an info line with the outage length when it is back.
 * Attaching an 'error' listener is also what keeps ioredis' error events from becoming uncaught exceptions.
 */
export function watchRedisConnection(client: Redis, role: string, logger: Logger): void {
  let downSince: number | null = null;
  let everReady = false;

  const markDown = (reason: string) => {
    if (downSince !== null) return;
    downSince = Date.now();
    logger.warn({ message: 'Redis unavailable', role, reason, everConnected: everReady });
  };

  client.on('error', (err: Error) => {
    if (downSince === null) markDown(err.message);
    else logger.debug({ message: 'Redis error during outage', role, error: err.message });
  });
  client.on('close', () => {
    if (everReady) markDown('connection closed');
  });
  client.on('ready', () => {
    if (downSince !== null) {
      logger.log({ message: 'Redis connection restored', role, outageMs: Date.now() - downSince });
    } else if (!everReady) {
      logger.log({ message: 'Redis connected', role });
    }
    everReady = true;
    downSince = null;
  });
}
