import { Injectable } from '@nestjs/common';
import { AppConfig } from '../../config/app-config';
import type { AlertNotification } from '../alert.types';
import { colorFor, Notifier } from './notifier';
import { postJson } from './webhook-client';

export interface DiscordPayload {
  embeds: Array<{ description: string; color: number; footer: { text: string }; timestamp: string }>;
}

/** Discord webhook (DISCORD_WEBHOOK): one embed with the Slack colour as an integer and the same text. */
@Injectable()
export class DiscordNotifier implements Notifier {
  readonly channel = 'discord' as const;

  constructor(private readonly config: AppConfig) {}

  get enabled(): boolean {
    return this.config.env.DISCORD_WEBHOOK !== undefined;
  }

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

  async send(n: AlertNotification, signal: AbortSignal): Promise<void> {
    const url = this.config.env.DISCORD_WEBHOOK;
    if (url === undefined) return;
    const deadline = performance.now() + this.config.env.ALERT_NOTIFY_TIMEOUT_MS;
    await postJson(url, DiscordNotifier.payload(n, this.config.env.SERVICE_NAME), signal, deadline);
  }
}
