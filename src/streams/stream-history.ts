import { Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import type Redis from 'ioredis';
import { createHash } from 'node:crypto';
import { AppConfig } from '../config/app-config';
import { errorMessage, withTimeout } from '../common/with-timeout';
import { MetricsService } from '../metrics/metrics.service';
import { RedisService } from '../redis/redis.service';
import { MemoryIdempotency } from './idempotency-memory';
import { MemoryStreamLog } from './memory-stream-log';
import { RedisStreamLog } from './redis-stream-log';
import type { PublishOutcome, PublishRequest, ResumeOutcome, StreamLog } from './stream-log';
import { META_TTL_MS, streamChannel, type StreamPosition } from './stream-protocol';
import { StreamsMetrics } from './streams.metrics';

/** How often idle in-memory streams and expired in-memory Idempotency-Keys are dropped. */
const SWEEP_INTERVAL_MS = 60_000;
/**
 * The longest a publish or a resume waits for Redis. A healthy Redis runs these scripts in well under a
 * millisecond; past this it is treated as hung (the publication is delivered here without a position).
 */
export const STREAM_REDIS_TIMEOUT_MS = 500;
/** A publication script must run this long before the wait ends, so its answer can still arrive in time. */
const SCRIPT_REPLY_MARGIN_MS = 100;
/** How often Redis's clock is measured again (drift is slow; a Redis failover changes the clock at once). */
const CLOCK_SYNC_MS = 30_000;
/**
 * Until a sample is kept, how often the clock is measured again. A slow round trip is discarded (a busy start-up
 * does that), and without a sample publications carry no deadline: a frozen Redis would run them late.
 */
const CLOCK_RETRY_MS = 1000;
/** While streams wait for a new epoch, how often it is retried (a frozen Redis that thaws sends no 'ready'). */
const ROTATE_RETRY_MS = 1000;
/** internal_errors_total{kind}: a publication Redis did not record. */
export const STREAM_PUBLISH_ERROR_KIND = 'stream_publish';
/** Streams remembered as "delivered here without a position" until Redis is back; past this, the oldest go. */
const MAX_UNRECORDED_STREAMS = 100_000;

const REDIS_TIMEOUT_MESSAGE = `Redis did not answer within ${STREAM_REDIS_TIMEOUT_MS}ms`;

export type StreamPublishOutcome =
  | PublishOutcome
  /** Redis is configured but did not record it: deliver locally without a position (and say degraded). */
  | { kind: 'unrecorded'; reason: string };

export type StreamResumeOutcome = ResumeOutcome | { result: 'unavailable'; reason: string };

export const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

/**
 * Gives publications their positions and keeps the history that resumes replay: in Redis when REDIS_URL is set
 * (every replica shares positions; publications travel on one channel), else in this process.
 *
 * When Redis does not answer, a publication is still delivered here, without a position, and its streams are
 * remembered: once Redis is back they get a new epoch before anything else (and before any resume of them
 * answers), so no client is later told it recovered a stretch in which it may have missed that publication.
 */
@Injectable()
export class StreamHistory implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(StreamHistory.name);
  private readonly log: StreamLog;
  /** The Redis connection the scripts run on (null without Redis). */
  private readonly publisher: Redis | null = null;
  private readonly redisLog: RedisStreamLog | null = null;
  private clockTimer: NodeJS.Timeout | null = null;
  /** When the clock was last measured (or tried). */
  private clockSyncedAt = 0;
  private readonly memory: MemoryStreamLog | null;
  private readonly idempotency: MemoryIdempotency;
  /** Streams this instance delivered a publication of that Redis never recorded. */
  private readonly unrecorded = new Set<string>();
  private sweepTimer: NodeJS.Timeout | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  /** Since when publications fail to be recorded (null: they are recorded): logged once per outage. */
  private failingSince: number | null = null;
  private rotating: Promise<void> | null = null;
  private readonly historySize: number;

  constructor(
    private readonly config: AppConfig,
    redis: RedisService,
    private readonly metrics: StreamsMetrics,
    private readonly core: MetricsService,
  ) {
    const { historySize, historyTtlMs, idempotencyTtlMs } = config.streams;
    this.historySize = historySize;
    this.idempotency = new MemoryIdempotency(idempotencyTtlMs);
    if (redis.client !== null) {
      this.memory = null;
      // The publishing connection, not `main`: a script sent just before the connection dropped must fail (and
      // be delivered here, unpositioned) rather than be re-sent after the reconnect, which would deliver it late
      // and after publications made since.
      this.publisher = redis.createClient('socket.io-pub', { autoResendUnfulfilledCommands: false });
      this.log = this.redisLog = new RedisStreamLog(this.publisher, {
        service: config.env.SERVICE_NAME,
        historySize,
        historyTtlMs,
        idempotencyTtlMs,
        runWithinMs: STREAM_REDIS_TIMEOUT_MS - SCRIPT_REPLY_MARGIN_MS,
      });
      metrics.storage = 'redis';
    } else {
      this.memory = new MemoryStreamLog(historySize, historyTtlMs, Math.max(META_TTL_MS, historyTtlMs));
      this.log = this.memory;
      metrics.storage = 'memory';
    }
  }

  onModuleInit(): void {
    this.sweepTimer = setInterval(() => {
      this.memory?.sweep();
      this.idempotency.sweep();
    }, SWEEP_INTERVAL_MS);
    this.sweepTimer.unref();
    this.publisher?.on('ready', () => {
      void this.syncClock();
      void this.rotateUnrecorded();
    });
    if (this.redisLog !== null) {
      if (this.connected) void this.syncClock();
      this.clockTimer = setInterval(() => {
        if (this.redisLog?.clockKnown !== true || Date.now() - this.clockSyncedAt >= CLOCK_SYNC_MS)
          void this.syncClock();
      }, CLOCK_RETRY_MS);
      this.clockTimer.unref();
    }
  }

  /**
   * Publications carry a deadline on Redis's clock, so a script held by a frozen Redis and run after the
   * publish gave up does nothing (no late delivery, no duplicate of the local copy).
   */
  private async syncClock(): Promise<void> {
    if (this.redisLog === null || !this.connected) return;
    this.clockSyncedAt = Date.now();
    try {
      await withTimeout(this.redisLog.syncClock(), STREAM_REDIS_TIMEOUT_MS, REDIS_TIMEOUT_MESSAGE);
    } catch (err) {
      this.logger.debug({ message: 'Could not read the Redis clock', error: errorMessage(err) });
    }
  }

  onApplicationShutdown(): void {
    if (this.sweepTimer !== null) clearInterval(this.sweepTimer);
    if (this.retryTimer !== null) clearInterval(this.retryTimer);
    if (this.clockTimer !== null) clearInterval(this.clockTimer);
  }

  /** True when positions come from Redis and publications reach the replicas on `channel`. */
  get shared(): boolean {
    return this.log.shared;
  }

  /** The pub/sub channel of positioned publications (Redis only). */
  get channel(): string {
    return streamChannel(this.config.env.SERVICE_NAME);
  }

  /** Records one publication (or finds its Idempotency-Key's first answer). Never rejects. */
  async publish(request: PublishRequest): Promise<StreamPublishOutcome> {
    const idem = request.idempotency;
    if (idem !== undefined) {
      const seen = this.idempotency.get(idem.keyHash);
      if (seen !== null) return { kind: 'repeat', bodyHash: seen.bodyHash, result: seen.result };
    }
    const rotate = new Set(request.streams.filter((s) => this.unrecorded.has(s)));
    let outcome: PublishOutcome;
    try {
      this.requireConnection();
      outcome = await withTimeout(
        this.log.publish(request, rotate),
        STREAM_REDIS_TIMEOUT_MS,
        REDIS_TIMEOUT_MESSAGE,
      );
    } catch (err) {
      this.markUnrecorded(request.streams);
      this.metrics.recordUnrecorded(request.streams);
      this.core.recordInternalError(STREAM_PUBLISH_ERROR_KIND);
      if (this.failingSince === null) {
        this.failingSince = Date.now();
        this.logger.error({
          message:
            'Could not record a publication in Redis: delivering on this instance only, without positions, until Redis is back',
          error: errorMessage(err),
        });
      }
      return { kind: 'unrecorded', reason: errorMessage(err) };
    }
    if (this.failingSince !== null) {
      this.logger.log({
        message: 'Recording publications in Redis again',
        outageMs: Date.now() - this.failingSince,
      });
      this.failingSince = null;
    }
    if (outcome.kind === 'published') {
      for (const s of rotate) this.unrecorded.delete(s);
      this.metrics.recordPublished(request.streams);
      // Without Redis, keys live here; with it, the script stored the answer atomically with the publication.
      if (idem !== undefined && !this.log.shared) {
        this.idempotency.set(idem.keyHash, {
          bodyHash: idem.bodyHash,
          result: idem.resultHead + JSON.stringify(outcome.message.pos) + '}',
        });
      }
    }
    return outcome;
  }

  /** Remembers an Idempotency-Key answered without Redis (its publication went out unrecorded). */
  rememberLocally(keyHash: string, bodyHash: string, result: string): void {
    this.idempotency.set(keyHash, { bodyHash, result });
  }

  /**
   * The stream's current position at once, without Redis (null with Redis: ask `resume`). Lets a subscribe
   * without `since` answer synchronously on a single instance.
   */
  positionNow(stream: string): StreamPosition | null {
    return this.memory === null ? null : this.memory.position(stream);
  }

  /** The stream's position and, with `since`, what was published after it. Never rejects. */
  async resume(stream: string, since: StreamPosition | null): Promise<StreamResumeOutcome> {
    try {
      this.requireConnection();
      if (this.unrecorded.has(stream)) {
        await withTimeout(this.log.rotate(stream), STREAM_REDIS_TIMEOUT_MS, REDIS_TIMEOUT_MESSAGE);
        this.unrecorded.delete(stream);
      }
      return await withTimeout(
        this.log.resume(stream, since, this.historySize),
        STREAM_REDIS_TIMEOUT_MS,
        REDIS_TIMEOUT_MESSAGE,
      );
    } catch (err) {
      return { result: 'unavailable', reason: errorMessage(err) };
    }
  }

  /**
   * Fails at once while Redis is not connected: a command would otherwise wait in the offline queue (before the
   * first connection) for up to its timeout, and a subscribe or publish must not. A hung Redis that is still
   * "connected" is bounded by the client's command timeout.
   */
  private requireConnection(): void {
    if (this.publisher !== null && !this.connected)
      throw new Error(`Redis connection is not available (status: ${this.publisher.status})`);
  }

  private get connected(): boolean {
    return this.publisher?.status === 'ready';
  }

  private markUnrecorded(streams: readonly string[]): void {
    for (const s of streams) {
      this.unrecorded.delete(s);
      this.unrecorded.add(s);
    }
    if (this.retryTimer === null) {
      this.retryTimer = setInterval(() => {
        if (this.unrecorded.size === 0) {
          clearInterval(this.retryTimer as NodeJS.Timeout);
          this.retryTimer = null;
        } else if (this.connected) void this.rotateUnrecorded();
      }, ROTATE_RETRY_MS);
      this.retryTimer.unref();
    }
    while (this.unrecorded.size > MAX_UNRECORDED_STREAMS) {
      const oldest = this.unrecorded.values().next().value as string;
      this.unrecorded.delete(oldest);
      this.logger.error({
        message:
          'Too many streams delivered without Redis to remember them all: a resume of a forgotten one may claim recovery it cannot guarantee',
        limit: MAX_UNRECORDED_STREAMS,
      });
    }
  }

  /** On every (re)connect of Redis: new epochs for the streams published here without it. */
  private rotateUnrecorded(): Promise<void> {
    this.rotating ??= (async () => {
      const streams = [...this.unrecorded];
      let done = 0;
      for (const s of streams) {
        try {
          await this.log.rotate(s);
          this.unrecorded.delete(s);
          done += 1;
        } catch (err) {
          // Retried every ROTATE_RETRY_MS and on reconnect; the outage itself is logged once by publish().
          this.logger.debug({
            message: 'Could not yet start a new epoch for streams published while Redis was unreachable',
            pending: this.unrecorded.size,
            error: errorMessage(err),
          });
          break;
        }
      }
      if (done > 0)
        this.logger.log({
          message: 'New epochs for streams published while Redis was unreachable: their clients will resync',
          streams: done,
        });
    })().finally(() => {
      this.rotating = null;
    });
    return this.rotating;
  }
}
