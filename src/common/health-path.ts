/** Where the health endpoints live: platforms and load balancers probe these every few seconds. */
export const HEALTH_PATH = '/health';

/**
 * True for `/health` and anything below it (`/health/ready`, `/health?verbose`): a raw URL or a route pattern.
 * Probe traffic is the platform's, not the users': logging keeps it below info and the HTTP window the alerts
 * read leaves it out.
 */
export function isHealthPath(path: string | undefined): boolean {
  return (
    path !== undefined &&
    (path === HEALTH_PATH || path.startsWith(HEALTH_PATH + '/') || path.startsWith(HEALTH_PATH + '?'))
  );
}
