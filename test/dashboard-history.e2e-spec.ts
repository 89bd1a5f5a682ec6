import { existsSync } from 'node:fs';
import type { Page, Response } from 'playwright-core';
import request from 'supertest';
import { alertTransition, snapshotRecord } from './fixtures/history';
import {
  ALERT_HISTORY_STORE,
  AlertHistoryStore,
  METRICS_HISTORY_STORE,
  MetricsHistoryStore,
} from '../src/history/history.types';
import type { MetricsHistoryResponse } from '../src/history/history.service';
import { MetricsSnapshotJob } from '../src/history/metrics-snapshot.job';
import { APP_VERSION } from '../src/common/version';
import { InstanceInfo } from '../src/lifecycle/instance-info';
import { assertChromium, launch, LaunchedBrowser, saveScreenshot } from './utils/chromium';
import { PageProblems } from './utils/page-problems';
import { freePort } from './utils/ports';
import { createTestApp, TestApp } from './utils/test-app';

const TOKEN = 'dashboard-history-token-0123456789';
const BASIC = `Basic ${Buffer.from(`ops:${TOKEN}`).toString('base64')}`;
const MINUTE = 60_000;
const MB = 1024 * 1024;
const OTHER = 'replica-b';
const WAIT = { timeout: 8000 };

type HistoryBody = MetricsHistoryResponse;
type HistoryPoint = HistoryBody['points'][number];
interface XY {
  x: number;
  y: number;
}
interface ChartView {
  type: string;
  min: number;
  max: number;
  labels: number;
  series: XY[][];
  /** Line pieces of the first series: a gap in the data splits the line. */
  segments: number;
  marks: number;
  drawn: Array<{ t: number; x: number; to: string; key: string }>;
  deployMarks: number;
  deploysDrawn: number[];
  ticks: Array<{ value: number; label: string; minutes: number; hours: number }>;
  area: { top: number; bottom: number; left: number; right: number };
}

/** What each chart on the page holds, read from its Chart.js instance (the figures it draws, not the DOM text). */
function chartViews(page: Page): Promise<ChartView[]> {
  return page.evaluate(() => {
    const g = globalThis as any;
    return Array.from(g.document.querySelectorAll('canvas')).map((canvas: any) => {
      const chart = g.Chart.getChart(canvas);
      const x = chart.scales.x;
      return {
        type: x.type,
        min: x.min,
        max: x.max,
        labels: chart.data.labels.length,
        series: chart.data.datasets.map((d: any) => d.data.map((p: any) => ({ x: p.x, y: p.y }))),
        segments: chart.getDatasetMeta(0).dataset.segments.length,
        marks: Number(canvas.getAttribute('data-alert-marks')),
        drawn: chart.$alertMarksDrawn ?? [],
        deployMarks: Number(canvas.getAttribute('data-deploy-marks')),
        deploysDrawn: chart.$deployMarksDrawn ?? [],
        ticks: x.ticks.map((t: any) => ({
          value: t.value,
          label: t.label,
          minutes: new Date(t.value).getMinutes(),
          hours: new Date(t.value).getHours(),
        })),
        area: {
          top: chart.chartArea.top,
          bottom: chart.chartArea.bottom,
          left: chart.chartArea.left,
          right: chart.chartArea.right,
        },
      };
    });
  });
}

const toMb = (bytes: number) => Math.round((bytes / MB) * 100) / 100;

/** The series each chart must hold for these history points: connections, memory (MB), events/s, latency, errors. */
function expectedSeries(points: HistoryPoint[]): XY[][][] {
  const series = (value: (p: HistoryPoint) => number) =>
    points.map((p) => ({ x: Date.parse(p.timestamp), y: value(p) }));
  return [
    [series((p) => p.connections)],
    [series((p) => toMb(p.rss)), series((p) => toMb(p.heapUsed))],
    [series((p) => p.eventsPerSecond)],
    [series((p) => p.wsLatencyP95)],
    [series((p) => p.httpErrorRate)],
  ];
}

