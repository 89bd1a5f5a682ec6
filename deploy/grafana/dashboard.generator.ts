/**
 * Writes the Grafana dashboard (deploy/grafana/realtime-trading-server.json) from the server's metric names, so a
 * renamed metric breaks `npm test` instead of a chart: `npm run dashboard:generate`.
 * Every query selects `job=~"$service", instance=~"$instance"`; the datasource is a variable, so the file imports
 * into any Grafana with any Prometheus datasource.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RESOURCE_LIMIT_METRICS } from '../../src/alerts/alerts.metrics';
import { METRIC } from '../server-metrics';

export const DASHBOARD_FILE = join(__dirname, 'realtime-trading-server.json');

/** Series selector shared by every panel. */
const S = 'job=~"$service", instance=~"$instance"';
const NO_HEALTH = 'route!~"/health.*"';
const RATE = '$__rate_interval';

interface Query {
  expr: string;
  legend: string;
}

export interface PanelSpec {
  title: string;
  description: string;
  unit: string;
  queries: Query[];
  /** Grafana panel type; time series unless said otherwise. */
  type?: 'timeseries' | 'stat';
}

/** The panels, top to bottom, two per row. docs/operations-stack.md describes each one. */
export const PANELS: PanelSpec[] = [
  {
    title: 'Connections per replica',
    description: `Open Socket.IO connections on each replica (${METRIC.wsConnections}).`,
    unit: 'short',
    queries: [{ expr: `sum by (instance) (${METRIC.wsConnections}{${S}})`, legend: '{{instance}}' }],
  },
  {
    title: 'Users per replica',
    description: `Distinct users with at least one open connection on each replica (${METRIC.wsUniqueUsers}).`,
    unit: 'short',
    queries: [{ expr: `sum by (instance) (${METRIC.wsUniqueUsers}{${S}})`, legend: '{{instance}}' }],
  },
  {
    title: 'Events per second',
    description: 'Client to server events handled and server to client deliveries, per second, by event.',
    unit: 'ops',
    queries: [
      { expr: `sum by (event) (rate(${METRIC.wsEventsReceived}{${S}}[${RATE}]))`, legend: 'in {{event}}' },
      { expr: `sum by (event) (rate(${METRIC.wsEventsSent}{${S}}[${RATE}]))`, legend: 'out {{event}}' },
    ],
  },
  {
    title: 'Event latency percentiles',
    description: 'p50, p95 and p99 of the time spent handling a client event, over every replica selected.',
    unit: 's',
    queries: [0.5, 0.95, 0.99].map((q) => ({
      expr: `histogram_quantile(${q}, sum by (le) (rate(${METRIC.wsEventDuration}_bucket{${S}}[${RATE}])))`,
      legend: `p${q * 100}`,
    })),
  },
  {
    title: 'Event errors per second',
    description:
      'Client events answered with an error, by error code (invalid_payload, forbidden, rate_limited...).',
    unit: 'ops',
    queries: [{ expr: `sum by (code) (rate(${METRIC.wsEventErrors}{${S}}[${RATE}]))`, legend: '{{code}}' }],
  },
  {
    title: 'HTTP requests per second',
    description: 'HTTP requests by status code, health probes excluded.',
    unit: 'reqps',
    queries: [
      {
        expr: `sum by (status_code) (rate(${METRIC.httpRequests}{${S}, ${NO_HEALTH}}[${RATE}]))`,
        legend: '{{status_code}}',
      },
    ],
  },
  {
    title: 'HTTP error rate',
    description: "Share of requests answered with a 5xx, health probes excluded (the in-app alert's figure).",
    unit: 'percent',
    queries: [
      {
        // A replica that never answered a 5xx has no 5xx series: `or ... * 0` draws it at 0 % instead of no line.
        expr:
          `100 * (sum by (instance) (rate(${METRIC.httpRequests}{${S}, ${NO_HEALTH}, status_code=~"5.."}[${RATE}]))` +
          ` or sum by (instance) (rate(${METRIC.httpRequests}{${S}, ${NO_HEALTH}}[${RATE}])) * 0)` +
          ` / sum by (instance) (rate(${METRIC.httpRequests}{${S}, ${NO_HEALTH}}[${RATE}]))`,
        legend: '{{instance}}',
      },
    ],
  },
  {
    title: 'HTTP p95',
    description: '95th percentile of HTTP response time per replica, health probes excluded.',
    unit: 's',
    queries: [
      {
        expr: `histogram_quantile(0.95, sum by (instance, le) (rate(${METRIC.httpRequestDuration}_bucket{${S}, ${NO_HEALTH}}[${RATE}])))`,
        legend: '{{instance}}',
      },
    ],
  },
  {
    title: 'CPU',
    description: "Process CPU as a share of the CPUs the container may use (the in-app alert's figure).",
    unit: 'percent',
    queries: [
      {
        expr: `100 * rate(process_cpu_seconds_total{${S}}[${RATE}]) / ${RESOURCE_LIMIT_METRICS.cpuLimit}{${S}}`,
        legend: '{{instance}}',
      },
    ],
  },
  {
    title: 'Memory against the limit',
    description:
      'Resident memory and the container limit it is measured against, V8 heap used and its limit.',
    unit: 'bytes',
    queries: [
      { expr: `process_resident_memory_bytes{${S}}`, legend: 'rss {{instance}}' },
      { expr: `${RESOURCE_LIMIT_METRICS.memoryLimit}{${S}}`, legend: 'limit {{instance}}' },
      { expr: `nodejs_heap_size_used_bytes{${S}}`, legend: 'heap {{instance}}' },
      { expr: `${RESOURCE_LIMIT_METRICS.heapLimit}{${S}}`, legend: 'heap limit {{instance}}' },
    ],
  },
  {
    title: 'Event loop delay',
    description:
      'Event-loop delay p99 and mean per replica; a blocked loop delays every socket on the replica.',
    unit: 's',
    queries: [
      { expr: `nodejs_eventloop_lag_p99_seconds{${S}}`, legend: 'p99 {{instance}}' },
      { expr: `nodejs_eventloop_lag_mean_seconds{${S}}`, legend: 'mean {{instance}}' },
    ],
  },
  {
    title: 'Redis latency',
    description: 'Redis PING round trip seen by each replica; 0 in "Redis up" means the last sample failed.',
    unit: 's',
    queries: [
      { expr: `${METRIC.redisLatency}{${S}}`, legend: 'latency {{instance}}' },
      { expr: `${METRIC.redisUp}{${S}}`, legend: 'up {{instance}}' },
    ],
  },
  {
    title: 'Redis adapter errors',
    description:
      'Cross-replica publishes the Socket.IO Redis adapter failed (messages other replicas never got), and other caught internal errors, by kind. 0 when there were none.',
    unit: 'ops',
    // Counted only once an error happens: `or vector(0)` draws the healthy state as 0 instead of "No data".
    queries: [
      {
        expr: `sum by (kind) (rate(${METRIC.internalErrors}{${S}}[${RATE}])) or vector(0)`,
        legend: '{{kind}}',
      },
    ],
  },
  {
    title: 'Publish to emit p99',
    description: `99th percentile of the time from a publication entering a replica to its hand-off to the local sockets, by event (${METRIC.wsPublishToEmit}), and the cross-replica pub/sub lag p99 (${METRIC.wsPubsubLag}; compares two clocks).`,
    unit: 's',
    queries: [
      {
        expr: `histogram_quantile(0.99, sum by (event, le) (rate(${METRIC.wsPublishToEmit}_bucket{${S}}[${RATE}])))`,
        legend: '{{event}}',
      },
      {
        expr: `histogram_quantile(0.99, sum by (le) (rate(${METRIC.wsPubsubLag}_bucket{${S}}[${RATE}])))`,
        legend: 'pub/sub lag',
      },
    ],
  },
  {
    title: 'Cross-replica probe age',
    description: `Seconds since each replica last received a delivery probe from each live peer (${METRIC.probeAge}); below the probe interval when delivery works. The silence the cluster.delivery alert fires on (${METRIC.deliverySilence}) per replica.`,
    unit: 's',
    queries: [
      {
        expr: `max by (instance, peer) (${METRIC.probeAge}{${S}})`,
        legend: '{{instance}} ← {{peer}}',
      },
      { expr: `${METRIC.deliverySilence}{${S}}`, legend: 'silence {{instance}}' },
    ],
  },
  {
    title: 'Output backlog',
    description: `What the server holds unsent for its sockets, sampled on a timer: total and largest per replica (${METRIC.wsOutputBacklogTotal}, ${METRIC.wsOutputBacklogMax}), and the p99 socket (${METRIC.wsOutputBacklog}). A socket reaching WS_MAX_PENDING_BYTES is cut as a slow consumer.`,
    unit: 'bytes',
    queries: [
      { expr: `${METRIC.wsOutputBacklogTotal}{${S}}`, legend: 'total {{instance}}' },
      { expr: `${METRIC.wsOutputBacklogMax}{${S}}`, legend: 'largest {{instance}}' },
      {
        expr: `histogram_quantile(0.99, sum by (le) (rate(${METRIC.wsOutputBacklog}_bucket{${S}}[${RATE}])))`,
        legend: 'p99 socket',
      },
    ],
  },
  {
    title: 'WebSocket traffic',
    description: `Bytes per second to and from clients (${METRIC.wsBytesSent}, ${METRIC.wsBytesReceived}) over the selected replicas.`,
    unit: 'Bps',
    queries: [
      { expr: `sum(rate(${METRIC.wsBytesSent}{${S}}[${RATE}]))`, legend: 'sent' },
      { expr: `sum(rate(${METRIC.wsBytesReceived}{${S}}[${RATE}]))`, legend: 'received' },
    ],
  },
  {
    title: 'Stream resumes',
    description: `Resumes per second by what clients were told (${METRIC.resumes}): recovered, or a resync (expired, epoch_changed, unavailable); and publications delivered without a position because Redis did not record them (${METRIC.unrecorded}). A burst of resyncs: runbook "A resync storm".`,
    unit: 'ops',
    queries: [
      { expr: `sum by (result) (rate(${METRIC.resumes}{${S}}[${RATE}]))`, legend: '{{result}}' },
      { expr: `sum(rate(${METRIC.unrecorded}{${S}}[${RATE}]))`, legend: 'unrecorded' },
    ],
  },
  {
    title: 'Top disconnect reasons',
    description: `The five most frequent reasons WebSocket connections closed (${METRIC.wsDisconnects}), per second.`,
    unit: 'ops',
    queries: [
      {
        expr: `topk(5, sum by (reason) (rate(${METRIC.wsDisconnects}{${S}}[${RATE}])))`,
        legend: '{{reason}}',
      },
    ],
  },
  {
    title: 'Top refusal reasons',
    description: `The five most frequent reasons new connections were refused (${METRIC.wsConnectionsRefused}), per second.`,
    unit: 'ops',
    queries: [
      {
        expr: `topk(5, sum by (reason) (rate(${METRIC.wsConnectionsRefused}{${S}}[${RATE}])))`,
        legend: '{{reason}}',
      },
    ],
  },
  {
    title: 'Alerts firing',
    description: 'Alerts of the shipped Prometheus rules that are pending or firing, by name and severity.',
    unit: 'short',
    type: 'stat',
    queries: [
      {
        expr: 'sum by (alertname, severity, alertstate) (ALERTS{service=~"$service"})',
        legend: '{{alertname}} {{severity}} {{alertstate}}',
      },
    ],
  },
];

