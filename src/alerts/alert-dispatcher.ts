import { Inject, Injectable, Logger } from '@nestjs/common';
import { Counter } from 'prom-client';
import { AppConfig } from '../config/app-config';
import { TimeoutError, withTimeout } from '../common/with-timeout';
import type { AlertNotification } from './alert.types';
import { ALERT_NOTIFIERS, NotificationChannel, Notifier, NotifyError } from './notifiers/notifier';

export const ALERT_NOTIFICATIONS_METRIC = 'alerts_notifications_total';

export type SendResult = 'success' | 'failure' | 'timeout';

export interface ChannelOutcome {
  channel: NotificationChannel;
  result: SendResult;
  error?: string;
}

/**
 * Sends one notification to every configured channel at once. Each send is bounded by ALERT_NOTIFY_TIMEOUT_MS
 * (retries and their waits included), never throws, and is logged (without the URL) and counted in
 * alerts_notifications_total{channel,result}; a hung channel only ever costs its own timeout.
 */
@Injectable()
export class AlertDispatcher {
  private readonly logger = new Logger(AlertDispatcher.name);
  /** Created unregistered (one per app, not prom-client's global registry); AlertsMetrics registers it. */
  readonly counter = new Counter({
    name: ALERT_NOTIFICATIONS_METRIC,
    help: 'Alert notifications sent, by channel and result (success, failure, timeout)',
    labelNames: ['channel', 'result'] as const,
    registers: [],
  });

  constructor(
    private readonly config: AppConfig,
    @Inject(ALERT_NOTIFIERS) private readonly notifiers: Notifier[],
  ) {}

  get channels(): NotificationChannel[] {
    return this.notifiers.filter((n) => n.enabled).map((n) => n.channel);
  }

  async dispatch(notification: AlertNotification): Promise<ChannelOutcome[]> {
    const enabled = this.notifiers.filter((n) => n.enabled);
    const settled = await Promise.allSettled(enabled.map((n) => this.sendOne(n, notification)));
    return settled.map((s, i) =>
      s.status === 'fulfilled'
        ? s.value
        : { channel: enabled[i].channel, result: 'failure' as const, error: 'internal error' },
    );
  }

  private async sendOne(notifier: Notifier, n: AlertNotification): Promise<ChannelOutcome> {
    const timeoutMs = this.config.alerts.notifyTimeoutMs;
    const signal = AbortSignal.timeout(timeoutMs);
    const started = performance.now();
    let outcome: ChannelOutcome;
    try {
      // The hard cap covers a notifier that ignores its signal.
      await withTimeout(notifier.send(n, signal), timeoutMs + 50, `timed out after ${timeoutMs}ms`);
      outcome = { channel: notifier.channel, result: 'success' };
    } catch (err) {
      const timedOut =
        err instanceof TimeoutError || (err instanceof NotifyError && err.timedOut) || signal.aborted;
      outcome = {
        channel: notifier.channel,
        result: timedOut ? 'timeout' : 'failure',
        error: this.safeMessage(err, timeoutMs),
      };
    }
    this.counter.inc({ channel: outcome.channel, result: outcome.result });
    const duration = `${Math.round(performance.now() - started)}ms`;
    if (outcome.result === 'success') {
      this.logger.log({
        message: 'Alert notification sent',
        channel: outcome.channel,
        key: n.key,
        kind: n.kind,
        duration,
      });
    } else {
      this.logger.warn({
        message: 'Alert notification failed',
        channel: outcome.channel,
        key: n.key,
        kind: n.kind,
        result: outcome.result,
        error: outcome.error,
        duration,
      });
    }
    return outcome;
  }

  /** Notifier errors are built to be safe; anything else is reduced to its name, and known secrets are masked. */
  private safeMessage(err: unknown, timeoutMs: number): string {
    let message: string;
    if (err instanceof NotifyError)
      message = err.timedOut ? `timed out after ${timeoutMs}ms (${err.message})` : err.message;
    else if (err instanceof TimeoutError) message = err.message;
    else message = err instanceof Error ? err.name : 'unknown error';
    const env = this.config.env;
    for (const secret of [
      env.SLACK_WEBHOOK,
      env.DISCORD_WEBHOOK,
      env.SMTP_URL,
      env.ALERTMANAGER_URL,
      env.PAGERDUTY_ROUTING_KEY,
      env.ALERT_WEBHOOK_URL,
      env.ALERT_WEBHOOK_SECRET,
    ]) {
      if (secret !== undefined) message = message.split(secret).join('[REDACTED]');
    }
    return message;
  }
}
