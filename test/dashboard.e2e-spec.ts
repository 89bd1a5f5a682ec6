import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import type { Socket } from 'socket.io-client';
import request from 'supertest';
import { AlertEngine } from '../src/alerts/alert-engine';
import { APP_VERSION } from '../src/common/version';
import type { ActiveAlert } from '../src/alerts/alert.types';
import { ARTIFACTS, assertChromium, launch, LaunchedBrowser, saveScreenshot } from './utils/chromium';
import { PageProblems } from './utils/page-problems';
import { RedisTestServer } from './utils/redis-server';
import { connectClient, connectError, disconnected, emitAck } from './utils/socket-client';
import { createTestApp, TestApp } from './utils/test-app';

const TOKEN = 'dashboard-token-for-tests-0123456789';
const PUBLISH_TOKEN = 'publish-token-for-dashboard-tests-0123';
const BASIC = `Basic ${Buffer.from(`ops:${TOKEN}`).toString('base64')}`;

/** The dashboard's default refresh period (issue 5: "refreshes every 5 s"). */
const REFRESH_MS = 5000;
/** Waits once the page polls every second. */
const FAST_TIMEOUT = 4000;

const ALERTS: ActiveAlert[] = [
  {
    key: 'system.memory',
    severity: 'critical',
    message: 'Memory usage is 96%, at or above the critical threshold of 95%',
    value: 96,
    threshold: 95,
    since: new Date(Date.now() - 120_000).toISOString(),
  },
  {
    key: 'http.error_rate',
    severity: 'warning',
    message: 'HTTP error rate is 2.5%, at or above the warning threshold of 1%',
    value: 2.5,
    threshold: 1,
    since: new Date(Date.now() - 30_000).toISOString(),
  },
];

function get(obj: unknown, path: string): unknown {
  return path
    .split('.')
    .reduce<unknown>(
      (o, k) => (o === null || o === undefined ? undefined : (o as Record<string, unknown>)[k]),
      obj,
    );
}

/** Points in every chart on the page (Chart.js instances found through its global registry). */
function chartPoints(page: Page): Promise<number[]> {
  return page.evaluate(() => {
    const g = globalThis as any;
    return Array.from(g.document.querySelectorAll('canvas')).map(
      (c) => g.Chart.getChart(c)?.data.labels.length ?? -1,
    ) as number[];
  });
}

