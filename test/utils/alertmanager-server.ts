import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { dump } from 'js-yaml';
import { Daemon } from './daemon';

export const ALERTMANAGER_BIN = '/usr/bin/prometheus-alertmanager';

/** An alert as GET /api/v2/alerts returns it. */
export interface GettableAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  status: { state: 'active' | 'suppressed' | 'unprocessed'; silencedBy: string[]; inhibitedBy: string[] };
}

/**
 * Debian's Alertmanager (v2 API) with a temporary config and storage, clustering off, routing every alert to one
 * webhook receiver at once (group wait and interval 1 s) so a test sees its notifications within seconds.
 */
export class AlertmanagerTestServer extends Daemon {
  constructor() {
    super(ALERTMANAGER_BIN, 'alertmanager-test');
  }

  async startRoutingTo(webhookUrl: string): Promise<this> {
    const config = {
      route: {
        receiver: 'hook',
        group_by: ['alertname', 'alert_key', 'severity'],
        group_wait: '1s',
        group_interval: '1s',
        repeat_interval: '1h',
      },
      receivers: [{ name: 'hook', webhook_configs: [{ url: webhookUrl, send_resolved: true }] }],
    };
    const file = join(this.dir, 'alertmanager.yml');
    writeFileSync(file, dump(config));
    await this.start(
      (port) => [
        `--config.file=${file}`,
        `--storage.path=${join(this.dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--cluster.listen-address=',
        '--log.level=warn',
      ],
      '/-/ready',
    );
    return this;
  }

  async alerts(filter?: string): Promise<GettableAlert[]> {
    const query = filter === undefined ? '' : `?${new URLSearchParams({ filter }).toString()}`;
    const res = await fetch(`${this.url}/api/v2/alerts${query}`, { signal: AbortSignal.timeout(5000) });
    if (!res.ok) throw new Error(`GET /api/v2/alerts: HTTP ${res.status} ${await res.text()}`);
    return (await res.json()) as GettableAlert[];
  }

  /** Creates a silence for one hour through the v2 API; returns its id. */
  async silence(matchers: Record<string, string>): Promise<string> {
    const now = Date.now();
    const res = await fetch(`${this.url}/api/v2/silences`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        matchers: Object.entries(matchers).map(([name, value]) => ({
          name,
          value,
          isRegex: false,
          isEqual: true,
        })),
        startsAt: new Date(now).toISOString(),
        endsAt: new Date(now + 3_600_000).toISOString(),
        createdBy: 'test',
        comment: 'silenced by the test',
      }),
      signal: AbortSignal.timeout(5000),
    });
    if (!res.ok) throw new Error(`POST /api/v2/silences: HTTP ${res.status} ${await res.text()}`);
    return ((await res.json()) as { silenceID: string }).silenceID;
  }
}
