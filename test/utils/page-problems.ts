import type { Page, Request, Route } from 'playwright-core';

/** How long after a request's cancellation its page's navigation or close may be reported. */
const ABORT_GRACE_MS = 1000;

/** A failure an expectation allows: answers with this status from this path (the server's own, e.g. a 503). */
interface AllowedAnswer {
  path: string;
  status: number;
}

/**
 * Everything that went wrong on a page, for a test that must fail on any console error or failed request
 * (a missing favicon included). A test that breaks requests on purpose says so: through `fail()` for the
 * requests it fails itself (route.abort / route.fulfill with an error), through `allow()` for error answers the
 * server gives by design. Those requests, and only them, may fail and may log "Failed to load resource".
 */
export class PageProblems {
  private readonly problems: string[] = [];
  private readonly deliberate = new Set<Request>();
  private readonly deliberateUrls = new Set<string>();
  private readonly allowed: AllowedAnswer[] = [];
  /** Console errors about a resource, kept until the end: the failed request may be reported after them. */
  private readonly resourceErrors: Array<{ url: string; text: string }> = [];
  /**
   * When each page began navigating away or closed. A request the browser cancels because of that (`ERR_ABORTED`
   * between its start and shortly after such a moment) is not a failure; a fetch the page aborts itself (its time
   * budget, seconds after it started, with no navigation near) still is. Judged at the end, when every moment is
   * known: Chromium may report the cancelled request before the navigation's or close's own event.
   */
  private readonly turns = new WeakMap<Page, number[]>();
  private readonly started = new WeakMap<Request, number>();
  private readonly aborted: Array<{ page: Page; req: Request; failedAt: number }> = [];

  watch(page: Page): void {
    const turns: number[] = [];
    this.turns.set(page, turns);
    page.on('request', (req) => {
      this.started.set(req, performance.now());
      if (req.isNavigationRequest() && req.frame() === page.mainFrame()) turns.push(performance.now());
    });
    page.on('close', () => turns.push(performance.now()));
    page.on('console', (msg) => {
      if (msg.type() !== 'error') return;
      if (/^Failed to load resource/.test(msg.text()))
        this.resourceErrors.push({ url: msg.location().url, text: msg.text() });
      else this.problems.push(`console error: ${msg.text()}`);
    });
    page.on('pageerror', (err) => this.problems.push(`page error: ${err.message}`));
    page.on('requestfailed', (req) => {
      if (req.failure()?.errorText === 'net::ERR_ABORTED')
        this.aborted.push({ page, req, failedAt: performance.now() });
      else this.check(req, `request failed (${req.failure()?.errorText ?? '?'})`);
    });
    page.on('response', (res) => {
      if (res.status() >= 400) this.check(res.request(), `HTTP ${res.status()}`, res.status());
    });
  }

  /** Marks a request the test itself is failing, then passes it to `then` (abort or fulfil it). */
  fail(then: (route: Route) => Promise<void>): (route: Route) => Promise<void> {
    return (route) => {
      this.markDeliberate(route.request());
      return then(route);
    };
  }

  /** The server answering `path` with `status` is what this part of the test is about. */
  allow(path: string, status: number): void {
    this.allowed.push({ path, status });
  }

  /** Every problem not caused on purpose, and every "Failed to load resource" not about such a request. */
  unexpected(): string[] {
    for (const { page, req, failedAt } of this.aborted.splice(0)) {
      const start = this.started.get(req) ?? failedAt;
      const cancelled = (this.turns.get(page) ?? []).some(
        (t) => t >= start && t <= failedAt + ABORT_GRACE_MS,
      );
      if (!cancelled) this.check(req, 'request failed (net::ERR_ABORTED)');
    }
    return [
      ...this.problems,
      ...this.resourceErrors
        .filter((e) => !this.deliberateUrls.has(e.url))
        .map((e) => `console error: ${e.text} (${e.url})`),
    ];
  }

  private markDeliberate(req: Request): void {
    this.deliberate.add(req);
    this.deliberateUrls.add(req.url());
  }

  private check(req: Request, what: string, status?: number): void {
    const path = new URL(req.url()).pathname;
    if (status !== undefined && this.allowed.some((a) => a.path === path && a.status === status))
      this.markDeliberate(req);
    if (!this.deliberate.has(req)) this.problems.push(`${what}: ${req.method()} ${req.url()}`);
  }
}
