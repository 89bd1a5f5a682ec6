import type { AlertNotification, NotificationLevel } from '../alert.types';

export type NotificationChannel = 'slack' | 'discord' | 'email' | 'alertmanager' | 'pagerduty' | 'webhook';

/** One alert channel. `send` may reject; the dispatcher bounds it in time, logs and counts the outcome. */
export interface Notifier {
  readonly channel: NotificationChannel;
  /** False when unconfigured: the channel is skipped (a no-op). */
  readonly enabled: boolean;
  send(notification: AlertNotification, signal: AbortSignal): Promise<void>;
}

export const ALERT_NOTIFIERS = Symbol('ALERT_NOTIFIERS');

/** The seed's colours: critical red, warning orange, info blue, anything else grey. */
export const ALERT_COLORS: Record<NotificationLevel, string> = {
  critical: '#FF0000',
  warning: '#FFA500',
  info: '#0000FF',
};
export const DEFAULT_ALERT_COLOR = '#808080';

export function colorFor(level: string): string {
  return (ALERT_COLORS as Record<string, string>)[level] ?? DEFAULT_ALERT_COLOR;
}

/**
 * A failure whose message is safe to log: built by the notifiers from status codes and error codes only, never
 * from a library's message (which may contain the webhook URL or SMTP credentials).
 */
export class NotifyError extends Error {
  constructor(
    message: string,
    readonly attempts = 1,
    readonly timedOut = false,
  ) {
    super(message);
    this.name = 'NotifyError';
  }
}
