import { Injectable } from '@nestjs/common';
import type { AlertNotification } from '../alert.types';
import { colorFor } from './notifier';
import { WebhookNotifier } from './webhook-client';

export interface SlackPayload {
  attachments: Array<{ color: string; text: string; footer: string; ts: number }>;
}

/** Slack incoming webhook (SLACK_WEBHOOK), the seed's message shape. */
@Injectable()
export class SlackNotifier extends WebhookNotifier {
  readonly channel = 'slack' as const;

  static payload(n: AlertNotification, serviceName: string): SlackPayload {
    return {
      attachments: [
        { color: colorFor(n.level), text: n.text, footer: serviceName, ts: Math.floor(n.timestamp / 1000) },
      ],
    };
  }

  protected url(): string | undefined {
    return this.config.env.SLACK_WEBHOOK;
  }

  protected body(n: AlertNotification): SlackPayload {
    return SlackNotifier.payload(n, this.config.env.SERVICE_NAME);
  }
}
