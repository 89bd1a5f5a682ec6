import { Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { Counter } from 'prom-client';
import { AppConfig } from '../../config/app-config';
import { InstanceInfo } from '../../lifecycle/instance-info';
import { AlertDispatcher } from '../alert-dispatcher';
import { AlertKey, alertNameFor, runbookUrl } from '../alert-keys';
import type { AlertState } from '../alert.types';
import { Clock } from '../clock';
import { NotifyError } from './notifier';
import { postJson } from './webhook-client';

/** One alert of Alertmanager's v2 API (POST /api/v2/alerts takes an array of these). */
export interface PostableAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
}

/**
 * How many evaluation intervals a pushed alert stays valid without a fresh push, as Prometheus does (4 × its
 * resend period): a replica that dies stops pushing and its alerts resolve by themselves after that.
 */
export const VALIDITY_INTERVALS = 4;

type Firing = 'warning' | 'critical';

/**
 * Mirrors the engine's state into Alertmanager (ALERTMANAGER_URL) after every evaluation, as Prometheus does: each
 * active key is pushed again with a fresh endsAt while it holds, a resolved key (or a severity left behind) is
 * pushed once with endsAt = now. Grouping, routing, silences, inhibition and repeat intervals are Alertmanager's.
 *
 * Labels: alertname (from the key, the same as the shipped Prometheus rules), alert_key, severity, service and,
 * for alerts about this replica only, instance. Cluster-wide alerts (Redis) carry no instance, so every replica
 * pushes the same alert and Alertmanager merges them: no lock needed.
 *
 * A push runs in the background, bounded by ALERT_NOTIFY_TIMEOUT_MS with retries for 429/5xx; one in flight at a
 * time (a newer state waiting behind it is pushed next). A failed push changes nothing that was recorded as
 * pushed, so the next one carries the resolutions again.
 */
@Injectable()
export class AlertmanagerNotifier implements OnApplicationShutdown {
  readonly channel = 'alertmanager' as const;
  private readonly logger = new Logger(AlertmanagerNotifier.name);
  private readonly pushed = new Map<AlertKey, { severity: Firing; startsAt: string }>();
  private readonly intervals = new Map<AlertKey, number>();
  private latest: AlertState[] | null = null;
  private inFlight: Promise<void> | null = null;
  private failing = false;
  private readonly counter: Counter<'channel' | 'result'>;

  constructor(
    private readonly config: AppConfig,
    private readonly instance: InstanceInfo,
    private readonly clock: Clock,
    dispatcher: AlertDispatcher,
  ) {
    this.counter = dispatcher.counter;
  }

  get enabled(): boolean {
    return this.config.env.ALERTMANAGER_URL !== undefined;
  }

  /** After an evaluation of `evaluated` (a monitor's keys, checked every `intervalMs`): push `states`. */
  sync(states: AlertState[], evaluated: AlertKey[], intervalMs: number): void {
    if (!this.enabled) return;
    for (const key of evaluated) this.intervals.set(key, intervalMs);
    this.latest = states;
    if (this.inFlight !== null) return; // picked up when the push in flight ends
    const run = async (): Promise<void> => {
      while (this.latest !== null) {
        const next = this.latest;
        this.latest = null;
        await this.push(next);
      }
    };
    this.inFlight = run().finally(() => (this.inFlight = null));
  }

  /** Resolves once every push handed over so far has ended (tests, shutdown). */
  async flush(): Promise<void> {
    while (this.inFlight !== null) await this.inFlight;
  }

  async onApplicationShutdown(): Promise<void> {
    await this.flush();
  }

  /** The alerts one push carries, and what is recorded as pushed once Alertmanager accepted them. */
  private build(
    states: AlertState[],
    now: number,
  ): { alerts: PostableAlert[]; after: Map<AlertKey, { severity: Firing; startsAt: string }> } {
    const alerts: PostableAlert[] = [];
    const after = new Map(this.pushed);
    const nowIso = new Date(now).toISOString();
    for (const s of states) {
      const prev = this.pushed.get(s.key);
      if (prev !== undefined && prev.severity !== s.severity) {
        alerts.push({ ...this.describe(s, prev.severity), startsAt: prev.startsAt, endsAt: nowIso });
        after.delete(s.key);
      }
      if (s.severity === 'ok') continue;
      const startsAt = new Date(s.since ?? now).toISOString();
      const validMs =
        VALIDITY_INTERVALS * (this.intervals.get(s.key) ?? this.config.env.ALERT_EVAL_INTERVAL_MS);
      alerts.push({
        ...this.describe(s, s.severity),
        startsAt,
        endsAt: new Date(now + validMs).toISOString(),
      });
      after.set(s.key, { severity: s.severity, startsAt });
    }
    return { alerts, after };
  }

  private describe(s: AlertState, severity: Firing): Pick<PostableAlert, 'labels' | 'annotations'> {
    const env = this.config.env;
    const labels: Record<string, string> = {
      alertname: alertNameFor(s.key),
      alert_key: s.key,
      severity,
      service: env.SERVICE_NAME,
    };
    if (!s.clusterWide) labels.instance = this.instance.id;
    return {
      labels,
      annotations: {
        summary: s.label,
        description: s.message,
        runbook_url: runbookUrl(env.ALERT_RUNBOOK_BASE_URL, s.key),
      },
    };
  }

  private async push(states: AlertState[]): Promise<void> {
    const url = this.config.env.ALERTMANAGER_URL;
    if (url === undefined) return;
    const { alerts, after } = this.build(states, this.clock.now());
    if (alerts.length === 0) return;
    const timeoutMs = this.config.env.ALERT_NOTIFY_TIMEOUT_MS;
    try {
      await postJson(
        `${url.replace(/\/+$/, '')}/api/v2/alerts`,
        alerts,
        AbortSignal.timeout(timeoutMs),
        performance.now() + timeoutMs,
      );
      this.pushed.clear();
      for (const [k, v] of after) this.pushed.set(k, v);
      this.counter.inc({ channel: this.channel, result: 'success' });
      if (this.failing) this.logger.log({ message: 'Alertmanager push works again', alerts: alerts.length });
      this.failing = false;
    } catch (err) {
      const timedOut = err instanceof NotifyError && err.timedOut;
      this.counter.inc({ channel: this.channel, result: timedOut ? 'timeout' : 'failure' });
      // Once per outage at warn: a push is retried on every evaluation, which would flood the log.
      const log = this.failing ? 'debug' : 'warn';
      this.failing = true;
      this.logger[log]({
        message: 'Alertmanager push failed; retried at the next evaluation',
        // Never a library's message: it could carry the URL.
        error: err instanceof NotifyError ? err.message : err instanceof Error ? err.name : 'unknown error',
      });
    }
  }
}
