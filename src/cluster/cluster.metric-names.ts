/**
 * The cluster feature's metric names. Dashboards and alert rules depend on these names: renaming one is a
 * breaking change for every operator who scrapes this server.
 */
export const CLUSTER_METRIC = {
  probeAge: 'cluster_probe_age_seconds',
  probeLag: 'cluster_probe_lag_seconds',
  probesReceived: 'cluster_probes_received_total',
  deliverySilence: 'cluster_delivery_silence_seconds',
} as const;

/** The Socket.IO server-side event the probes travel as (never sent to clients). */
export const CLUSTER_PROBE_EVENT = 'cluster:probe';

/** cluster.delivery: a live peer silent for this many probe intervals is a warning, this many critical. */
export const DELIVERY_WARNING_INTERVALS = 2;
export const DELIVERY_CRITICAL_INTERVALS = 4;

/** How often cluster.delivery is checked: a quarter interval, so it fires soon after the second missed probe. */
export function deliveryCheckIntervalMs(probeIntervalMs: number): number {
  return Math.max(100, Math.floor(probeIntervalMs / 4));
}
