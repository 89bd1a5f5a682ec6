/**
 * The dependency gauges HealthModule owns. Dashboards and alert rules depend on these names: renaming one is a
 * breaking change for every operator who scrapes this server.
 */
export const HEALTH_METRIC = {
  redisUp: 'redis_up',
  redisLatency: 'redis_latency_seconds',
  mongodbUp: 'mongodb_up',
} as const;
