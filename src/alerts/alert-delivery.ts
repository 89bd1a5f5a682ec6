import { Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { errorMessage } from '../common/with-timeout';
import { AlertDispatcher } from './alert-dispatcher';
import type { AlertNotification } from './alert.types';
import { ClusterLock } from './cluster-lock';

/**
 * Sends notifications in the background, so evaluations never wait on a channel, and posts cluster-wide ones
 * once across replicas: the replica that takes the Redis lock posts, the others skip. When the lock cannot be
 * asked (Redis is down or not configured) every replica that sees the change posts: when Redis itself is down,
 * a duplicate "Redis down" per replica is preferred to the risk of nobody paging. The lock lives for two
 * Redis-check intervals, the longest time by which replicas see the same change apart.
 */
@Injectable()
export class AlertDelivery implements OnApplicationShutdown {
  private readonly logger = new Logger(AlertDelivery.name);
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    private readonly config: AppConfig,
    private readonly lock: ClusterLock,
    private readonly dispatcher: AlertDispatcher,
  ) {}

  deliver(notification: AlertNotification): void {
    const log =
      notification.level === 'critical' ? 'error' : notification.level === 'warning' ? 'warn' : 'log';
    this.logger[log]({
      message: 'Alert',
      key: notification.key,
      kind: notification.kind,
      text: notification.text,
    });
    const p: Promise<void> = this.run(notification)
      .catch((err: unknown) => {
        this.logger.error({
          message: 'Alert delivery failed',
          key: notification.key,
          error: errorMessage(err),
        });
      })
      .finally(() => this.inFlight.delete(p));
    this.inFlight.add(p);
  }

  /** Resolves when every notification handed over so far has been sent or has failed (tests, shutdown). */
  async flush(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  private async run(n: AlertNotification): Promise<void> {
    if (n.clusterWide) {
      const ttl = 2 * this.config.alerts.redisIntervalMs;
      const lock = await this.lock.acquire(`${n.key}:${n.kind}:${n.level}`, ttl);
      if (lock === 'held') {
        this.logger.debug({ message: 'Alert already posted by another instance', key: n.key, kind: n.kind });
        return;
      }
      if (lock === 'unavailable') {
        this.logger.debug({
          message: 'Alert lock unavailable; posting from this instance',
          key: n.key,
          kind: n.kind,
        });
      }
    }
    if (this.dispatcher.channels.length === 0) return;
    await this.dispatcher.dispatch(n);
  }

  async onApplicationShutdown(): Promise<void> {
    await this.flush();
  }
}
