/**
 * Writes the Prometheus rules (and their promtool unit tests) from the thresholds, intervals, alert keys and metric
 * names the server itself uses, so the in-app alerts and the Prometheus ones cannot drift apart:
 *
 *   npm run rules:generate                       # the shipped files, from the schema's defaults
 *   ALERT_CPU_WARNING=60 npm run rules:generate -- --job=my-job --availability=99.95 --out=/tmp/rules
 *
 * Only ALERT_* variables and CLUSTER_PROBE_INTERVAL_MS (cluster.delivery's levels are counted in probe intervals)
 * are read from the environment (the same schema validates them as at start-up).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { dump } from 'js-yaml';
import { CONNECTIVITY_CONSECUTIVE, METRIC_CONSECUTIVE } from '../../src/alerts/alert-engine';
import { ALERT_KEYS, AlertKey, alertNameFor } from '../../src/alerts/alert-keys';
import { RESOURCE_LIMIT_METRICS } from '../../src/alerts/alerts.metrics';
import {
  DELIVERY_CRITICAL_INTERVALS,
  DELIVERY_WARNING_INTERVALS,
  deliveryCheckIntervalMs,
} from '../../src/cluster/cluster.metric-names';
import { Env, parseEnv } from '../../src/config/env.schema';
import { HTTP_DURATION_BUCKETS as HTTP_BUCKETS_S, METRIC, WS_DURATION_BUCKETS } from '../server-metrics';

/** Everything the rules depend on besides the server's own thresholds: the one place SLO targets are set. */
export interface RulesInput {
  /** The Prometheus scrape job of this server; every rule selects on it. */
  job: string;
  /** Where `runbook_url` points; each alert appends `#<alertname in lower case>`. */
  runbookBaseUrl: string;
  /** HTTP availability SLO: % of non-health requests answered without a 5xx, over 30 days. */
  availabilityTarget: number;
  /** WebSocket latency SLO: % of client events handled within `wsLatencyThresholdMs`, over 30 days. */
  wsLatencyTarget: number;
  /** Must be a bucket of ws_event_duration_seconds (in ms): the SLO counts the bucket's observations. */
  wsLatencyThresholdMs: number;
}

export const DEFAULT_RULES_INPUT: RulesInput = {
  job: 'realtime-trading-server',
  // The server's own default, so the rules and the alerts it pushes to Alertmanager link to the same page.
  runbookBaseUrl: parseEnv({}).ALERT_RUNBOOK_BASE_URL,
  availabilityTarget: 99.9,
  wsLatencyTarget: 99,
  wsLatencyThresholdMs: 100,
};

/** Alert keys that exist only in Prometheus: the in-app engine cannot see them (it runs inside the replica). */
export const PROMETHEUS_ONLY_KEYS = {
  replicaMissing: 'cluster.replica_missing',
  serviceDown: 'cluster.service_down',
  sloHttpAvailability: 'slo.http_availability',
  sloWsLatency: 'slo.ws_latency',
} as const;

/** Google SRE workbook, "multiwindow, multi-burn-rate alerts": long window, short window, burn-rate factor. */
export const BURN_RATE_WINDOWS = [
  { severity: 'critical', long: '1h', short: '5m', factor: 14.4 },
  { severity: 'critical', long: '6h', short: '30m', factor: 6 },
  { severity: 'warning', long: '1d', short: '2h', factor: 3 },
  { severity: 'warning', long: '3d', short: '6h', factor: 1 },
] as const;

/** A scrape interval and rule evaluation interval the promtool tests assume. */
const TEST_STEP_S = 15;
/** The in-app windows are 60 s; rate() over the same span. */
const RATE_WINDOW = '1m';
/** Scrapes that must fail in a row before a replica counts as missing (4 at a 15 s scrape interval). */
const REPLICA_MISSING_FOR = '1m';
const HEALTH_ROUTES = 'route!~"/health.*"';
const TEST_INSTANCE = '10.0.0.1:3000';

type Severity = 'warning' | 'critical';
type Unit = '%' | 'ms' | '';

interface Series {
  series: string;
  values: string;
}

