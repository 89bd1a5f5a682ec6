import { BadRequestException, Inject, Injectable } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { errorMessage, withTimeout } from '../common/with-timeout';
import { bucketWidthMs } from './downsample';
import {
  ALERT_HISTORY_STORE,
  AlertTransition,
  HISTORY_RANGES,
  HistoryRange,
  HistoryUnavailableError,
  METRICS_HISTORY_STORE,
  MetricHistoryPoint,
  MetricsHistoryStore,
  QueryableAlertHistoryStore,
} from './history.types';

/** Alert transitions returned with one history answer, to mark on the charts (the newest when more). */
export const HISTORY_ALERT_MARKS_LIMIT = 500;
/** Instance ids are RAILWAY_REPLICA_ID values (UUIDs) or hostname:pid. */
const INSTANCE_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export interface MetricsHistoryResponse {
  range: HistoryRange;
  from: string;
  to: string;
  bucketMs: number;
  instance: string | null;
  backend: 'memory' | 'mongodb';
  instances: string[];
  points: MetricHistoryPoint[];
  alerts: Array<Omit<AlertTransition, 'timestamp'> & { timestamp: string }>;
  /** Process starts (deploys and restarts) in the range, oldest first: the charts' deploy markers. */
  deploys: Array<{ instanceId: string; version: string; startedAt: string }>;
}

export function parseRange(raw: unknown): HistoryRange {
  if (raw === undefined) return '1h';
  if (typeof raw === 'string' && Object.hasOwn(HISTORY_RANGES, raw)) return raw as HistoryRange;
  throw new BadRequestException(`range must be one of ${Object.keys(HISTORY_RANGES).join(', ')}`);
}

export function parseInstance(raw: unknown): string | undefined {
  if (raw === undefined) return undefined;
  if (typeof raw === 'string' && INSTANCE_ID.test(raw)) return raw;
  throw new BadRequestException(
    'instance must be 1-128 characters of letters, digits, dot, dash, underscore, colon',
  );
}

@Injectable()
export class HistoryService {
  constructor(
    @Inject(METRICS_HISTORY_STORE) private readonly metrics: MetricsHistoryStore,
    @Inject(ALERT_HISTORY_STORE) private readonly alerts: QueryableAlertHistoryStore,
    private readonly config: AppConfig,
  ) {}

  /** Rejects with HistoryUnavailableError when the store cannot answer within HEALTH_CHECK_TIMEOUT_MS. */
  async history(range: HistoryRange, instanceId?: string, now = Date.now()): Promise<MetricsHistoryResponse> {
    const rangeMs = HISTORY_RANGES[range];
    const from = new Date(now - rangeMs);
    const to = new Date(now + 1); // [from, to): include a snapshot taken this very millisecond
    const bucketMs = bucketWidthMs(rangeMs, this.config.history.snapshotIntervalMs);
    const timeoutMs = this.config.healthCheckTimeoutMs;
    const [series, transitions, starts] = await withTimeout(
      Promise.all([
        this.metrics.series({ from, to, bucketMs, instanceId }),
        this.alerts.between(from, to, HISTORY_ALERT_MARKS_LIMIT, instanceId),
        this.metrics.starts({ from, to, instanceId }),
      ]),
      timeoutMs,
      `History did not answer within ${timeoutMs}ms`,
    ).catch((err: unknown) => {
      throw err instanceof HistoryUnavailableError
        ? err
        : new HistoryUnavailableError(`History is unavailable: ${errorMessage(err)}`);
    });
    return {
      range,
      from: from.toISOString(),
      to: new Date(now).toISOString(),
      bucketMs,
      instance: instanceId ?? null,
      backend: this.metrics.backend,
      instances: series.instances,
      points: series.points,
      alerts: transitions.map((t) => ({ ...t, timestamp: t.timestamp.toISOString() })),
      deploys: starts.map((s) => ({
        instanceId: s.instanceId,
        version: s.version,
        startedAt: s.startedAt.toISOString(),
      })),
    };
  }
}
