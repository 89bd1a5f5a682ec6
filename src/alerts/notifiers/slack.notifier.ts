import { Injectable } from '@nestjs/common';
import { AppConfig } from '../../config/app-config';
import type { AlertNotification } from '../alert.types';
import { colorFor, Notifier } from './notifier';
import { postJson } from './webhook-client';

export interface SlackPayload {
  attachments: Array<{ color: string; text: string; footer: string; ts: number }>;
}

/** Slack incoming webhook (SLACK_WEBHOOK), the seed's message shape. */
@Injectable()
export class SlackNotifier implements Notifier {
  readonly channel = 'slack' as const;

  constructor(private readonly config: AppConfig) {}

  get enabled(): boolean {
    return this.config.env.SLACK_WEBHOOK !== undefined;
  }

  static payload(n: AlertNotification, serviceName: string): SlackPayload {
    return {
      attachments: [
        { color: colorFor(n.level), text: n.text, footer: serviceName, ts: Math.floor(n.timestamp / 1000) },
      ],
    };
  }

  async send(n: AlertNotification, signal: AbortSignal): Promise<void> {
    const url = this.config.env.SLACK_WEBHOOK;
    if (url === undefined) return;
    const deadline = performance.now() + this.config.env.ALERT_NOTIFY_TIMEOUT_MS;
    await postJson(url, SlackNotifier.payload(n, this.config.env.SERVICE_NAME), signal, deadline);
  }
}
