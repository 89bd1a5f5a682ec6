import { Injectable, Logger } from '@nestjs/common';
import { AppConfig } from '../../config/app-config';
import { errorMessage } from '../../common/with-timeout';
import { MetricsService } from '../../metrics/metrics.service';
import { ALERT_KEYS } from '../alert-keys';
import type { Monitor, Reading } from '../alert.types';

/**
 * The figures the metrics module measures over its 60 s window: HTTP error rate (% of responses that were 5xx),
 * HTTP p95 (both without health probes), active WebSocket connections, event-loop delay p99. While the metrics are not available (the
 * gateway is not up yet) there is nothing to evaluate: those alerts keep their state.
 */
@Injectable()
export class TrafficMonitor implements Monitor {
  readonly name = 'traffic';
  readonly enabled = true;
  private readonly logger = new Logger(TrafficMonitor.name);
  private unavailable = false;

  constructor(
    private readonly metrics: MetricsService,
    private readonly config: AppConfig,
  ) {}

  get intervalMs(): number {
    return this.config.alerts.evalIntervalMs;
  }

  async check(): Promise<Reading[]> {
    const alerts = this.config.alerts;
    let s;
    try {
      s = await this.metrics.snapshot();
    } catch (err) {
      if (!this.unavailable)
        this.logger.debug({ message: 'Metrics not available for alerting yet', error: errorMessage(err) });
      this.unavailable = true;
      return [];
    }
    this.unavailable = false;
    return [
      {
        kind: 'metric',
        key: ALERT_KEYS.httpErrorRate,
        label: 'HTTP error rate',
        value: s.http.errorRate,
        unit: '%',
        ...alerts.errorRate,
      },
      {
        kind: 'metric',
        key: ALERT_KEYS.httpResponseTime,
        label: 'HTTP response time p95',
        value: s.http.latency.p95,
        unit: 'ms',
        ...alerts.responseTime,
      },
      {
        kind: 'metric',
        key: ALERT_KEYS.connections,
        label: 'Active connections',
        value: s.websocket.totalConnections,
        unit: '',
        ...alerts.connections,
      },
      {
        kind: 'metric',
        key: ALERT_KEYS.eventLoopDelay,
        label: 'Event-loop delay p99',
        value: s.system.eventLoopDelay.p99,
        unit: 'ms',
        ...alerts.eventLoopDelay,
      },
    ];
  }
}