/** One in-app threshold monitor and its Prometheus equivalent. */
interface ThresholdSpec {
  key: AlertKey;
  label: string;
  unit: Unit;
  warning: number;
  critical: number;
  /** How often the in-app monitor evaluates it. */
  intervalMs: number;
  /** The value in the monitor's unit, per job and instance. */
  expr: (sel: string) => string;
  /** Input series (for the promtool tests) under which `expr` is `value`; returns the value they really give. */
  inputs: (sel: string, value: number) => { series: Series[]; value: number };
}

export interface RuleGroup {
  name: string;
  interval?: string;
  rules: Array<Record<string, unknown>>;
}

export interface GeneratedFile {
  path: string;
  content: string;
}

const constant = (v: number) => `${v}+0x120`;
const increasing = (perStep: number) => `0+${perStep}x120`;

function thresholdSpecs(env: Env): ThresholdSpec[] {
  const evalMs = env.ALERT_EVAL_INTERVAL_MS;
  const memMs = env.ALERT_MEMORY_INTERVAL_MS;
  const redisMs = env.ALERT_REDIS_INTERVAL_MS;
  const gauge = (name: string, scale: number) => (sel: string, value: number) => ({
    series: [{ series: `${name}{${sel}}`, values: constant(value / scale) }],
    value,
  });
  const share = (used: string, limit: string) => (sel: string, value: number) => ({
    series: [
      { series: `${used}{${sel}}`, values: constant((value / 100) * 1e9) },
      { series: `${limit}{${sel}}`, values: constant(1e9) },
    ],
    value,
  });
  return [
    {
      key: ALERT_KEYS.cpu,
      label: 'CPU usage',
      unit: '%',
      warning: env.ALERT_CPU_WARNING,
      critical: env.ALERT_CPU_CRITICAL,
      intervalMs: evalMs,
      expr: (s) =>
        `100 * rate(process_cpu_seconds_total{${s}}[${RATE_WINDOW}]) / ${RESOURCE_LIMIT_METRICS.cpuLimit}{${s}}`,
      inputs: (s, value) => ({
        // Two CPUs, so the test fails if the rule forgets to divide by the limit.
        series: [
          { series: `process_cpu_seconds_total{${s}}`, values: increasing((value / 100) * 2 * TEST_STEP_S) },
          { series: `${RESOURCE_LIMIT_METRICS.cpuLimit}{${s}}`, values: constant(2) },
        ],
        value,
      }),
    },
    {
      key: ALERT_KEYS.memory,
      label: 'Memory usage',
      unit: '%',
      warning: env.ALERT_MEMORY_WARNING,
      critical: env.ALERT_MEMORY_CRITICAL,
      intervalMs: memMs,
      expr: (s) => `100 * process_resident_memory_bytes{${s}} / ${RESOURCE_LIMIT_METRICS.memoryLimit}{${s}}`,
      inputs: share('process_resident_memory_bytes', RESOURCE_LIMIT_METRICS.memoryLimit),
    },
    {
      key: ALERT_KEYS.heap,
      label: 'V8 heap usage',
      unit: '%',
      warning: env.ALERT_HEAP_WARNING,
      critical: env.ALERT_HEAP_CRITICAL,
      intervalMs: memMs,
      expr: (s) => `100 * nodejs_heap_size_used_bytes{${s}} / ${RESOURCE_LIMIT_METRICS.heapLimit}{${s}}`,
      inputs: share('nodejs_heap_size_used_bytes', RESOURCE_LIMIT_METRICS.heapLimit),
    },
    {
      key: ALERT_KEYS.httpErrorRate,
      label: 'HTTP error rate',
      unit: '%',
      warning: env.ALERT_ERROR_RATE_WARNING,
      critical: env.ALERT_ERROR_RATE_CRITICAL,
      intervalMs: evalMs,
      expr: (s) =>
        `100 * sum by (job, instance) (rate(${METRIC.httpRequests}{${s}, ${HEALTH_ROUTES}, status_code=~"5.."}[${RATE_WINDOW}]))` +
        ` / sum by (job, instance) (rate(${METRIC.httpRequests}{${s}, ${HEALTH_ROUTES}}[${RATE_WINDOW}]))`,
      inputs: (s, value) => ({
        series: [
          {
            series: `${METRIC.httpRequests}{${s}, method="POST", route="/events", status_code="500"}`,
            values: increasing(value),
          },
          {
            series: `${METRIC.httpRequests}{${s}, method="POST", route="/events", status_code="200"}`,
            values: increasing(100 - value),
          },
          // Failing health probes must not count: without the exclusion these would dominate the ratio.
          {
            series: `${METRIC.httpRequests}{${s}, method="GET", route="/health/ready", status_code="503"}`,
            values: increasing(1000),
          },
        ],
        value,
      }),
    },
    {
      key: ALERT_KEYS.httpResponseTime,
      label: 'HTTP response time p95',
      unit: 'ms',
      warning: env.ALERT_RESPONSE_TIME_WARNING,
      critical: env.ALERT_RESPONSE_TIME_CRITICAL,
      intervalMs: evalMs,
      expr: (s) =>
        `1000 * histogram_quantile(0.95, sum by (job, instance, le) (rate(${METRIC.httpRequestDuration}_bucket{${s}, ${HEALTH_ROUTES}}[${RATE_WINDOW}])))`,
      inputs: (s, value) => p95Inputs(s, value),
    },
    {
      key: ALERT_KEYS.redisLatency,
      label: 'Redis latency',
      unit: 'ms',
      warning: env.ALERT_REDIS_LATENCY_WARNING,
      critical: env.ALERT_REDIS_LATENCY_CRITICAL,
      intervalMs: redisMs,
      expr: (s) => `1000 * ${METRIC.redisLatency}{${s}}`,
      inputs: gauge(METRIC.redisLatency, 1000),
    },
    {
      key: ALERT_KEYS.connections,
      label: 'Active connections',
      unit: '',
      warning: env.ALERT_CONNECTIONS_WARNING,
      critical: env.ALERT_CONNECTIONS_CRITICAL,
      intervalMs: evalMs,
      expr: (s) => `${METRIC.wsConnections}{${s}}`,
      inputs: gauge(METRIC.wsConnections, 1),
    },
    {
      key: ALERT_KEYS.eventLoopDelay,
      label: 'Event-loop delay p99',
      unit: 'ms',
      warning: env.ALERT_EVENT_LOOP_DELAY_WARNING,
      critical: env.ALERT_EVENT_LOOP_DELAY_CRITICAL,
      intervalMs: evalMs,
      // prom-client resets its event-loop histogram at every scrape: the worst p99 of the last minute.
      expr: (s) => `1000 * max_over_time(nodejs_eventloop_lag_p99_seconds{${s}}[${RATE_WINDOW}])`,
      inputs: gauge('nodejs_eventloop_lag_p99_seconds', 1000),
    },
    {
      key: ALERT_KEYS.clusterDelivery,
      label: 'Cross-replica probe silence',
      unit: 'ms',
      warning: env.CLUSTER_PROBE_INTERVAL_MS * DELIVERY_WARNING_INTERVALS,
      critical: env.CLUSTER_PROBE_INTERVAL_MS * DELIVERY_CRITICAL_INTERVALS,
      intervalMs: deliveryCheckIntervalMs(env.CLUSTER_PROBE_INTERVAL_MS),
      // The replica's own verdict (a live peer's probes late while its heartbeat continues), exported as a gauge.
      expr: (s) => `1000 * ${METRIC.deliverySilence}{${s}}`,
      inputs: gauge(METRIC.deliverySilence, 1000),
    },
  ];
}