describe('Dashboard in a real browser (e2e)', () => {
  const redis = new RedisTestServer();
  let t: TestApp;
  let browser: LaunchedBrowser | undefined;
  let page: Page;
  const sockets: Socket[] = [];
  const problems = new PageProblems();
  const foreignRequests: string[] = [];
  /** The last /metrics JSON the page itself received. */
  let lastMetrics: unknown = null;
  let activeSpy: jest.SpyInstance;

  beforeAll(async () => {
    assertChromium();
    activeSpy = jest.spyOn(AlertEngine.prototype, 'active').mockImplementation(() => ALERTS);
    await redis.start();
    t = await createTestApp({
      METRICS_TOKEN: TOKEN,
      PUBLISH_TOKEN,
      REDIS_URL: redis.url,
      WS_TRANSPORTS: 'websocket',
      CLUSTER_HEARTBEAT_MS: '500',
    });
    // Some real traffic, so the figures are not all zero: 5 sockets of 3 users, subscriptions, a trade.
    for (const [user, n] of [
      ['alice', 2],
      ['bob', 2],
      ['carol', 1],
    ] as const) {
      for (let i = 0; i < n; i++) sockets.push(await connectClient(t.url, user, ['p1']));
    }
    for (const s of sockets) await emitAck(s, 'portfolio:subscribe', { portfolioId: 'p1' });
    await request(t.url)
      .post('/events')
      .set('Authorization', `Bearer ${PUBLISH_TOKEN}`)
      .send({ event: 'trade:executed', portfolioId: 'p1', data: { symbol: 'ACME', qty: 10 } })
      .expect(202);

    browser = await launch({ httpCredentials: { username: 'ops', password: TOKEN } });
    page = browser.context.pages()[0] ?? (await browser.context.newPage());
    problems.watch(page);
    page.on('request', (req) => {
      if (!req.url().startsWith(t.url)) foreignRequests.push(req.url());
    });
    page.on('response', (res) => {
      if (new URL(res.url()).pathname === '/metrics' && res.status() === 200) {
        res.json().then(
          (body: unknown) => (lastMetrics = body),
          () => undefined,
        );
      }
    });
  }, 60_000);

  afterAll(async () => {
    activeSpy?.mockRestore();
    await browser?.close();
    for (const s of sockets) s.disconnect();
    await t?.close();
    await redis.stop();
  });

  it('without credentials the page is refused with 401 and a basic-auth challenge', async () => {
    const anonymous = await launch();
    try {
      const p = await anonymous.context.newPage();
      const response = p.waitForResponse((r) => new URL(r.url()).pathname === '/dashboard');
      // Headless Chromium answers the challenge with "no credentials" and fails the navigation.
      await expect(p.goto(`${t.url}/dashboard`)).rejects.toThrow(/ERR_INVALID_AUTH_CREDENTIALS/);
      const res = await response;
      expect(res.status()).toBe(401);
      expect(res.headers()['www-authenticate']).toMatch(/^Basic realm="metrics"/);
    } finally {
      await anonymous.close();
    }
  });

  it('opens with basic auth, fills every chart with at least two points, and shows the figures of /metrics', async () => {
    const res = await page.goto(`${t.url}/dashboard`);
    expect(res?.status()).toBe(200);
    await page.waitForFunction(
      () => {
        const g = globalThis as any;
        const canvases: unknown[] = Array.from(g.document.querySelectorAll('canvas'));
        return (
          g.Chart !== undefined &&
          canvases.length === 5 &&
          canvases.every((c) => (g.Chart.getChart(c)?.data.labels.length ?? 0) >= 2)
        );
      },
      undefined,
      { timeout: REFRESH_MS * 3, polling: 200 },
    );
    expect((await chartPoints(page)).every((n) => n >= 2)).toBe(true);
    expect(await page.locator('#status').textContent()).toBe('live');
    expect(await page.locator('#banner').isHidden()).toBe(true);

    // Every tile shows exactly what the page's last /metrics answer said.
    await page.waitForTimeout(200);
    const shown = await page.$$eval('[data-metric]', (els) =>
      els.map((e) => ({
        path: e.getAttribute('data-metric') as string,
        value: e.getAttribute('data-value'),
        text: e.textContent,
      })),
    );
    expect(shown.length).toBeGreaterThanOrEqual(14);
    expect(lastMetrics).not.toBeNull();
    for (const tile of shown) {
      const expected = get(lastMetrics, tile.path);
      expect({ path: tile.path, value: tile.value }).toEqual({
        path: tile.path,
        value: expected === undefined ? '' : String(expected as string | number | boolean),
      });
      expect(tile.text).not.toBe('–');
    }
    // And /metrics fetched independently agrees on the figures that do not move by themselves.
    const direct = (await request(t.url).get('/metrics').set('Authorization', BASIC).expect(200)).body;
    const tile = (path: string) => shown.find((s) => s.path === path)?.value;
    expect(tile('websocket.totalConnections')).toBe(String(direct.websocket.totalConnections));
    expect(direct.websocket.totalConnections).toBe(5);
    expect(tile('websocket.uniqueUsers')).toBe('3');
    expect(tile('business.trades')).toBe(String(direct.business.trades));
    expect(direct.business.trades).toBe(1);
    expect(tile('business.subscriptionEvents')).toBe('5');
    expect(await page.locator('[data-metric="websocket.totalConnections"]').textContent()).toBe('5');
  });

  it('lists the active alerts from /alerts', async () => {
    await page.locator('#alerts').waitFor({ state: 'visible' });
    const items = page.locator('#alert-list li');
    expect(await items.count()).toBe(2);
    expect(await items.nth(0).getAttribute('class')).toBe('critical');
    expect(await items.nth(0).textContent()).toContain('Memory usage is 96%');
    expect(await items.nth(0).textContent()).toContain('value 96 / threshold 95');
    expect(await items.nth(1).getAttribute('class')).toBe('warning');
    expect(await page.locator('#alert-count').textContent()).toBe('(2)');
  });

  it('shows the cluster panel from /metrics/cluster when Redis is configured', async () => {
    await page.locator('#cluster').waitFor({ state: 'visible', timeout: REFRESH_MS * 3 });
    const rows = page.locator('#cluster-rows tr');
    await page.waitForFunction(
      () => (globalThis as any).document.querySelectorAll('#cluster-rows tr').length >= 1,
      undefined,
      {
        timeout: REFRESH_MS * 3,
      },
    );
    expect(await rows.count()).toBe(1);
    expect(await rows.nth(0).textContent()).toContain(APP_VERSION);
    expect(await page.locator('#cluster-summary').textContent()).toMatch(
      /1 instance · 5 connections · 3 users/,
    );
    expect(await page.locator('#redis-tile').isVisible()).toBe(true);
  });

  it('saves a screenshot as a test artifact (docs/dashboard.png with UPDATE_DOCS_SCREENSHOTS=1)', async () => {
    const file = await saveScreenshot(page, 'dashboard.png');
    expect(existsSync(file)).toBe(true);
  });

  it('shows the delivery row: latency and backlog tiles, disconnect and refusal reasons, probe age per peer', async () => {
    // One disconnect and one refusal the lists must show.
    const leaving = await connectClient(t.url, 'dave', ['p1']);
    const gone = disconnected(leaving);
    leaving.disconnect();
    await gone;
    expect(await connectError(t.url, 'not-a-token')).toBeTruthy();
    // One resume that recovers two missed publications, and one whose epoch is gone: the resume tiles count them.
    const resumer = await connectClient(t.url, 'erin', ['p1']);
    try {
      const { position } = await emitAck(resumer, 'portfolio:subscribe', { portfolioId: 'p1' });
      for (const v of [1, 2])
        await request(t.url)
          .post('/events')
          .set('Authorization', `Bearer ${PUBLISH_TOKEN}`)
          .send({ event: 'portfolio:update', portfolioId: 'p1', data: { v } })
          .expect(202);
      const recovered = await emitAck(resumer, 'portfolio:subscribe', { portfolioId: 'p1', since: position });
      expect(recovered).toMatchObject({ recovered: true, replayed: 2 });
      const lost = await emitAck(resumer, 'portfolio:subscribe', {
        portfolioId: 'p1',
        since: { epoch: 'gone', offset: 1 },
      });
      expect(lost).toMatchObject({ recovered: false, replayed: 0 });
    } finally {
      resumer.disconnect();
    }
    // A second replica on the same Redis: a peer whose delivery probes this one receives.
    const peer = await createTestApp({
      PUBLISH_TOKEN,
      REDIS_URL: redis.url,
      WS_TRANSPORTS: 'websocket',
      CLUSTER_HEARTBEAT_MS: '500',
      RAILWAY_REPLICA_ID: 'dashboard-peer',
    });
    try {
      await page.waitForFunction(
        () => {
          const d = (globalThis as any).document;
          return (
            d.querySelector('#probe-rows tr[data-peer="dashboard-peer"]') !== null &&
            /client_close · 2/.test(d.querySelector('#disconnect-reasons').textContent) &&
            d.querySelector('[data-metric="streams.replayed"]').textContent === '2' &&
            /unauthorized/.test(d.querySelector('#refusal-reasons').textContent)
          );
        },
        undefined,
        { timeout: REFRESH_MS * 4, polling: 200 },
      );
      const row = page.locator('#probe-rows tr[data-peer="dashboard-peer"]');
      expect(await row.locator('td').nth(2).textContent()).toBe('ok');
      expect(await row.locator('td').nth(1).textContent()).toMatch(/^[\d.]+ s$/);
      expect(await page.locator('#probes-none').isHidden()).toBe(true);
      expect(await page.locator('#disconnect-reasons').textContent()).toMatch(/client_close · 2/);
      expect(await page.locator('[data-metric="streams.resumes.recovered"]').textContent()).toBe('1');
      expect(await page.locator('[data-metric="streams.resumes.epochChanged"]').textContent()).toBe('1');
      expect(await page.locator('[data-metric="streams.resumes.expired"]').textContent()).toBe('0');
      expect(await page.locator('#refusal-reasons').textContent()).toMatch(/unauthorized · 1/);
      expect(await page.locator('[data-metric="delivery.publishToEmitP99"]').textContent()).toMatch(/ ms$/);
      expect(await page.locator('[data-metric="delivery.outputBacklog.totalBytes"]').textContent()).toMatch(
        / (B|KB|MB)$/,
      );
    } finally {
      await peer.close();
    }
  }, 30_000);

  it('renders alert messages as text, never as markup', async () => {
    // From here on the page refreshes every second (?refresh=1000), so the remaining cases run quickly.
    ALERTS.push({
      key: 'hostile',
      severity: 'warning',
      message: '<img src=x onerror="globalThis.__xss=1"><b>bold</b>',
      value: null,
      threshold: null,
      since: 'not a date',
    });
    await page.goto(`${t.url}/dashboard?refresh=1000`);
    await page.waitForFunction(
      () => (globalThis as any).document.querySelectorAll('#alert-list li').length === 3,
    );
    expect(await page.locator('#alert-list li').nth(2).textContent()).toContain('<img src=x onerror=');
    expect(await page.locator('#alert-list img, #alert-list b').count()).toBe(0);
    expect(await page.evaluate(() => (globalThis as any).__xss)).toBeUndefined();
  });

  it('shows "disconnected" when a fetch fails and recovers by itself', async () => {
    await page.route(
      '**/metrics',
      problems.fail((route) => route.abort('connectionrefused')),
    );
    try {
      await page.locator('#banner').waitFor({ state: 'visible', timeout: FAST_TIMEOUT });
      expect(await page.locator('#status').textContent()).toBe('disconnected');
      expect(await page.locator('#banner').textContent()).toContain('Disconnected');
      await page.screenshot({ path: join(ARTIFACTS, 'dashboard-disconnected.png') });
    } finally {
      await page.unroute('**/metrics');
    }
    const points = (await chartPoints(page))[0];
    await page.locator('#banner').waitFor({ state: 'hidden', timeout: FAST_TIMEOUT });
    expect(await page.locator('#status').textContent()).toBe('live');
    expect((await chartPoints(page))[0]).toBeGreaterThan(points);
  });

  it('a 503 from /metrics (gateway not up) is shown as disconnected with its reason', async () => {
    await page.route(
      '**/metrics',
      problems.fail((route) =>
        route.fulfill({
          status: 503,
          contentType: 'application/json',
          body: JSON.stringify({ error: 'WebSocket server not initialized' }),
        }),
      ),
    );
    try {
      await page.locator('#banner').waitFor({ state: 'visible', timeout: FAST_TIMEOUT });
      expect(await page.locator('#banner-reason').textContent()).toContain(
        'WebSocket server not initialized',
      );
    } finally {
      await page.unroute('**/metrics');
    }
    await page.locator('#banner').waitFor({ state: 'hidden', timeout: FAST_TIMEOUT });
  });

  it('hides the alerts panel when /alerts does not exist', async () => {
    await page.route(
      '**/alerts',
      problems.fail((route) =>
        route.fulfill({ status: 404, contentType: 'application/json', body: '{"statusCode":404}' }),
      ),
    );
    try {
      await page.locator('#alerts').waitFor({ state: 'hidden', timeout: FAST_TIMEOUT });
      expect(await page.locator('#status').textContent()).toBe('live');
    } finally {
      await page.unroute('**/alerts');
    }
  });

  it('loaded nothing from outside the app, and nothing failed or logged an error but what the tests broke', () => {
    expect(foreignRequests).toEqual([]);
    expect(problems.unexpected()).toEqual([]);
  });
});
