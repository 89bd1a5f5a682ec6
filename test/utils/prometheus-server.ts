import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { dump } from 'js-yaml';
import { Daemon } from './daemon';

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
 * Debian's Prometheus with a temporary config and TSDB: scrapes and evaluates rules every second, so a test
 * sees data within seconds.
 */
export class PrometheusTestServer extends Daemon {
  constructor() {
    super(PROMETHEUS_BIN, 'prometheus-test');
  }

  async startScraping(scrape: ScrapeTarget[], ruleFiles: string[]): Promise<this> {
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
    await this.start(
      (port) => [
        `--config.file=${file}`,
        `--storage.tsdb.path=${join(this.dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--log.level=warn',
      ],
      '/-/ready',
    );
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
}
