import { ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dump } from 'js-yaml';
import { freePort } from './ports';
import { waitForPort } from './redis-server';

export const PROMETHEUS_BIN = '/usr/bin/prometheus';

export interface ScrapeTarget {
  job: string;
  targets: string[];
  metricsPath: string;
  bearerToken?: string;
}

interface ApiResponse<T> {
  status: 'success' | 'error';
  data: T;
  error?: string;
  errorType?: string;
}

/** One sample of an instant vector, as the query API returns it. */
export interface VectorSample {
  metric: Record<string, string>;
  value: [number, string];
}

/**
 * Debian's Prometheus on a free 127.0.0.1 port with a temporary config and TSDB: scrapes and evaluates rules
 * every second, so a test sees data within seconds. Stopped by its PID.
 */
export class PrometheusTestServer {
  private proc: ChildProcess | null = null;
  private readonly dir = mkdtempSync(join(tmpdir(), 'prometheus-test-'));
  private log = '';
  port = 0;

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get output(): string {
    return this.log;
  }

  async start(scrape: ScrapeTarget[], ruleFiles: string[]): Promise<this> {
    this.port = await freePort();
    const config = {
      global: { scrape_interval: '1s', scrape_timeout: '900ms', evaluation_interval: '1s' },
      rule_files: ruleFiles,
      scrape_configs: scrape.map((s) => ({
        job_name: s.job,
        metrics_path: s.metricsPath,
        ...(s.bearerToken === undefined
          ? {}
          : { authorization: { type: 'Bearer', credentials: s.bearerToken } }),
        static_configs: [{ targets: s.targets }],
      })),
    };
    const file = join(this.dir, 'prometheus.yml');
    writeFileSync(file, dump(config));
    const proc = spawn(
      PROMETHEUS_BIN,
      [
        `--config.file=${file}`,
        `--storage.tsdb.path=${join(this.dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${this.port}`,
        '--log.level=warn',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    proc.stdout?.on('data', (d: Buffer) => (this.log += d.toString('utf8')));
    proc.stderr?.on('data', (d: Buffer) => (this.log += d.toString('utf8')));
    this.proc = proc;
    await waitForPort(this.port, 15_000);
    return this;
  }

  async api<T>(path: string, params: Record<string, string> = {}): Promise<ApiResponse<T>> {
    const res = await fetch(`${this.url}${path}?${new URLSearchParams(params).toString()}`, {
      signal: AbortSignal.timeout(5000),
    });
    return (await res.json()) as ApiResponse<T>;
  }

  async query(expr: string): Promise<ApiResponse<{ resultType: string; result: VectorSample[] }>> {
    return this.api('/api/v1/query', { query: expr });
  }

  /** Polls `check` every 250 ms until it holds; fails with `what` (and Prometheus's log) after `timeoutMs`. */
  async waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await check())) {
      if (Date.now() > deadline)
        throw new Error(`Prometheus: ${what} not seen within ${timeoutMs} ms\n${this.log}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  async stop(): Promise<void> {
    const proc = this.proc;
    this.proc = null;
    if (proc !== null && proc.exitCode === null && proc.signalCode === null) {
      const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