/**
 * Every request in the one HTTP bucket whose interpolated p95 (lower + 0.95 × width, as histogram_quantile
 * computes it) first reaches `atLeast`; the value it yields is returned, since buckets cannot give any value.
 */
function p95Inputs(sel: string, atLeast: number): { series: Series[]; value: number } {
  const bounds = [0, ...HTTP_BUCKETS_S];
  let index = bounds.length - 1;
  for (let i = 1; i < bounds.length; i++) {
    if ((bounds[i - 1] + 0.95 * (bounds[i] - bounds[i - 1])) * 1000 >= atLeast) {
      index = i;
      break;
    }
  }
  const value = (bounds[index - 1] + 0.95 * (bounds[index] - bounds[index - 1])) * 1000;
  const series = [...HTTP_BUCKETS_S.map(String), '+Inf'].map((le, i) => ({
    series: `${METRIC.httpRequestDuration}_bucket{${sel}, method="GET", route="/alerts", status_code="200", le="${le}"}`,
    values: increasing(i + 1 >= index ? 100 : 0),
  }));
  // Slow health probes must not count either.
  series.push({
    series: `${METRIC.httpRequestDuration}_bucket{${sel}, method="GET", route="/health", status_code="200", le="0.001"}`,
    values: increasing(0),
  });
  return { series, value };
}

