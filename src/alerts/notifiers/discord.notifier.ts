import { Injectable } from '@nestjs/common';
import type { AlertNotification } from '../alert.types';
import { colorFor } from './notifier';
import { WebhookNotifier } from './webhook-client';

export interface DiscordPayload {
  embeds: Array<{ description: string; color: number; footer: { text: string }; timestamp: string }>;
}

/** Discord webhook (DISCORD_WEBHOOK): one embed with the Slack colour as an integer and the same text. */
@Injectable()
export class DiscordNotifier extends WebhookNotifier {
  readonly channel = 'discord' as const;

  static payload(n: AlertNotification, serviceName: string): DiscordPayload {
    return {
      embeds: [
        {
          description: n.text,
          color: parseInt(colorFor(n.level).slice(1), 16),
          footer: { text: serviceName },
          timestamp: new Date(n.timestamp).toISOString(),
        },
      ],
    };
  }

  protected url(): string | undefined {
    return this.config.env.DISCORD_WEBHOOK;
  }

  protected body(n: AlertNotification): DiscordPayload {
    return DiscordNotifier.payload(n, this.config.env.SERVICE_NAME);
  }
}
