import { Injectable, OnApplicationShutdown } from '@nestjs/common';
import { createTransport, Transporter } from 'nodemailer';
import { parseConnectionUrl } from 'nodemailer/lib/shared';
import { AppConfig } from '../../config/app-config';
import type { AlertNotification } from '../alert.types';
import { Notifier, NotifyError } from './notifier';

/** E-mail through nodemailer to ALERT_EMAIL_TO over SMTP_URL; every SMTP phase is bounded by the send timeout. */
@Injectable()
export class EmailNotifier implements Notifier, OnApplicationShutdown {
  readonly channel = 'email' as const;
  private transport: Transporter | null = null;

  constructor(private readonly config: AppConfig) {}

  get enabled(): boolean {
    return this.config.env.SMTP_URL !== undefined && this.config.env.ALERT_EMAIL_TO !== undefined;
  }

  get from(): string {
    return this.config.env.ALERT_EMAIL_FROM ?? `${this.config.env.SERVICE_NAME}@localhost`;
  }

  async send(n: AlertNotification, signal: AbortSignal): Promise<void> {
    const to = this.config.env.ALERT_EMAIL_TO;
    if (!this.enabled || to === undefined) return;
    const transport = this.getTransport();
    const sending = transport.sendMail({
      from: this.from,
      to,
      subject: n.title,
      text: `${n.text}\n\nService: ${this.config.env.SERVICE_NAME}\nAlert: ${n.key}\nTime: ${new Date(n.timestamp).toISOString()}\n`,
    });
    sending.catch(() => undefined);
    const aborted = new Promise<never>((_, reject) => {
      const onAbort = () => reject(new NotifyError('timed out', 1, true));
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    });
    aborted.catch(() => undefined);
    try {
      await Promise.race([sending, aborted]);
    } catch (err) {
      if (err instanceof NotifyError) throw err;
      throw new NotifyError(`SMTP send failed (${smtpCode(err)})`);
    }
  }

  private getTransport(): Transporter {
    if (this.transport === null) {
      const timeout = this.config.alerts.notifyTimeoutMs;
      this.transport = createTransport({
        ...parseConnectionUrl(this.config.env.SMTP_URL ?? ''),
        connectionTimeout: timeout,
        greetingTimeout: timeout,
        socketTimeout: timeout,
        dnsTimeout: timeout,
      });
    }
    return this.transport;
  }

  onApplicationShutdown(): void {
    this.transport?.close();
    this.transport = null;
  }
}

/** SMTP response code or Node error code, never the message (it may echo the server address or credentials). */
function smtpCode(err: unknown): string {
  if (typeof err !== 'object' || err === null) return 'unknown error';
  const e = err as { responseCode?: unknown; code?: unknown };
  if (typeof e.responseCode === 'number') return `SMTP ${e.responseCode}`;
  if (typeof e.code === 'string' && /^[A-Z0-9_]+$/.test(e.code)) return e.code;
  return 'unknown error';
}
