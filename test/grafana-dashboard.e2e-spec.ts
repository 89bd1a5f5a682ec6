import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { load } from 'js-yaml';
import type { Socket } from 'socket.io-client';
import {
  DASHBOARD_FILE,
  dashboardJson,
  DEPLOY_ANNOTATION_EXPR,
  deployAnnotationExpr,
  PANELS,
} from '../deploy/grafana/dashboard.generator';
import { DEFAULT_RULES_INPUT, RULE_FILES } from '../deploy/prometheus/rules.generator';
import { METRIC } from '../deploy/server-metrics';
import { APP_VERSION } from '../src/common/version';
import { freePort } from './utils/ports';
import { metricNamesIn } from './utils/promql';
import { PROMETHEUS_BIN, PrometheusTestServer } from './utils/prometheus-server';
import { RedisTestServer } from './utils/redis-server';
import { connectClient, emitAck } from './utils/socket-client';
import { createTestApp, TestApp } from './utils/test-app';

const JOB = DEFAULT_RULES_INPUT.job;
const TOKEN = 'scrape-token-0123456789';
const RULES_DIR = join(__dirname, '..', 'deploy', 'prometheus');

/** What Grafana substitutes before a query reaches Prometheus: this job, every instance, a 1-minute rate window. */
const substitute = (expr: string) =>
  expr
    .replace(/\$service/g, JOB)
    .replace(/\$instance/g, '.*')
    .replace(/\$__rate_interval/g, '1m');

/**
 * Only Prometheus's own series and the alert rules' state are not scraped from the server; every other name a
 * panel reads must be one the server's exposition declared (its metadata: a counter with no sample yet counts).
 */
const PROMETHEUS_OWN = new Set(['up', 'ALERTS']);

