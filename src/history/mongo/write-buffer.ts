import { Logger } from '@nestjs/common';
import { errorMessage, withTimeout } from '../../common/with-timeout';

export interface WriteBufferOptions<T> {
  /** What is written, for logs: 'metric snapshots', 'alert transitions'. */
  name: string;
  /** Records held while writes fail; the oldest are dropped beyond it. */
  capacity: number;
  /** How long one insert may take before it counts as failed. */
  timeoutMs: number;
  batchSize: number;
  /** False while the connection is down or the collections are not ready: do not even try. */
  canWrite: () => boolean;
  insert: (batch: T[]) => Promise<void>;
  logger: Logger;
}

/**
 * Writes records in order through a bounded queue. While MongoDB is away or slow, records wait here (at most
 * `capacity`, the oldest dropped first, with one warning per outage) and are written when it answers again.
 * Never rejects: history must not take the caller down with it.
 */
export class WriteBuffer<T> {
  private queue: T[] = [];
  private flushing: Promise<void> | null = null;
  private failingSince: number | null = null;
  private droppedThisOutage = 0;
  private warnedThisOutage = false;

  constructor(private readonly options: WriteBufferOptions<T>) {}

  /** Records waiting to be written. */
  get pending(): number {
    return this.queue.length;
  }

  get isFailing(): boolean {
    return this.failingSince !== null;
  }

  /** Queues a record and tries to write the queue; resolves once tried (within about timeoutMs), never rejects. */
  add(record: T): Promise<void> {
    this.queue.push(record);
    this.trim();
    return this.flush();
  }

  /** Writes what is queued, if the backend can take it. Also called when the connection comes back. */
  flush(): Promise<void> {
    if (this.flushing === null) {
      this.flushing = this.drain().finally(() => {
        this.flushing = null;
        // A record queued while the last batch was finishing must not wait for the next add().
        if (this.queue.length > 0 && this.failingSince === null && this.options.canWrite()) void this.flush();
      });
    }
    return this.flushing;
  }

  private async drain(): Promise<void> {
    const { canWrite, insert, timeoutMs, batchSize, name } = this.options;
    let written = 0;
    while (this.queue.length > 0) {
      if (!canWrite()) {
        this.markFailing('MongoDB is not connected');
        return;
      }
      const batch = this.queue.splice(0, batchSize);
      try {
        await withTimeout(
          insert(batch),
          timeoutMs,
          `MongoDB did not acknowledge ${name} within ${timeoutMs}ms`,
        );
        written += batch.length;
      } catch (err) {
        this.queue.unshift(...batch);
        this.trim();
        this.markFailing(errorMessage(err));
        return;
      }
    }
    if (this.failingSince !== null) this.markRestored(written);
  }

  private trim(): void {
    const overflow = this.queue.length - this.options.capacity;
    if (overflow <= 0) return;
    this.queue.splice(0, overflow);
    this.droppedThisOutage += overflow;
    if (!this.warnedThisOutage) {
      this.warnedThisOutage = true;
      this.options.logger.warn({
        message: 'History buffer full while MongoDB is unavailable: dropping the oldest records',
        records: this.options.name,
        capacity: this.options.capacity,
      });
    }
  }

  private markFailing(reason: string): void {
    if (this.failingSince !== null) return;
    this.failingSince = Date.now();
    this.options.logger.log({
      message: 'History writes failing: buffering records until MongoDB answers',
      records: this.options.name,
      reason,
      capacity: this.options.capacity,
    });
  }

  private markRestored(written: number): void {
    this.options.logger.log({
      message: 'History writes restored',
      records: this.options.name,
      outageMs: Date.now() - (this.failingSince ?? Date.now()),
      written,
      dropped: this.droppedThisOutage,
    });
    this.failingSince = null;
    this.droppedThisOutage = 0;
    this.warnedThisOutage = false;
  }
}