/** A Prometheus duration for a whole number of milliseconds. */
export function promDuration(ms: number): string {
  if (ms === 0) return '0s';
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

/** The two-breach rule: N consecutive evaluations one interval apart hold for (N − 1) intervals. */
export function forDuration(intervalMs: number, consecutive: number): string {
  return promDuration((consecutive - 1) * intervalMs);
}

const unitText = (u: Unit) => (u === '' ? '' : u === '%' ? '%' : ' ms');

function runbook(input: RulesInput, alertname: string): string {
  return `${input.runbookBaseUrl}#${alertname.toLowerCase()}`;
}

interface AlertRuleSpec {
  alert: string;
  expr: string;
  for: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

function alertRule(spec: AlertRuleSpec): Record<string, unknown> {
  return {
    alert: spec.alert,
    expr: spec.expr,
    for: spec.for,
    labels: spec.labels,
    annotations: spec.annotations,
  };
}

/** `value` and `instance` are templates in the rule and the rendered text in a test's expectation. */
function thresholdAnnotations(
  t: ThresholdSpec,
  severity: Severity,
  input: RulesInput,
  value: string,
  instance: string,
) {
  const name = alertNameFor(t.key);
  const level = t[severity];
  return {
    summary: `${t.label} at or above the ${severity} threshold (${level}${unitText(t.unit)})`,
    description: `${t.label} is ${value}${unitText(t.unit)} on ${instance} (${severity} at ${level}${unitText(t.unit)})`,
    runbook_url: runbook(input, name),
  };
}

const SEVERITIES: Severity[] = ['warning', 'critical'];
const VALUE_TEMPLATE = '{{ $value | printf "%.1f" }}';
const INSTANCE_TEMPLATE = '{{ $labels.instance }}';
const JOB_TEMPLATE = '{{ $labels.job }}';

function keyLabels(key: string, severity: Severity): Record<string, string> {
  return { severity, alert_key: key, service: JOB_TEMPLATE };
}

export function selector(input: RulesInput): string {
  return `job="${input.job}"`;
}

function thresholdGroup(env: Env, input: RulesInput): RuleGroup {
  const sel = selector(input);
  const rules: Array<Record<string, unknown>> = [];
  for (const t of thresholdSpecs(env)) {
    for (const severity of SEVERITIES) {
      rules.push(
        alertRule({
          alert: alertNameFor(t.key),
          expr: `${t.expr(sel)} >= ${t[severity]}`,
          for: forDuration(t.intervalMs, METRIC_CONSECUTIVE),
          labels: keyLabels(t.key, severity),
          annotations: thresholdAnnotations(t, severity, input, VALUE_TEMPLATE, INSTANCE_TEMPLATE),
        }),
      );
    }
  }
  rules.push(
    alertRule({
      alert: alertNameFor(ALERT_KEYS.redisDown),
      expr: `${METRIC.redisUp}{${sel}} == 0`,
      for: forDuration(env.ALERT_REDIS_INTERVAL_MS, CONNECTIVITY_CONSECUTIVE),
      labels: keyLabels(ALERT_KEYS.redisDown, 'critical'),
      annotations: {
        summary: 'Redis is unreachable',
        description: 'Redis did not answer PING and INFO from {{ $labels.instance }}',
        runbook_url: runbook(input, alertNameFor(ALERT_KEYS.redisDown)),
      },
    }),
    alertRule({
      alert: alertNameFor(PROMETHEUS_ONLY_KEYS.replicaMissing),
      expr: `up{${sel}} == 0`,
      for: REPLICA_MISSING_FOR,
      labels: keyLabels(PROMETHEUS_ONLY_KEYS.replicaMissing, 'warning'),
      annotations: {
        summary: 'A replica is missing from the cluster',
        description: 'Prometheus cannot scrape {{ $labels.instance }}: the replica is down or unreachable',
        runbook_url: runbook(input, alertNameFor(PROMETHEUS_ONLY_KEYS.replicaMissing)),
      },
    }),
    alertRule({
      alert: alertNameFor(PROMETHEUS_ONLY_KEYS.serviceDown),
      // absent() carries the job label only for a bare selector, hence the two halves.
      expr: `sum by (job) (up{${sel}}) == 0 or absent(up{${sel}})`,
      for: REPLICA_MISSING_FOR,
      labels: keyLabels(PROMETHEUS_ONLY_KEYS.serviceDown, 'critical'),
      annotations: {
        summary: 'No replica of the service can be scraped',
        description:
          'Every replica of {{ $labels.job }} is down or unreachable (or none is configured to be scraped)',
        runbook_url: runbook(input, alertNameFor(PROMETHEUS_ONLY_KEYS.serviceDown)),
      },
    }),
  );
  return { name: `${input.job}-alerts`, rules };
}

interface SloSpec {
  key: string;
  /** Recording-rule name stem: `<stem>:ratio_rate<window>`. */
  stem: string;
  target: number;
  summary: string;
  /** Share of bad events over a window, per job. */
  badRatio: (sel: string, window: string) => string;
}

function sloSpecs(input: RulesInput): SloSpec[] {
  const le = wsLatencyBucket(input.wsLatencyThresholdMs);
  return [
    {
      key: PROMETHEUS_ONLY_KEYS.sloHttpAvailability,
      stem: 'job:slo_http_errors',
      target: input.availabilityTarget,
      summary: `HTTP availability SLO (${input.availabilityTarget}% of requests without a 5xx, health probes excluded)`,
      badRatio: (s, w) =>
        `sum by (job) (rate(${METRIC.httpRequests}{${s}, ${HEALTH_ROUTES}, status_code=~"5.."}[${w}]))` +
        ` / sum by (job) (rate(${METRIC.httpRequests}{${s}, ${HEALTH_ROUTES}}[${w}]))`,
    },
    {
      key: PROMETHEUS_ONLY_KEYS.sloWsLatency,
      stem: 'job:slo_ws_slow_events',
      target: input.wsLatencyTarget,
      summary: `WebSocket latency SLO (${input.wsLatencyTarget}% of events handled within ${input.wsLatencyThresholdMs} ms)`,
      badRatio: (s, w) =>
        `1 - sum by (job) (rate(${METRIC.wsEventDuration}_bucket{${s}, le="${le}"}[${w}]))` +
        ` / sum by (job) (rate(${METRIC.wsEventDuration}_count{${s}}[${w}]))`,
    },
  ];
}

/** The `le` label of the ws_event_duration_seconds bucket at the threshold; refuses a threshold that is not one. */
export function wsLatencyBucket(thresholdMs: number): string {
  const bucket = WS_DURATION_BUCKETS.find((b) => Math.abs(b * 1000 - thresholdMs) < 1e-9);
  if (bucket === undefined) {
    throw new Error(
      `the WebSocket latency threshold must be a bucket of ${METRIC.wsEventDuration}: one of ${WS_DURATION_BUCKETS.map((b) => b * 1000).join(', ')} ms`,
    );
  }
  return String(bucket);
}

const SLO_WINDOWS = [...new Set(BURN_RATE_WINDOWS.flatMap((w) => [w.short, w.long]))];

function sloGroups(input: RulesInput): RuleGroup[] {
  const sel = selector(input);
  const recording: Array<Record<string, unknown>> = [];
  const alerts: Array<Record<string, unknown>> = [];
  for (const slo of sloSpecs(input)) {
    for (const w of SLO_WINDOWS)
      recording.push({ record: `${slo.stem}:ratio_rate${w}`, expr: slo.badRatio(sel, w) });
    const budget = budgetOf(slo.target);
    for (const severity of SEVERITIES) {
      const conditions = BURN_RATE_WINDOWS.filter((w) => w.severity === severity).map(
        (w) =>
          `(${slo.stem}:ratio_rate${w.long}{${sel}} > ${w.factor} * ${budget}` +
          ` and ${slo.stem}:ratio_rate${w.short}{${sel}} > ${w.factor} * ${budget})`,
      );
      const name = alertNameFor(slo.key);
      alerts.push(
        alertRule({
          alert: name,
          expr: conditions.join('\nor\n'),
          for: '0s',
          labels: keyLabels(slo.key, severity),
          annotations: sloAnnotations(slo, severity, input, JOB_TEMPLATE),
        }),
      );
    }
  }
  return [
    { name: `${input.job}-slo-recording`, rules: recording },
    { name: `${input.job}-slo-alerts`, rules: alerts },
  ];
}

/** The error budget as a ratio, rounded so 100 − 99.9 prints as 0.001 and not 0.0009999999999976694. */
export function budgetOf(targetPercent: number): number {
  return Number(((100 - targetPercent) / 100).toPrecision(12));
}

function sloAnnotations(
  slo: SloSpec,
  severity: Severity,
  input: RulesInput,
  job: string,
): Record<string, string> {
  const pace =
    severity === 'critical'
      ? 'at 14.4x (1h) or 6x (6h) the sustainable rate: 2% or 5% of the 30-day budget gone'
      : 'at 3x (1d) or 1x (3d) the sustainable rate: 10% of the 30-day budget gone';
  return {
    summary: `${slo.summary} is burning its error budget too fast`,
    description: `${job} is spending its error budget ${pace}`,
    runbook_url: runbook(input, alertNameFor(slo.key)),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// promtool unit tests: input series → the alerts expected, with their exact labels and annotations.

interface AlertTestCase {
  eval_time: string;
  alertname: string;
  exp_alerts: Array<{ exp_labels: Record<string, string>; exp_annotations: Record<string, string> }>;
}

interface PromtoolTest {
  name: string;
  interval: string;
  input_series: Series[];
  alert_rule_test: AlertTestCase[];
}

/** Go's %.1f of the value the input gives (the values used are never at a .x5 tie, where rounding could differ). */
const fmt1 = (v: number) => v.toFixed(1);

function thresholdTests(env: Env, input: RulesInput): PromtoolTest[] {
  const sel = `${selector(input)}, instance="${TEST_INSTANCE}"`;
  const out: PromtoolTest[] = [];
  for (const t of thresholdSpecs(env)) {
    const name = alertNameFor(t.key);
    const forMs = (METRIC_CONSECUTIVE - 1) * t.intervalMs;
    const fired = Math.ceil((forMs + 120_000) / 1000);
    const cap = t.unit === '%' ? 100 : Number.POSITIVE_INFINITY;
    const targets = [
      { what: 'below the warning threshold', value: t.warning / 2 },
      { what: 'between the thresholds', value: (t.warning + t.critical) / 2 },
      { what: 'above the critical threshold', value: Math.min(cap, t.critical * 1.5) },
    ];
    for (const target of targets) {
      const { series, value } = t.inputs(sel, target.value);
      const expected = SEVERITIES.filter((s) => value >= t[s]).map((severity) => ({
        exp_labels: {
          ...keyLabels(t.key, severity),
          service: input.job,
          job: input.job,
          instance: TEST_INSTANCE,
        },
        exp_annotations: thresholdAnnotations(t, severity, input, fmt1(value), TEST_INSTANCE),
      }));
      const cases: AlertTestCase[] = [{ eval_time: `${fired}s`, alertname: name, exp_alerts: expected }];
      // One evaluation short of the two-breach span: pending, not firing yet (a span shorter than one test step,
      // as cluster.delivery's quarter-interval checks give, has no such evaluation).
      if (forMs > TEST_STEP_S * 1000)
        cases.unshift({ eval_time: `${forMs / 1000 - TEST_STEP_S}s`, alertname: name, exp_alerts: [] });
      out.push({
        name: `${name} ${target.what} (${fmt1(value)}${unitText(t.unit)})`,
        interval: `${TEST_STEP_S}s`,
        input_series: series,
        alert_rule_test: cases,
      });
    }
  }
  return out;
}

function connectivityTests(input: RulesInput): PromtoolTest[] {
  const job = input.job;
  const sel = (instance: string) => `${selector(input)}, instance="${instance}"`;
  const labels = (key: string, severity: Severity, instance?: string) => ({
    ...keyLabels(key, severity),
    service: job,
    job,
    ...(instance === undefined ? {} : { instance }),
  });
  const redis = alertNameFor(ALERT_KEYS.redisDown);
  const replica = alertNameFor(PROMETHEUS_ONLY_KEYS.replicaMissing);
  const service = alertNameFor(PROMETHEUS_ONLY_KEYS.serviceDown);
  const redisAnnotations = {
    summary: 'Redis is unreachable',
    description: `Redis did not answer PING and INFO from ${TEST_INSTANCE}`,
    runbook_url: runbook(input, redis),
  };
  return [
    {
      name: `${redis} fires on the first failed sample and resolves when Redis answers`,
      interval: `${TEST_STEP_S}s`,
      input_series: [{ series: `${METRIC.redisUp}{${sel(TEST_INSTANCE)}}`, values: '1 1 0 0 0 1 1' }],
      alert_rule_test: [
        { eval_time: '15s', alertname: redis, exp_alerts: [] },
        {
          eval_time: '30s',
          alertname: redis,
          exp_alerts: [
            {
              exp_labels: labels(ALERT_KEYS.redisDown, 'critical', TEST_INSTANCE),
              exp_annotations: redisAnnotations,
            },
          ],
        },
        { eval_time: '75s', alertname: redis, exp_alerts: [] },
      ],
    },
    {
      name: `${replica} for one unreachable replica, ${service} when none answers`,
      interval: `${TEST_STEP_S}s`,
      input_series: [
        { series: `up{${sel('10.0.0.1:3000')}}`, values: '0x20' },
        { series: `up{${sel('10.0.0.2:3000')}}`, values: '1x10 0x10' },
      ],
      alert_rule_test: [
        { eval_time: '45s', alertname: replica, exp_alerts: [] },
        {
          eval_time: '90s',
          alertname: replica,
          exp_alerts: [
            {
              exp_labels: labels(PROMETHEUS_ONLY_KEYS.replicaMissing, 'warning', '10.0.0.1:3000'),
              exp_annotations: {
                summary: 'A replica is missing from the cluster',
                description: 'Prometheus cannot scrape 10.0.0.1:3000: the replica is down or unreachable',
                runbook_url: runbook(input, replica),
              },
            },
          ],
        },
        { eval_time: '90s', alertname: service, exp_alerts: [] },
        {
          eval_time: '240s',
          alertname: service,
          exp_alerts: [
            {
              exp_labels: labels(PROMETHEUS_ONLY_KEYS.serviceDown, 'critical'),
              exp_annotations: {
                summary: 'No replica of the service can be scraped',
                description: `Every replica of ${job} is down or unreachable (or none is configured to be scraped)`,
                runbook_url: runbook(input, service),
              },
            },
          ],
        },
      ],
    },
  ];
}

/** Bad-event shares for each SLO test: one that pages, one that only opens a ticket, one within budget. */
function sloTests(input: RulesInput): PromtoolTest[] {
  const out: PromtoolTest[] = [];
  const sel = `${selector(input)}, instance="${TEST_INSTANCE}"`;
  const le = wsLatencyBucket(input.wsLatencyThresholdMs);
  for (const slo of sloSpecs(input)) {
    const budget = budgetOf(slo.target);
    const name = alertNameFor(slo.key);
    const cases = [
      // Above 14.4× the budget: both the page and (its long windows being above 3× too) the ticket.
      { what: 'pages and opens a ticket', badRatio: Math.min(1, 20 * budget), severities: SEVERITIES },
      { what: 'opens a ticket only', badRatio: 4 * budget, severities: ['warning'] as Severity[] },
      { what: 'stays quiet within budget', badRatio: 0.5 * budget, severities: [] as Severity[] },
    ];
    for (const c of cases) {
      const total = 10_000; // events per minute
      const bad = Math.round(total * c.badRatio);
      const series: Series[] =
        slo.key === PROMETHEUS_ONLY_KEYS.sloHttpAvailability
          ? [
              {
                series: `${METRIC.httpRequests}{${sel}, method="POST", route="/events", status_code="503"}`,
                values: `0+${bad}x80`,
              },
              {
                series: `${METRIC.httpRequests}{${sel}, method="POST", route="/events", status_code="200"}`,
                values: `0+${total - bad}x80`,
              },
              {
                series: `${METRIC.httpRequests}{${sel}, method="GET", route="/health/ready", status_code="503"}`,
                values: `0+${total}x80`,
              },
            ]
          : [
              {
                series: `${METRIC.wsEventDuration}_bucket{${sel}, event="portfolio:subscribe", le="${le}"}`,
                values: `0+${total - bad}x80`,
              },
              {
                series: `${METRIC.wsEventDuration}_count{${sel}, event="portfolio:subscribe"}`,
                values: `0+${total}x80`,
              },
            ];
      out.push({
        name: `${name} ${c.what} (${(c.badRatio * 100).toPrecision(3)}% bad, budget ${(budget * 100).toPrecision(3)}%)`,
        interval: '1m',
        input_series: series,
        alert_rule_test: [
          {
            // Past the page's long window (1h); the longer windows see the same ratio over the data they have.
            eval_time: '70m',
            alertname: name,
            exp_alerts: c.severities.map((severity) => ({
              exp_labels: { ...keyLabels(slo.key, severity), service: input.job, job: input.job },
              exp_annotations: sloAnnotations(slo, severity, input, input.job),
            })),
          },
        ],
      });
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------

const HEADER = (what: string) =>
  `# Generated by \`npm run rules:generate\` (deploy/prometheus/rules.generator.ts) from the server's ${what}.\n` +
  '# Do not edit by hand: change the inputs and regenerate (test/prometheus-rules.e2e-spec.ts checks it).\n';

const yaml = (value: unknown) => dump(value, { lineWidth: 120, noRefs: true, quotingType: '"' });

export const RULE_FILES = {
  alerts: 'alerts.rules.yml',
  slo: 'slo.rules.yml',
  alertsTest: 'tests/alerts.test.yml',
  sloTest: 'tests/slo.test.yml',
} as const;

/** The rule groups, as Prometheus loads them (exported for the checks that compare them with the server). */
export function ruleGroups(env: Env, input: RulesInput): { alerts: RuleGroup[]; slo: RuleGroup[] } {
  return { alerts: [thresholdGroup(env, input)], slo: sloGroups(input) };
}

export function generateRules(env: Env, input: RulesInput = DEFAULT_RULES_INPUT): GeneratedFile[] {
  const groups = ruleGroups(env, input);
  const testFile = (ruleFile: string, evaluationInterval: string, tests: PromtoolTest[]) =>
    yaml({ rule_files: [`../${ruleFile}`], evaluation_interval: evaluationInterval, tests });
  return [
    {
      path: RULE_FILES.alerts,
      content: HEADER('alert thresholds and keys') + yaml({ groups: groups.alerts }),
    },
    { path: RULE_FILES.slo, content: HEADER('SLO targets') + yaml({ groups: groups.slo }) },
    {
      path: RULE_FILES.alertsTest,
      content:
        HEADER('alert thresholds') +
        testFile(RULE_FILES.alerts, `${TEST_STEP_S}s`, [
          ...thresholdTests(env, input),
          ...connectivityTests(input),
        ]),
    },
    {
      path: RULE_FILES.sloTest,
      content: HEADER('SLO targets') + testFile(RULE_FILES.slo, '1m', sloTests(input)),
    },
  ];
}

/** The thresholds and intervals as the server parses them: ALERT_* variables only, defaults for the rest. */
export function alertEnv(source: Record<string, string | undefined>): Env {
  const picked: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(source))
    if (k.startsWith('ALERT_') || k === 'CLUSTER_PROBE_INTERVAL_MS') picked[k] = v;
  return parseEnv(picked);
}

function parseArgs(argv: string[]): { input: RulesInput; out: string } {
  const input = { ...DEFAULT_RULES_INPUT };
  let out = resolve(__dirname);
  for (const arg of argv) {
    const m = /^--([a-z-]+)=(.*)$/.exec(arg);
    if (m === null) throw new Error(`unknown argument ${arg}`);
    const [, flag, value] = m;
    const number = () => {
      const n = Number(value);
      if (!Number.isFinite(n) || n <= 0 || n >= 100)
        throw new Error(`--${flag} must be a percentage between 0 and 100`);
      return n;
    };
    if (flag === 'job') input.job = value;
    else if (flag === 'runbook-base-url') input.runbookBaseUrl = value;
    else if (flag === 'availability') input.availabilityTarget = number();
    else if (flag === 'ws-latency') input.wsLatencyTarget = number();
    else if (flag === 'ws-latency-ms') input.wsLatencyThresholdMs = Number(value);
    else if (flag === 'out') out = resolve(value);
    else throw new Error(`unknown flag --${flag}`);
  }
  wsLatencyBucket(input.wsLatencyThresholdMs);
  return { input, out };
}

if (require.main === module) {
  const { input, out } = parseArgs(process.argv.slice(2));
  for (const file of generateRules(alertEnv(process.env), input)) {
    const path = join(out, file.path);
    mkdirSync(join(path, '..'), { recursive: true });
    writeFileSync(path, file.content);
    console.log(`wrote ${path}`);
  }
}
