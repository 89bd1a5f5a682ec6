import { execFileSync } from 'node:child_process';
import { createMetricsRegistry } from '../../src/metrics/metrics.registry';
import { METRIC } from '../../deploy/server-metrics';
import { ALERT_NOTIFICATIONS_METRIC } from '../../src/alerts/alert-dispatcher';
import { RESOURCE_LIMIT_METRICS } from '../../src/alerts/alerts.metrics';

const KEYWORDS = new Set([
  'and',
  'or',
  'unless',
  'bool',
  'offset',
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'inf',
  'nan',
]);

/**
 * The metric names a PromQL expression reads: identifiers left once strings, label matchers, ranges, grouping
 * clauses, Grafana variables and function calls are taken out. Enough for the expressions this project ships.
 */
export function metricNamesIn(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\$\{?\w+\}?/g, ' ')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const names = new Set<string>();
  for (const m of stripped.matchAll(/([A-Za-z_:][A-Za-z0-9_:]*)(\s*\()?/g)) {
    if (m[2] !== undefined || KEYWORDS.has(m[1].toLowerCase())) continue;
    if (/^\d/.test(m[1])) continue;
    names.add(m[1]);
  }
  return [...names];
}

/** Every name this server can expose (histograms with their series suffixes), plus Prometheus's own `up`. */
export async function exposedMetricNames(): Promise<Set<string>> {
  const bases = [
    ...Object.values(METRIC),
    ...Object.values(RESOURCE_LIMIT_METRICS),
    ALERT_NOTIFICATIONS_METRIC,
    ...(await createMetricsRegistry(true).getMetricsAsJSON()).map((m) => m.name),
  ];
  const names = new Set<string>(['up']);
  for (const b of bases) for (const suffix of ['', '_bucket', '_count', '_sum']) names.add(b + suffix);
  return names;
}

/** promtool's path, or a clear failure: these checks are part of `npm test` (`.ci/run` installs prometheus). */
export function requirePromtool(): string {
  try {
    execFileSync('promtool', ['--version'], { stdio: 'pipe', timeout: 10_000 });
    return 'promtool';
  } catch {
    throw new Error('promtool is not installed: apt-get install prometheus (or run .ci/run)');
  }
}