const DATASOURCE = { type: 'prometheus', uid: '${datasource}' };

/**
 * Deploy markers on every time panel: a process (re)start, read from prom-client's process_start_time_seconds,
 * joined to app_build_info for the version it started with.
 */
export function deployAnnotationExpr(windowS: number): string {
  return (
    `(changes(process_start_time_seconds{${S}}[${windowS}s]) > 0 or (time() - process_start_time_seconds{${S}}) < ${windowS})` +
    ` * on (job, instance) group_left (version) ${METRIC.buildInfo}{${S}}`
  );
}
export const DEPLOY_ANNOTATION_EXPR = deployAnnotationExpr(120);

function panel(spec: PanelSpec, index: number): Record<string, unknown> {
  return {
    id: index + 1,
    type: spec.type ?? 'timeseries',
    title: spec.title,
    description: spec.description,
    datasource: DATASOURCE,
    gridPos: { h: 8, w: 12, x: (index % 2) * 12, y: Math.floor(index / 2) * 8 },
    fieldConfig: { defaults: { unit: spec.unit }, overrides: [] },
    options:
      spec.type === 'stat'
        ? { reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false }, textMode: 'value_and_name' }
        : { legend: { displayMode: 'list', placement: 'bottom' }, tooltip: { mode: 'multi' } },
    targets: spec.queries.map((q, i) => ({
      datasource: DATASOURCE,
      expr: q.expr,
      legendFormat: q.legend,
      refId: String.fromCharCode(65 + i),
    })),
  };
}

