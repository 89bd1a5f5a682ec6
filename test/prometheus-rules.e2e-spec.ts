import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { load } from 'js-yaml';
import { Registry } from 'prom-client';
import {
  DEFAULT_RULES_INPUT,
  PROMETHEUS_ONLY_KEYS,
  alertEnv,
  forDuration,
  generateRules,
  RULE_FILES,
} from '../deploy/prometheus/rules.generator';
import { METRIC_CONSECUTIVE, CONNECTIVITY_CONSECUTIVE } from '../src/alerts/alert-engine';
import { ALERT_KEYS, alertNameFor } from '../src/alerts/alert-keys';
import type { Monitor, Reading } from '../src/alerts/alert.types';
import { CpuMonitor } from '../src/alerts/monitors/cpu.monitor';
import { DeliveryMonitor } from '../src/alerts/monitors/delivery.monitor';
import { MemoryMonitor } from '../src/alerts/monitors/memory.monitor';
import { RedisMonitor } from '../src/alerts/monitors/redis.monitor';
import { TrafficMonitor } from '../src/alerts/monitors/traffic.monitor';
import { ClusterProbes } from '../src/cluster/cluster-probes';
import type { ClusterService } from '../src/cluster/cluster.service';
import { AppConfig } from '../src/config/app-config';
import { InstanceInfo } from '../src/lifecycle/instance-info';
import { SocketAdapterState } from '../src/realtime/socket-adapter-state';
import type { MetricsService } from '../src/metrics/metrics.service';
import type { RedisService } from '../src/redis/redis.service';
import { exposedMetricNames, metricNamesIn, requirePromtool } from './utils/promql';

const DIR = join(__dirname, '..', 'deploy', 'prometheus');

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
}

const rulesIn = (file: string): Rule[] =>
  (load(readFileSync(join(DIR, file), 'utf8')) as { groups: Array<{ rules: Rule[] }> }).groups.flatMap(
    (g) => g.rules,
  );
const alertRules = (): Rule[] =>
  [...rulesIn(RULE_FILES.alerts), ...rulesIn(RULE_FILES.slo)].filter((r) => r.alert);

/**
 * What the server's own monitors report: every key with its warning and critical level and its interval, read
 * from the monitors themselves (fed a default configuration and fake sources), not from the generator.
 */
async function monitorReadings(): Promise<Array<{ reading: Reading; intervalMs: number }>> {
  const config = new AppConfig(alertEnv({}));
  const metrics = {
    snapshot: () =>
      Promise.resolve({
        http: { errorRate: 0, latency: { p95: 0 } },
        websocket: { totalConnections: 0 },
        system: { eventLoopDelay: { p99: 0 } },
      }),
  } as unknown as MetricsService;
  const redis = {
    isConfigured: true,
    ping: () => Promise.resolve({ latencyMs: 1 }),
  } as unknown as RedisService;
  const monitors: Monitor[] = [
    new CpuMonitor(config),
    new MemoryMonitor(config),
    new TrafficMonitor(metrics, config),
    new RedisMonitor(redis, config),
    new DeliveryMonitor(
      new ClusterProbes(
        config,
        redis,
        new InstanceInfo(config),
        new SocketAdapterState(),
        { peers: () => Promise.resolve([]) } as unknown as ClusterService,
        new Registry(),
      ),
    ),
  ];
  const out: Array<{ reading: Reading; intervalMs: number }> = [];
  for (const m of monitors) {
    for (const reading of await m.check(new AbortController().signal))
      out.push({ reading, intervalMs: m.intervalMs });
  }
  return out;
}

