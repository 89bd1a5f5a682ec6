import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import { errorMessage } from '../common/with-timeout';
import { ALERT_HISTORY_STORE, AlertHistoryStore, AlertTransition } from '../history/history.types';

export const RECENT_TRANSITIONS = 100;

/**
 * Where alert transitions go: the shared history store when the app provides one (in memory or MongoDB), and
 * always a bounded in-process list of the last 100, which answers `recent` when there is no store or the store
 * cannot answer.
 */
@Injectable()
export class AlertHistory {
  private readonly logger = new Logger(AlertHistory.name);
  private readonly local: AlertTransition[] = [];
  private storeFailing = false;

  constructor(
    @Optional() @Inject(ALERT_HISTORY_STORE) private readonly store: AlertHistoryStore | null = null,
  ) {}

  get hasStore(): boolean {
    return this.store !== null && this.store !== undefined;
  }

  record(transition: AlertTransition): void {
    this.local.unshift(transition);
    if (this.local.length > RECENT_TRANSITIONS) this.local.length = RECENT_TRANSITIONS;
    if (!this.hasStore) return;
    // The store never throws by contract; a broken one must still not reach the monitors.
    this.store!.append(transition).catch((err: unknown) => {
      this.logger.warn({
        message: 'Alert history store rejected a transition',
        key: transition.key,
        error: errorMessage(err),
      });
    });
  }

  /** Newest first. */
  async recent(limit = RECENT_TRANSITIONS): Promise<AlertTransition[]> {
    if (this.hasStore) {
      try {
        const rows = await this.store!.recent(limit);
        this.storeFailing = false;
        return rows;
      } catch (err) {
        if (!this.storeFailing) {
          this.logger.warn({
            message: 'Alert history store unavailable; answering from this instance',
            error: errorMessage(err),
          });
        }
        this.storeFailing = true;
      }
    }
    return this.local.slice(0, limit);
  }
}
