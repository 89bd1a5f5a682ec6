import { CLUSTER_METRIC } from '../src/cluster/cluster.metric-names';
import { HEALTH_METRIC } from '../src/health/health.metric-names';
import { METRIC as CORE_METRIC, HTTP_DURATION_BUCKETS } from '../src/metrics/metric-names';
import { REALTIME_METRIC, WS_DURATION_BUCKETS } from '../src/realtime/realtime.metric-names';
import { STREAMS_METRIC } from '../src/streams/streams.metric-names';

/**
 * Every metric name the server defines, gathered from the modules that own them (the metrics core, realtime,
 * health, cluster, streams), so the rule and dashboard generators and their tests name metrics from one table and a rename in
 * any owner fails them. The alerts module's own names come from src/alerts directly.
 */
export const METRIC = {
  ...CORE_METRIC,
  ...REALTIME_METRIC,
  ...HEALTH_METRIC,
  ...CLUSTER_METRIC,
  ...STREAMS_METRIC,
} as const;

export { HTTP_DURATION_BUCKETS, WS_DURATION_BUCKETS };
