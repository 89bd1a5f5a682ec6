import { INestApplication, Logger } from '@nestjs/common';
import type { Env } from '../../config/env.schema';

/** The log line's `message` starts with this, so scripts (and the demo's test) can find it. */
export const DASHBOARD_HINT = 'Dashboard at';
export const TOKEN_HINT = 'npm run token -- <userId> [portfolioId...]';

/**
 * In development, once the server listens: where the dashboard is and how to get a socket token, so a newcomer
 * goes from `npm start` to a live page without reading further. Says how to sign in when METRICS_TOKEN is set,
 * never the token itself. Nothing in production or tests, whose logs are read by machines.
 */
export async function logDevelopmentHints(
  app: INestApplication,
  env: Pick<Env, 'NODE_ENV' | 'METRICS_ENABLED' | 'METRICS_TOKEN'>,
): Promise<void> {
  if (env.NODE_ENV !== 'development') return;
  const logger = new Logger('Dashboard');
  const tokenHint = `a socket token: ${TOKEN_HINT}`;
  if (!env.METRICS_ENABLED) {
    logger.log({
      message: `Metrics are disabled (METRICS_ENABLED=false), so is the dashboard; ${tokenHint}`,
    });
    return;
  }
  const url = `${await app.getUrl()}/dashboard`;
  const signIn =
    env.METRICS_TOKEN === undefined ? '' : ' (sign in with any user name and METRICS_TOKEN as password)';
  logger.log({ message: `${DASHBOARD_HINT} ${url}${signIn}; ${tokenHint}`, dashboard: url });
}