/** Line pieces the points make when a hole of more than 1.5 buckets breaks the line. */
function expectedSegments(body: HistoryBody): number {
  let pieces = body.points.length > 0 ? 1 : 0;
  for (let i = 1; i < body.points.length; i++) {
    const gap = Date.parse(body.points[i].timestamp) - Date.parse(body.points[i - 1].timestamp);
    if (gap > body.bucketMs * 1.5) pieces++;
  }
  return pieces;
}

async function directHistory(url: string, query: string): Promise<HistoryBody> {
  return (await request(url).get(`/metrics/history?${query}`).set('Authorization', BASIC).expect(200))
    .body as HistoryBody;
}

/**
 * Runs `action`, then waits until the page has drawn a /metrics/history answer that arrived since, and returns
 * that answer. The first answer to arrive is not necessarily it: a periodic refresh of the previous choice can be
 * in flight when the action runs (more likely on a loaded machine), and the page discards that one. So the answer
 * drawn is found by its `to`.
 */
async function historyLoaded(page: Page, action: () => Promise<unknown>): Promise<HistoryBody> {
  const answers = new Map<string, HistoryBody>();
  const reading: Array<Promise<void>> = [];
  const onResponse = (res: Response): void => {
    if (new URL(res.url()).pathname !== '/metrics/history' || res.status() !== 200) return;
    reading.push(
      res
        .json()
        .then((body: HistoryBody) => void answers.set(body.to, body))
        // The answer of a page that has since been reloaded: it can no longer be read, nor drawn.
        .catch(() => undefined),
    );
  };
  page.on('response', onResponse);
  try {
    await action();
    const deadline = Date.now() + WAIT.timeout;
    for (;;) {
      const drawn = await page.evaluate(() => {
        const b = (globalThis as any).document.body;
        return b.getAttribute('data-history') === 'ready'
          ? (b.getAttribute('data-history-to') as string)
          : null;
      });
      await Promise.all(reading);
      const body = drawn === null ? undefined : answers.get(drawn);
      if (body !== undefined) return body;
      if (Date.now() > deadline)
        throw new Error(
          `no /metrics/history answer drawn within ${WAIT.timeout} ms (${answers.size} arrived)`,
        );
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    page.off('response', onResponse);
  }
}

/** The colour of one canvas pixel, in CSS pixels. */
function pixel(page: Page, chartIndex: number, x: number, y: number): Promise<number[]> {
  return page.evaluate(
    ([i, px, py]) => {
      const g = globalThis as any;
      const canvas = g.document.querySelectorAll('canvas')[i];
      const ratio = g.Chart.getChart(canvas).currentDevicePixelRatio;
      const data = canvas
        .getContext('2d')
        .getImageData(Math.round(px * ratio), Math.round(py * ratio), 1, 1).data;
      return [data[0], data[1], data[2]];
    },
    [chartIndex, x, y] as const,
  );
}

function expectColour(actual: number[], expected: [number, number, number]): void {
  expect({ actual, near: actual.every((c, i) => Math.abs(c - expected[i]) <= 12) }).toEqual({
    actual,
    near: true,
  });
}

const RED: [number, number, number] = [0xf8, 0x51, 0x49];
const ORANGE: [number, number, number] = [0xd2, 0x99, 0x22];
const BLUE: [number, number, number] = [0x58, 0xa6, 0xff];

describe('Dashboard history in a real browser (e2e)', () => {
  let browser: LaunchedBrowser | undefined;
  const problems = new PageProblems();
  const foreignRequests: string[] = [];
  let origins: string[] = [];

  async function openPage(): Promise<Page> {
    const page = await browser!.context.newPage();
    problems.watch(page);
    page.on('request', (req) => {
      if (!origins.some((o) => req.url().startsWith(o))) foreignRequests.push(req.url());
    });
    return page;
  }

  beforeAll(async () => {
    assertChromium();
    browser = await launch({ httpCredentials: { username: 'ops', password: TOKEN } });
  }, 30_000);

  afterAll(async () => {
    await browser?.close();
  });

  describe('with the in-memory history', () => {
    let t: TestApp;
    let page: Page;
    let instanceId: string;
    let metrics: MetricsHistoryStore;
    let now: number;
    /** Our alert transitions (the real monitors may add their own; every comparison takes the endpoint's list). */
    const ours = {
      warning: { key: 'test.cpu', to: 'warning', message: 'CPU usage is 75%, at or above 70%' },
      critical: { key: 'test.memory', to: 'critical', message: 'Memory usage is 96%, at or above 95%' },
      resolved: { key: 'test.cpu', to: 'ok', message: 'CPU usage is back to 40%' },
      older: { key: 'test.errors', to: 'warning', message: 'HTTP error rate is 2%, at or above 1%' },
    };

    beforeAll(async () => {
      t = await createTestApp({ METRICS_TOKEN: TOKEN });
      origins = [t.url];
      instanceId = t.app.get(InstanceInfo).id;
      // Only the snapshots this test makes: the 60 s schedule must not add a bucket between two comparisons.
      const job = t.app.get(MetricsSnapshotJob);
      job.onModuleDestroy();

      // 50 minutes of this instance's snapshots with a 10-minute hole (minutes 21-30 ago), another replica
      // for minutes 5-10 ago, then one real snapshot from the running app.
      metrics = t.app.get<MetricsHistoryStore>(METRICS_HISTORY_STORE);
      now = Date.now();
      for (let k = 50; k >= 1; k--) {
        if (k >= 21 && k <= 30) continue;
        await metrics.append(
          snapshotRecord(now - k * MINUTE, instanceId, {
            connections: 100 + k,
            uniqueUsers: 50 + k,
            eventsPerSecond: k / 4,
            wsLatencyP95: 10 + k,
            httpErrorRate: (k % 7) / 2,
            rss: (200 + k) * MB,
            heapUsed: (80 + k) * MB,
            // Two earlier processes of this instance (a deploy 55 minutes ago, a restart after the hole).
            ...(k > 30
              ? { version: '0.9.0', startedAt: new Date(now - 55 * MINUTE) }
              : { version: '0.9.1', startedAt: new Date(now - 20.5 * MINUTE) }),
          }),
        );
      }
      for (let k = 10; k >= 5; k--) {
        await metrics.append(snapshotRecord(now - k * MINUTE, OTHER, { connections: 7, rss: 64 * MB }));
      }
      expect(await job.run()).not.toBeNull();

      const alerts = t.app.get<AlertHistoryStore>(ALERT_HISTORY_STORE);
      await alerts.append(
        alertTransition(now - 40 * MINUTE, { ...ours.warning, from: 'ok', to: 'warning', instanceId }),
      );
      await alerts.append(
        alertTransition(now - 15 * MINUTE, {
          ...ours.critical,
          from: 'warning',
          to: 'critical',
          value: 96,
          threshold: 95,
          instanceId: OTHER,
        }),
      );
      await alerts.append(
        alertTransition(now - 5 * MINUTE, { ...ours.resolved, from: 'warning', to: 'ok', instanceId }),
      );
      await alerts.append(
        alertTransition(now - 180 * MINUTE, { ...ours.older, from: 'ok', to: 'warning', instanceId }),
      );

      page = await openPage();
      const res = await page.goto(`${t.url}/dashboard?refresh=1000`);
      expect(res?.status()).toBe(200);
      await page.waitForFunction(
        () => (globalThis as any).document.getElementById('status').textContent === 'live',
      );
    });

    afterAll(async () => {
      await page?.close();
      await t?.close();
    });

    it('opens on Live: rolling charts, the selector shows Live pressed, no history request', async () => {
      expect(await page.locator('[data-range="live"]').getAttribute('aria-pressed')).toBe('true');
      expect(await page.locator('[data-range="1h"]').getAttribute('aria-pressed')).toBe('false');
      const views = await chartViews(page);
      expect(views.map((v) => v.type)).toEqual(Array(5).fill('category'));
      expect(views.every((v) => v.labels >= 1)).toBe(true);
      expect(await page.locator('#history-alerts').isHidden()).toBe(true);
      expect(new URL(page.url()).hash).toBe('');
      // No Redis configured here: no Redis tile either.
      expect(await page.locator('#redis-tile').isHidden()).toBe(true);
    });

    it('1 h: every chart holds exactly the points of /metrics/history, broken at the gap, on a time axis', async () => {
      const shown = await historyLoaded(page, () => page.click('[data-range="1h"]'));
      const direct = await directHistory(t.url, 'range=1h');
      // 40 seeded minutes + the real snapshot, the other replica's minutes falling into the same buckets.
      expect(direct.points).toHaveLength(41);
      expect(shown.points).toEqual(direct.points);
      expect(direct.bucketMs).toBe(MINUTE);

      const views = await chartViews(page);
      expect(views.map((v) => v.series)).toEqual(expectedSeries(direct.points));
      // Independently of the mapping: the oldest point is minute 50 (connections 150, heap 130 MB), and the
      // minutes with the other replica are fleet totals.
      expect(views[0].series[0][0].y).toBe(150);
      expect(views[1].series[1][0].y).toBe(130);
      const tenAgo = Math.floor((now - 10 * MINUTE) / MINUTE) * MINUTE;
      expect(views[0].series[0].find((p) => p.x === tenAgo)?.y).toBe(110 + 7);
      for (const v of views) {
        expect(v.type).toBe('linear');
        expect(v.min).toBe(Date.parse(shown.from));
        expect(v.max).toBe(Date.parse(shown.to));
        expect(v.segments).toBe(expectedSegments(direct));
        expect(v.segments).toBeGreaterThanOrEqual(2);
        // Ticks on whole ten minutes of local time, labelled HH:MM.
        expect(v.ticks.length).toBeGreaterThanOrEqual(5);
        for (const tick of v.ticks) {
          expect(tick.label).toMatch(/^\d\d:\d\d$/);
          expect(tick.minutes % 10).toBe(0);
        }
      }
      expect(await page.locator('[data-range="1h"]').getAttribute('aria-pressed')).toBe('true');
      expect(await page.locator('#history-info').textContent()).toMatch(/41 points of 1 min · memory/);
      expect(await page.locator('#history-error').isHidden()).toBe(true);
    });

    it('1 h: alert transitions are marked on every chart in their colours and listed with their messages', async () => {
      const direct = await directHistory(t.url, 'range=1h');
      const keys = direct.alerts.map((a) => `${a.key}:${a.to}`);
      expect(keys).toEqual(
        expect.arrayContaining(['test.cpu:warning', 'test.memory:critical', 'test.cpu:ok']),
      );
      expect(keys).not.toContain('test.errors:warning'); // three hours ago: outside 1 h

      const views = await chartViews(page);
      for (const v of views) {
        expect(v.marks).toBe(direct.alerts.length);
        expect(v.drawn.map((d) => d.t)).toEqual(direct.alerts.map((a) => Date.parse(a.timestamp)));
        for (const d of v.drawn) {
          expect(d.x).toBeGreaterThanOrEqual(v.area.left);
          expect(d.x).toBeLessThanOrEqual(v.area.right);
        }
      }
      // The flag on top of each of our lines has the colour of the state entered, on every chart.
      const at = (v: ChartView, minutesAgo: number) =>
        v.drawn.find((d) => d.t === now - minutesAgo * MINUTE) as ChartView['drawn'][number];
      for (let i = 0; i < views.length; i++) {
        const v = views[i];
        expectColour(await pixel(page, i, at(v, 40).x, v.area.top + 2), ORANGE);
        expectColour(await pixel(page, i, at(v, 15).x, v.area.top + 2), RED);
        expectColour(await pixel(page, i, at(v, 5).x, v.area.top + 2), BLUE);
      }

      // Listed newest first with time, state and message.
      const items = page.locator('#history-alert-list li');
      expect(await items.count()).toBe(direct.alerts.length);
      const listed = await items.evaluateAll((els) =>
        els.map((e) => ({
          key: e.getAttribute('data-key'),
          to: e.getAttribute('data-to'),
          timestamp: e.getAttribute('data-timestamp'),
          className: e.className,
          text: e.textContent,
        })),
      );
      expect(listed.map((l) => l.timestamp)).toEqual(direct.alerts.map((a) => a.timestamp).reverse());
      const critical = listed.find((l) => l.key === 'test.memory');
      expect(critical).toMatchObject({ to: 'critical', className: 'critical' });
      expect(critical?.text).toContain(ours.critical.message);
      expect(critical?.text).toContain(`test.memory warning → critical · ${OTHER}`);
      const resolved = listed.find((l) => l.key === 'test.cpu' && l.to === 'ok');
      expect(resolved?.className).toBe('resolved');
      expect(resolved?.text).toContain('resolved');
      expect(await page.locator('#history-alert-count').textContent()).toBe(`(${direct.alerts.length})`);

      // Hovering a line names the transition.
      const box = (await page.locator('#chart-connections').boundingBox())!;
      const v = views[0];
      await page.mouse.move(box.x + at(v, 15).x, box.y + (v.area.top + v.area.bottom) / 2);
      await page.waitForFunction(
        (message) =>
          String((globalThis as any).document.getElementById('chart-connections').title).includes(message),
        ours.critical.message,
        WAIT,
      );
      expect(await page.locator('#chart-connections').getAttribute('title')).toContain(
        'test.memory warning → critical',
      );
      await page.mouse.move(0, 0);
    });

    it('1 h: every chart marks each process start in the range (deploys and restarts) with its version', async () => {
      const direct = await directHistory(t.url, 'range=1h');
      const started = t.app.get(InstanceInfo).startedAt;
      expect(direct.deploys).toEqual([
        { instanceId, version: '0.9.0', startedAt: new Date(now - 55 * MINUTE).toISOString() },
        { instanceId, version: '0.9.1', startedAt: new Date(now - 20.5 * MINUTE).toISOString() },
        // The running process, from the real snapshot it took.
        { instanceId, version: APP_VERSION, startedAt: started.toISOString() },
      ]);
      const views = await chartViews(page);
      for (const v of views) {
        expect(v.deployMarks).toBe(3);
        expect(v.deploysDrawn).toEqual(direct.deploys.map((d) => Date.parse(d.startedAt)));
      }
      // Out of range: 24 h of history starts earlier, but no snapshot records a start before these.
      const day = await directHistory(t.url, 'range=24h');
      expect(day.deploys).toEqual(direct.deploys);
    });

    it('saves a screenshot of the 1 h view (docs/dashboard-history.png with UPDATE_DOCS_SCREENSHOTS=1)', async () => {
      const file = await saveScreenshot(page, 'dashboard-history.png');
      expect(existsSync(file)).toBe(true);
    });

    it('the range survives a reload (it is in the URL hash)', async () => {
      expect(new URL(page.url()).hash).toBe('#range=1h');
      const body = await historyLoaded(page, () => page.reload());
      expect(await page.locator('[data-range="1h"]').getAttribute('aria-pressed')).toBe('true');
      expect(await page.locator('[data-range="live"]').getAttribute('aria-pressed')).toBe('false');
      const views = await chartViews(page);
      expect(views.map((v) => v.series)).toEqual(expectedSeries(body.points));
      expect(views[0].series[0]).toHaveLength(41);
    });

    it('refreshes while a range is selected: a new snapshot appears without a reload', async () => {
      await historyLoaded(page, () =>
        page.goto(`${t.url}/dashboard?refresh=1000&historyRefresh=1000#range=1h`),
      );
      // A snapshot into the hole (25 minutes ago) adds a point and splits the hole in two.
      await metrics.append(snapshotRecord(now - 25 * MINUTE, instanceId, { connections: 125 }));
      await page.waitForFunction(
        () => {
          const g = globalThis as any;
          return (
            g.Chart.getChart(g.document.getElementById('chart-connections')).data.datasets[0].data.length ===
            42
          );
        },
        undefined,
        WAIT,
      );
      const direct = await directHistory(t.url, 'range=1h');
      const views = await chartViews(page);
      expect(views.map((v) => v.series)).toEqual(expectedSeries(direct.points));
      expect(views[0].segments).toBe(expectedSegments(direct));
      expect(new URL(page.url()).hash).toBe('#range=1h');
    });

    it('the instance selector lists the instances of the range and narrows points and marks to one', async () => {
      await page.locator('#instance-box').waitFor({ state: 'visible' });
      const options = await page
        .locator('#history-instance option')
        .evaluateAll((els) => els.map((e) => [(e as any).value, e.textContent]));
      expect(options).toEqual([['', 'All instances'], ...[instanceId, OTHER].sort().map((id) => [id, id])]);

      const body = await historyLoaded(page, () => page.selectOption('#history-instance', OTHER));
      const direct = await directHistory(t.url, `range=1h&instance=${OTHER}`);
      expect(body.instance).toBe(OTHER);
      expect(direct.points).toHaveLength(6);
      const views = await chartViews(page);
      expect(views.map((v) => v.series)).toEqual(expectedSeries(direct.points));
      expect(views[0].series[0].every((p) => p.y === 7)).toBe(true);
      expect(views[0].marks).toBe(direct.alerts.length);
      expect(direct.alerts.map((a) => a.key)).toEqual(['test.memory']);
      expect(await page.locator('#history-alert-list li').count()).toBe(1);
      expect(new URL(page.url()).hash).toBe(`#range=1h&instance=${OTHER}`);

      // Kept on reload too; back to all instances.
      await historyLoaded(page, () => page.reload());
      expect(await page.locator('#history-instance').inputValue()).toBe(OTHER);
      await historyLoaded(page, () => page.selectOption('#history-instance', ''));
      expect((await chartViews(page))[0].series[0]).toHaveLength(42);
      expect(new URL(page.url()).hash).toBe('#range=1h');
    });

    it('24 h, 7 d and 30 d: the same charts on their own time axes; the older alert shows in 24 h', async () => {
      const formats: Record<string, RegExp> = {
        '24h': /^(\d\d:\d\d|\d\d [A-Z][a-z]{2})$/,
        '7d': /^[A-Z][a-z]{2} \d\d$/,
        '30d': /^\d\d [A-Z][a-z]{2}$/,
      };
      for (const range of ['24h', '7d', '30d']) {
        const shown = await historyLoaded(page, () => page.click(`[data-range="${range}"]`));
        const direct = await directHistory(t.url, `range=${range}`);
        expect(shown.range).toBe(range);
        expect(shown.points).toEqual(direct.points);
        const views = await chartViews(page);
        expect(views.map((v) => v.series)).toEqual(expectedSeries(direct.points));
        for (const v of views) {
          expect(v.min).toBe(Date.parse(shown.from));
          expect(v.max).toBe(Date.parse(shown.to));
          expect(v.ticks.length).toBeGreaterThanOrEqual(4);
          for (const tick of v.ticks) {
            expect(tick.label).toMatch(formats[range]);
            if (range === '24h') expect([tick.minutes, tick.hours % 3]).toEqual([0, 0]);
            else expect([tick.hours, tick.minutes]).toEqual([0, 0]);
          }
          expect(v.marks).toBe(direct.alerts.length);
        }
        expect(direct.alerts.map((a) => a.key)).toContain('test.errors');
        expect(await page.locator('#history-alert-list li[data-key="test.errors"]').count()).toBe(1);
        expect(new URL(page.url()).hash).toBe(`#range=${range}`);
      }
    });

    it('a failed refresh keeps the figures shown and says why', async () => {
      const before = await historyLoaded(page, () => page.click('[data-range="1h"]'));
      await page.route(
        '**/metrics/history**',
        problems.fail((route) =>
          route.fulfill({
            status: 503,
            contentType: 'application/json',
            body: JSON.stringify({
              statusCode: 503,
              error: 'Service Unavailable',
              message: 'History is unavailable: MongoDB did not answer within 1000ms',
            }),
          }),
        ),
      );
      try {
        await page.locator('#history-error').waitFor({ state: 'visible', ...WAIT });
        expect(await page.locator('#history-error').textContent()).toBe(
          'History is unavailable: MongoDB did not answer within 1000ms',
        );
        expect(await page.getAttribute('body', 'data-history')).toBe('error');
        expect((await chartViews(page)).map((v) => v.series)).toEqual(expectedSeries(before.points));
        expect(await page.locator('#status').textContent()).toBe('live');
      } finally {
        await page.unroute('**/metrics/history**');
      }
      await page.locator('#history-error').waitFor({ state: 'hidden', ...WAIT });
    });

    it('Live resumes the rolling charts and stops asking for history', async () => {
      await page.click('[data-range="live"]');
      expect(new URL(page.url()).hash).toBe('');
      await page.locator('#history-alerts').waitFor({ state: 'hidden' });
      const first = await chartViews(page);
      expect(first.map((v) => v.type)).toEqual(Array(5).fill('category'));
      expect(first.every((v) => v.marks === 0)).toBe(true);
      let historyRequests = 0;
      const count = (r: { url(): string }) => {
        if (new URL(r.url()).pathname === '/metrics/history') historyRequests++;
      };
      page.on('request', count);
      try {
        // The live series kept growing while history was shown; it goes on now (one point a second).
        await page.waitForFunction(
          (n) => {
            const g = globalThis as any;
            return (
              g.Chart.getChart(g.document.getElementById('chart-connections')).data.labels.length >= n + 2
            );
          },
          first[0].labels,
          WAIT,
        );
      } finally {
        page.off('request', count);
      }
      expect(historyRequests).toBe(0);
      expect(await page.locator('#status').textContent()).toBe('live');
    });
  });

  describe('with MongoDB configured but unreachable', () => {
    let t: TestApp;
    let page: Page;
    const message = 'History is unavailable: MongoDB is not connected';

    beforeAll(async () => {
      t = await createTestApp({
        METRICS_TOKEN: TOKEN,
        MONGODB_URI: `mongodb://127.0.0.1:${await freePort()}/history`,
        HEALTH_CHECK_TIMEOUT_MS: '500',
        // The 503s and the store's fallback are logged at warn, as they should be; not this test's subject.
        LOG_LEVEL: 'error',
      });
      origins = [t.url];
      // What this part is about: the history endpoint answers 503 while MongoDB is away.
      problems.allow('/metrics/history', 503);
      page = await openPage();
    });

    afterAll(async () => {
      await page?.close();
      await t?.close();
    });

    it("shows the 503's message where the charts are, and the live figures keep coming", async () => {
      const direct = await request(t.url).get('/metrics/history?range=1h').set('Authorization', BASIC);
      expect(direct.status).toBe(503);
      expect(direct.body.message).toBe(message);

      await page.goto(`${t.url}/dashboard?refresh=1000#range=1h`);
      await page.locator('#history-error').waitFor({ state: 'visible', ...WAIT });
      expect(await page.locator('#history-error').textContent()).toBe(message);
      expect(await page.getAttribute('body', 'data-history')).toBe('error');
      const views = await chartViews(page);
      expect(views.map((v) => [v.type, v.series.flat().length])).toEqual(Array(5).fill(['linear', 0]));
      // No "no transitions" claim either: the alert history could not be read.
      expect(await page.locator('#history-alerts').isHidden()).toBe(true);

      // Live figures are unaffected: status live, no disconnected banner, updates keep arriving.
      await page.waitForFunction(
        () => (globalThis as any).document.getElementById('status').textContent === 'live',
      );
      const updated = await page.locator('#updated').textContent();
      await page.waitForFunction(
        (was) => (globalThis as any).document.getElementById('updated').textContent !== was,
        updated,
        WAIT,
      );
      expect(await page.locator('#banner').isHidden()).toBe(true);
      expect(
        await page.locator('[data-metric="websocket.totalConnections"]').getAttribute('data-value'),
      ).toBe('0');

      // And Live draws the rolling charts.
      await page.click('[data-range="live"]');
      await page.locator('#history-error').waitFor({ state: 'hidden' });
      await page.waitForFunction(
        () => {
          const g = globalThis as any;
          return Array.from(g.document.querySelectorAll('canvas')).every(
            (c) => (g.Chart.getChart(c)?.data.labels.length ?? 0) >= 2,
          );
        },
        undefined,
        WAIT,
      );
    });
  });

  describe('afterwards', () => {
    it('loaded nothing from outside the app, and nothing failed or logged an error but what the tests broke', () => {
      expect(foreignRequests).toEqual([]);
      expect(problems.unexpected()).toEqual([]);
    });
  });
});