describe('Grafana dashboard against a live Prometheus scraping the server', () => {
  if (!existsSync(PROMETHEUS_BIN)) {
    it('needs Debian prometheus', () => {
      throw new Error(`${PROMETHEUS_BIN} is missing: apt-get install prometheus (or run .ci/run)`);
    });
    return;
  }

  const redis = new RedisTestServer();
  const prometheus = new PrometheusTestServer();
  let t: TestApp;
  /** A second replica on the same Redis, so the scraped one has a peer to receive delivery probes from. */
  let peer: TestApp;
  let appTarget: string;
  const sockets: Socket[] = [];

  beforeAll(async () => {
    await redis.start();
    const replica = (id: string) =>
      createTestApp({
        REDIS_URL: redis.url,
        METRICS_TOKEN: TOKEN,
        RAILWAY_REPLICA_ID: id,
        CLUSTER_HEARTBEAT_MS: '200',
        CLUSTER_PROBE_INTERVAL_MS: '200',
        WS_BACKLOG_SAMPLE_MS: '200',
      });
    [t, peer] = await Promise.all([replica('grafana-a'), replica('grafana-b')]);
    appTarget = new URL(t.url).host;
    // A second target nobody listens on: a replica missing from the cluster, so the alert panel has an alert.
    const missing = `127.0.0.1:${await freePort()}`;
    await prometheus.startScraping(
      [{ job: JOB, targets: [appTarget, missing], metricsPath: '/metrics/prometheus', bearerToken: TOKEN }],
      [join(RULES_DIR, RULE_FILES.alerts), join(RULES_DIR, RULE_FILES.slo)],
    );
    // Traffic for every panel: connections, good and failed events, HTTP.
    const alice = await connectClient(t.url, 'alice', ['p1']);
    sockets.push(alice);
    await emitAck(alice, 'portfolio:subscribe', { portfolioId: 'p1' });
    await emitAck(alice, 'portfolio:subscribe', { portfolioId: 'p2' });
    await fetch(`${t.url}/alerts`, { headers: { authorization: `Bearer ${TOKEN}` } });
    await prometheus.waitFor('two scrapes with the events', async () => {
      const r = await prometheus.query(
        `count_over_time(${METRIC.wsEventDuration}_count{instance="${appTarget}", event="portfolio:subscribe"}[1m]) >= 2`,
      );
      return r.status === 'success' && r.data.result.length > 0;
    });
    await prometheus.waitFor('a probe age for the peer', async () => {
      const r = await prometheus.query(`${METRIC.probeAge}{instance="${appTarget}", peer="grafana-b"}`);
      return r.status === 'success' && r.data.result.length > 0;
    });
    await prometheus.waitFor('the missing replica pending', async () => {
      const r = await prometheus.query('ALERTS{alertname="ClusterReplicaMissing"}');
      return r.status === 'success' && r.data.result.length > 0;
    });
  }, 60_000);

  afterAll(async () => {
    for (const s of sockets) s.disconnect();
    await prometheus.stop();
    await t?.close();
    await peer?.close();
    await redis.stop();
  });

  it('is exactly what the generator writes (run `npm run dashboard:generate`)', () => {
    expect(readFileSync(DASHBOARD_FILE, 'utf8')).toBe(dashboardJson());
  });

  it('scrapes the server with the METRICS_TOKEN and loads the rules without errors', async () => {
    const up = await prometheus.query(`up{instance="${appTarget}"}`);
    expect(up.data.result.map((s) => s.value[1])).toEqual(['1']);
    const rules = await prometheus.api<{
      groups: Array<{ rules: Array<{ health: string; lastError?: string }> }>;
    }>('/api/v1/rules');
    const all = rules.data.groups.flatMap((g) => g.rules);
    expect(all.length).toBeGreaterThan(30);
    expect(all.filter((r) => r.health !== 'ok')).toEqual([]);
  });

  it.each(PANELS.flatMap((p) => p.queries.map((q) => [p.title, q.expr] as const)))(
    'panel "%s": %s parses and returns data',
    async (_title, expr) => {
      const r = await prometheus.query(substitute(expr));
      expect({ status: r.status, error: r.error }).toEqual({ status: 'success', error: undefined });
      expect(r.data.result.length).toBeGreaterThan(0);
    },
  );

  it('marks the start of the scraped server as a deploy, with its version', async () => {
    // The scraped app runs in this test process, which may have started long before: a window that covers its start.
    const r = await prometheus.query(substitute(deployAnnotationExpr(Math.ceil(process.uptime()) + 60)));
    expect(r.status).toBe('success');
    const marks = r.data.result.filter((x) => x.metric.instance === appTarget);
    expect(marks.map((x) => x.metric.version)).toEqual([APP_VERSION]);
    // Grafana draws it on every panel.
    const annotations = (JSON.parse(dashboardJson()) as { annotations: { list: Array<{ expr: string }> } })
      .annotations.list;
    expect(annotations.map((a) => a.expr)).toEqual([DEPLOY_ANNOTATION_EXPR]);
  });

  it('names only metrics the server exposes (panels and rules), and would catch one it does not', async () => {
    const declared = async (name: string) => {
      if (PROMETHEUS_OWN.has(name)) return true;
      const base = name.replace(/_(bucket|count|sum)$/, '');
      const meta = await prometheus.api<unknown[]>('/api/v1/targets/metadata', {
        metric: base,
        match_target: `{instance="${appTarget}"}`,
      });
      return meta.status === 'success' && meta.data.length > 0;
    };
    const rules = [RULE_FILES.alerts, RULE_FILES.slo].flatMap((f) =>
      (
        load(readFileSync(join(RULES_DIR, f), 'utf8')) as {
          groups: Array<{ rules: Array<{ expr: string; record?: string }> }>;
        }
      ).groups.flatMap((g) => g.rules),
    );
    const recorded = new Set(rules.flatMap((r) => (r.record === undefined ? [] : [r.record])));
    const names = new Set(
      [...PANELS.flatMap((p) => p.queries.map((q) => q.expr)), ...rules.map((r) => r.expr)].flatMap(
        metricNamesIn,
      ),
    );
    const missing: string[] = [];
    for (const n of names) if (!recorded.has(n) && !(await declared(n))) missing.push(n);
    expect(missing).toEqual([]);
    expect(await declared('ws_connectionz')).toBe(false);
  });

  it('has service and instance variables that list this server', async () => {
    const jobs = await prometheus.api<string[]>('/api/v1/label/job/values', {
      'match[]': METRIC.wsConnections,
    });
    expect(jobs.data).toEqual([JOB]);
    const instances = await prometheus.api<string[]>('/api/v1/label/instance/values', {
      'match[]': `${METRIC.wsConnections}{job=~"${JOB}"}`,
    });
    expect(instances.data).toEqual([appTarget]);
  });
});
