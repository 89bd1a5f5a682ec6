import { setTimeout as delay } from 'node:timers/promises';
import { Injectable } from '@nestjs/common';
import { AppConfig } from '../../config/app-config';
import type { AlertNotification } from '../alert.types';
import { NotificationChannel, Notifier, NotifyError } from './notifier';

export interface WebhookRetryPolicy {
  /** Attempts in all, the first included. */
  maxAttempts: number;
  /** Backoff before retry n (1-based) is baseDelayMs × 2^(n−1) when the server gives no Retry-After. */
  baseDelayMs: number;
  /** A Retry-After longer than this is capped to it. */
  maxRetryAfterMs: number;
}

export const DEFAULT_RETRY_POLICY: WebhookRetryPolicy = {
  maxAttempts: 3,
  baseDelayMs: 250,
  maxRetryAfterMs: 10_000,
};

/**
 * POSTs JSON to a webhook, retrying 429, 5xx and dropped connections with backoff (honouring Retry-After, capped).
 * `signal` bounds the whole send, retries and waits included; a wait that would outlast it is not started.
 * Errors are NotifyErrors whose messages never contain the URL.
 */
export async function postJson(
  url: string,
  body: unknown,
  signal: AbortSignal,
  deadline: number,
  policy: WebhookRetryPolicy = DEFAULT_RETRY_POLICY,
  /** Extra headers computed from the exact body sent (a signature must cover the bytes on the wire). */
  headersFor?: (payload: string) => Record<string, string>,
): Promise<{ attempts: number; status: number }> {
  const payload = JSON.stringify(body);
  const headers = { ...headersFor?.(payload), 'content-type': 'application/json' };
  for (let attempt = 1; ; attempt++) {
    let status: number;
    let retryAfterMs: number | null = null;
    let failure: string;
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers,
        body: payload,
        signal,
        redirect: 'error',
      });
      // Read the (small) body so the connection can be reused; its content is not needed.
      await res.arrayBuffer().catch(() => undefined);
      status = res.status;
      if (res.ok) return { attempts: attempt, status };
      if (status !== 429 && status < 500) throw new NotifyError(`HTTP ${status}`, attempt);
      retryAfterMs = parseRetryAfter(res.headers.get('retry-after'), Date.now());
      failure = `HTTP ${status}`;
    } catch (err) {
      if (err instanceof NotifyError) throw err;
      if (signal.aborted) throw new NotifyError('timed out', attempt, true);
      failure = `request failed (${networkCode(err)})`;
    }
    if (attempt >= policy.maxAttempts) throw new NotifyError(`${failure} after ${attempt} attempts`, attempt);
    const wait = Math.min(retryAfterMs ?? policy.baseDelayMs * 2 ** (attempt - 1), policy.maxRetryAfterMs);
    if (performance.now() + wait >= deadline) {
      throw new NotifyError(`${failure}; retry in ${wait}ms would pass the send timeout`, attempt);
    }
    try {
      await delay(wait, undefined, { signal });
    } catch {
      throw new NotifyError(`${failure}; timed out waiting to retry`, attempt, true);
    }
  }
}

/** Retry-After as seconds or an HTTP date, in ms; null when absent or unreadable. */
export function parseRetryAfter(header: string | null, now: number): number | null {
  if (header === null || header.trim() === '') return null;
  const seconds = Number(header.trim());
  if (Number.isFinite(seconds)) return Math.max(0, Math.round(seconds * 1000));
  const date = Date.parse(header);
  return Number.isNaN(date) ? null : Math.max(0, date - now);
}

/** A network error's code (ECONNRESET, ECONNREFUSED, UND_ERR_SOCKET...), never its message. */
function networkCode(err: unknown): string {
  const codeOf = (e: unknown): string | undefined => {
    if (typeof e !== 'object' || e === null) return undefined;
    const code = (e as { code?: unknown }).code;
    return typeof code === 'string' && /^[A-Z0-9_]+$/.test(code) ? code : undefined;
  };
  const cause = typeof err === 'object' && err !== null ? (err as { cause?: unknown }).cause : undefined;
  return codeOf(cause) ?? codeOf(err) ?? (err instanceof Error ? err.name : 'unknown error');
}

/**
 * A notifier that POSTs one JSON body to a webhook URL from the configuration (Slack, Discord): a no-op while
 * the URL is unset, and every send bounded by ALERT_NOTIFY_TIMEOUT_MS, retries included. Injectable so its
 * constructor's parameter types are recorded: subclasses without a constructor of their own inherit them.
 */
@Injectable()
export abstract class WebhookNotifier implements Notifier {
  abstract readonly channel: NotificationChannel;

  constructor(protected readonly config: AppConfig) {}

  /** The webhook URL (a secret), or undefined when the channel is not configured. */
  protected abstract url(): string | undefined;

  protected abstract body(n: AlertNotification): unknown;

  /** Headers computed from the exact JSON sent (none by default; a signed webhook adds its signature). */
  protected headers(_payload: string): Record<string, string> {
    return {};
  }

  get enabled(): boolean {
    return this.url() !== undefined;
  }

  async send(n: AlertNotification, signal: AbortSignal): Promise<void> {
    const url = this.url();
    if (url === undefined) return;
    const deadline = performance.now() + this.config.alerts.notifyTimeoutMs;
    await postJson(url, this.body(n), signal, deadline, DEFAULT_RETRY_POLICY, (payload) =>
      this.headers(payload),
    );
  }
}