describe('Prometheus rules (deploy/prometheus)', () => {
  it('are exactly what the generator writes from the schema defaults (run `npm run rules:generate`)', () => {
    for (const file of generateRules(alertEnv({}), DEFAULT_RULES_INPUT)) {
      expect({ file: file.path, content: readFileSync(join(DIR, file.path), 'utf8') }).toEqual({
        file: file.path,
        content: file.content,
      });
    }
  });

  it('have one rule per in-app alert key and level, with its threshold and the two-breach `for:`', async () => {
    const rules = alertRules();
    const readings = await monitorReadings();
    expect(new Set(readings.map((r) => r.reading.key))).toEqual(new Set(Object.values(ALERT_KEYS)));
    for (const { reading, intervalMs } of readings) {
      const mine = rules.filter((r) => r.labels?.alert_key === reading.key);
      if (reading.kind === 'connectivity') {
        expect(mine.map((r) => [r.labels?.severity, r.for])).toEqual([
          ['critical', forDuration(intervalMs, CONNECTIVITY_CONSECUTIVE)],
        ]);
        continue;
      }
      const bySeverity = Object.fromEntries(
        mine.map((r) => [
          r.labels?.severity,
          { threshold: Number(/>= ([\d.]+)$/.exec(r.expr)?.[1]), for: r.for },
        ]),
      );
      const expectedFor = forDuration(intervalMs, METRIC_CONSECUTIVE);
      expect({ key: reading.key, ...bySeverity }).toEqual({
        key: reading.key,
        warning: { threshold: reading.warning, for: expectedFor },
        critical: { threshold: reading.critical, for: expectedFor },
      });
    }
  });

  it('name every alert after its key, and use only known keys', () => {
    const known = new Set<string>([...Object.values(ALERT_KEYS), ...Object.values(PROMETHEUS_ONLY_KEYS)]);
    for (const r of alertRules()) {
      const key = r.labels?.alert_key ?? '';
      expect({ alert: r.alert, key, known: known.has(key) }).toEqual({
        alert: alertNameFor(key),
        key,
        known: true,
      });
      expect(['warning', 'critical']).toContain(r.labels?.severity);
    }
  });

  it('read only metrics the server exposes (or their own recording rules)', async () => {
    const all = [...rulesIn(RULE_FILES.alerts), ...rulesIn(RULE_FILES.slo)];
    const exposed = await exposedMetricNames();
    for (const r of all) if (r.record) exposed.add(r.record);
    const unknown = all.flatMap((r) => metricNamesIn(r.expr).filter((n) => !exposed.has(n)));
    expect(unknown).toEqual([]);
    // The check itself must catch a name the server does not have.
    expect(metricNamesIn('rate(http_requests_totl{job="x"}[1m])').filter((n) => !exposed.has(n))).toEqual([
      'http_requests_totl',
    ]);
  });

  it('exclude health probes from every HTTP rule, as the in-app windows do', () => {
    const http = [...rulesIn(RULE_FILES.alerts), ...rulesIn(RULE_FILES.slo)].filter((r) =>
      r.expr.includes('http_'),
    );
    expect(http.length).toBeGreaterThan(0);
    for (const r of http) {
      for (const selector of r.expr.match(/http_[a-z_]+\{[^}]*\}/g) ?? [])
        expect(selector).toContain('route!~"/health.*"');
    }
  });

  it('pass `promtool check rules` and every promtool unit test', () => {
    const promtool = requirePromtool();
    const run = (args: string[]) => {
      try {
        return execFileSync(promtool, args, { cwd: DIR, encoding: 'utf8', timeout: 60_000, stdio: 'pipe' });
      } catch (err) {
        const e = err as { stdout?: string; stderr?: string };
        throw new Error(`promtool ${args.join(' ')} failed:\n${e.stdout ?? ''}${e.stderr ?? ''}`);
      }
    };
    expect(run(['check', 'rules', RULE_FILES.alerts, RULE_FILES.slo])).toMatch(
      /SUCCESS: \d+ rules found[\s\S]*SUCCESS/,
    );
    const tested = run(['test', 'rules', RULE_FILES.alertsTest, RULE_FILES.sloTest]);
    expect(tested.match(/SUCCESS/g)).toHaveLength(2);
  });

  it("link every alert to its own section of the operations page's runbook", () => {
    const page = readFileSync(join(__dirname, '..', 'docs', 'operations-stack.md'), 'utf8');
    const headings = new Set([...page.matchAll(/^### (\S+)$/gm)].map((m) => m[1].toLowerCase()));
    for (const r of alertRules()) {
      const url = (r as Rule & { annotations: Record<string, string> }).annotations.runbook_url;
      expect(url).toBe(`docs/operations-stack.md#${(r.alert ?? '').toLowerCase()}`);
      expect({ alert: r.alert, section: headings.has((r.alert ?? '').toLowerCase()) }).toEqual({
        alert: r.alert,
        section: true,
      });
    }
  });

  it('have a promtool unit test for every alert', () => {
    const tested = new Set<string>();
    for (const file of [RULE_FILES.alertsTest, RULE_FILES.sloTest]) {
      const doc = load(readFileSync(join(DIR, file), 'utf8')) as {
        tests: Array<{ alert_rule_test: Array<{ alertname: string; exp_alerts: unknown[] }> }>;
      };
      for (const t of doc.tests)
        for (const c of t.alert_rule_test) if (c.exp_alerts.length > 0) tested.add(c.alertname);
    }
    expect([...tested].sort()).toEqual([...new Set(alertRules().map((r) => r.alert))].sort());
  });
});
