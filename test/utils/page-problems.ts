import type { Page, Request, Route } from 'playwright-core';

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

  watch(page: Page): void {
    page.on('console', (msg) => {
      if (msg.type() !== 'error') return;
      if (/^Failed to load resource/.test(msg.text()))
        this.resourceErrors.push({ url: msg.location().url, text: msg.text() });
      else this.problems.push(`console error: ${msg.text()}`);
    });
    page.on('pageerror', (err) => this.problems.push(`page error: ${err.message}`));
    page.on('requestfailed', (req) => this.check(req, `request failed (${req.failure()?.errorText ?? '?'})`));
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