const variable = (name: string, label: string, query: string, all: boolean) => ({
  name,
  label,
  type: 'query',
  datasource: DATASOURCE,
  query: { query, refId: `${name}-query` },
  definition: query,
  refresh: 2,
  sort: 1,
  multi: all,
  includeAll: all,
  ...(all ? { allValue: '.*', current: { text: 'All', value: '$__all' } } : {}),
});

export function dashboard(): Record<string, unknown> {
  return {
    title: 'Real-time trading server',
    uid: 'realtime-trading-server',
    description: 'Connections, events, HTTP, resources, Redis and alerts of the real-time trading server.',
    tags: ['realtime', 'socket.io', 'nestjs'],
    editable: true,
    schemaVersion: 39,
    version: 1,
    refresh: '30s',
    time: { from: 'now-6h', to: 'now' },
    timezone: 'browser',
    annotations: {
      list: [
        {
          name: 'Deploys',
          datasource: DATASOURCE,
          enable: true,
          iconColor: 'purple',
          expr: DEPLOY_ANNOTATION_EXPR,
          step: '60s',
          titleFormat: 'start {{instance}}',
          textFormat: 'version {{version}}',
          useValueForTime: false,
        },
      ],
    },
    templating: {
      list: [
        { name: 'datasource', label: 'Datasource', type: 'datasource', query: 'prometheus', refresh: 1 },
        variable('service', 'Service', `label_values(${METRIC.wsConnections}, job)`, false),
        variable(
          'instance',
          'Instance',
          `label_values(${METRIC.wsConnections}{job=~"$service"}, instance)`,
          true,
        ),
      ],
    },
    panels: PANELS.map(panel),
  };
}

export function dashboardJson(): string {
  return JSON.stringify(dashboard(), null, 2) + '\n';
}

if (require.main === module) {
  writeFileSync(DASHBOARD_FILE, dashboardJson());
  console.log(`wrote ${DASHBOARD_FILE}`);
}
