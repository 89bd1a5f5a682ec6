import { createHmac } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { AppConfig } from '../../config/app-config';
import { InstanceInfo } from '../../lifecycle/instance-info';
import { alertNameFor } from '../alert-keys';
import type { AlertNotification, NotificationKind, NotificationLevel } from '../alert.types';
import { WebhookNotifier } from './webhook-client';

export const SIGNATURE_HEADER = 'x-alert-signature';
export const TIMESTAMP_HEADER = 'x-alert-timestamp';

/** The body of every generic webhook request (documented in docs/operations-stack.md; `version` changes if it does). */
export interface SignedWebhookBody {
  version: 1;
  service: string;
  instance: string;
  key: string;
  alertname: string;
  kind: NotificationKind;
  level: NotificationLevel;
  text: string;
  title: string;
  timestamp: string;
  clusterWide: boolean;
}

/** `sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">`: the timestamp is signed so a receiver can refuse replays. */
export function signWebhook(secret: string, timestamp: string, payload: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${payload}`).digest('hex')}`;
}

/**
 * A generic JSON webhook (ALERT_WEBHOOK_URL) for receivers that are neither Slack nor Discord: the same
 * notifications, a stable body, and an HMAC-SHA256 signature (ALERT_WEBHOOK_SECRET) with its timestamp.
 */
@Injectable()
export class SignedWebhookNotifier extends WebhookNotifier {
  readonly channel = 'webhook' as const;

  constructor(
    config: AppConfig,
    private readonly instance: InstanceInfo,
  ) {
    super(config);
  }

  static payload(n: AlertNotification, service: string, instance: string): SignedWebhookBody {
    return {
      version: 1,
      service,
      instance,
      key: n.key,
      alertname: alertNameFor(n.key),
      kind: n.kind,
      level: n.level,
      text: n.text,
      title: n.title,
      timestamp: new Date(n.timestamp).toISOString(),
      clusterWide: n.clusterWide,
    };
  }

  protected url(): string | undefined {
    return this.config.env.ALERT_WEBHOOK_SECRET === undefined ? undefined : this.config.env.ALERT_WEBHOOK_URL;
  }

  protected body(n: AlertNotification): SignedWebhookBody {
    return SignedWebhookNotifier.payload(n, this.config.env.SERVICE_NAME, this.instance.id);
  }

  protected override headers(payload: string): Record<string, string> {
    const timestamp = String(Math.floor(Date.now() / 1000));
    return {
      [TIMESTAMP_HEADER]: timestamp,
      [SIGNATURE_HEADER]: signWebhook(this.config.env.ALERT_WEBHOOK_SECRET ?? '', timestamp, payload),
    };
  }
}
