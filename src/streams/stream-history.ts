import { Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import type Redis from 'ioredis';
import { createHash } from 'node:crypto';
import { AppConfig } from '../config/app-config';
import { errorMessage } from '../common/with-timeout';
import { RedisService } from '../redis/redis.service';
import { MemoryIdempotency } from './idempotency-memory';
import { MemoryStreamLog } from './memory-stream-log';
import { RedisStreamLog } from './redis-stream-log';
import type { PublishOutcome, PublishRequest, ResumeOutcome, StreamLog } from './stream-log';
import { META_TTL_MS, streamChannel, type StreamPosition } from './stream-protocol';
import { StreamsMetrics } from './streams.metrics';

/** How often idle in-memory streams and expired in-memory Idempotency-Keys are dropped. */
const SWEEP_INTERVAL_MS = 60_000;
/** Streams remembered as "delivered here without a position" until Redis is back; past this, the oldest go. */
const MAX_UNRECORDED_STREAMS = 100_000;

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
  private readonly memory: MemoryStreamLog | null;
  private readonly idempotency: MemoryIdempotency;
  /** Streams this instance delivered a publication of that Redis never recorded. */
  private readonly unrecorded = new Set<string>();
  private sweepTimer: NodeJS.Timeout | null = null;
  private rotating: Promise<void> | null = null;
  private readonly historySize: number;
  /** The Redis connection the scripts run on (null without Redis). */
  private readonly publisher: Redis | null = null;

  constructor(
    private readonly config: AppConfig,
    private readonly redis: RedisService,
    private readonly metrics: StreamsMetrics,
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
      this.log = new RedisStreamLog(this.publisher, {
        service: config.env.SERVICE_NAME,
        historySize,
        historyTtlMs,
        idempotencyTtlMs,
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
    this.publisher?.on('ready', () => void this.rotateUnrecorded());
  }

  onApplicationShutdown(): void {
    if (this.sweepTimer !== null) clearInterval(this.sweepTimer);
  }

  /** True when positions come from Redis and publications reach the replicas on `channel`. */
  get shared(): boolean {
    return this.log.shared;
  }

  /** The pub/sub channel of positioned publications (Redis only). */
  get channel(): string {
    return streamChannel(this.config.env.SERVICE_NAME);
  }

  get maxReplay(): number {
    return this.historySize;
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
      outcome = await this.log.publish(request, rotate);
    } catch (err) {
      this.markUnrecorded(request.streams);
      this.metrics.recordUnrecorded(request.streams);
      return { kind: 'unrecorded', reason: errorMessage(err) };
    }
    if (outcome.kind === 'published') {
      for (const s of rotate) this.unrecorded.delete(s);
      this.metrics.recordPublished(request.streams);
      // Without Redis, keys live here; with it, the script stored the answer atomically with the publication.
      if (idem !== undefined && !this.log.shared) {
        this.idempotency.set(idem.keyHash, { bodyHash: idem.bodyHash, result: idem.resultHead + JSON.stringify(outcome.message.pos) + '}' });
      }
    }
    return outcome;
  }

  /** Remembers an Idempotency-Key answered without Redis (its publication went out unrecorded). */
  rememberLocally(keyHash: string, bodyHash: string, result: string): void {
    this.idempotency.set(keyHash, { bodyHash, result });
  }

  /** The stream's position and, with `since`, what was published after it. Never rejects. */
  async resume(stream: string, since: StreamPosition | null): Promise<StreamResumeOutcome> {
    try {
      if (this.unrecorded.has(stream)) {
        await this.log.rotate(stream);
        this.unrecorded.delete(stream);
      }
      return await this.log.resume(stream, since, this.historySize);
    } catch (err) {
      return { result: 'unavailable', reason: errorMessage(err) };
    }
  }

  /** How many streams wait for a new epoch (delivered here while Redis was unreachable). */
  get unrecordedStreams(): number {
    return this.unrecorded.size;
  }

  private markUnrecorded(streams: readonly string[]): void {
    for (const s of streams) {
      this.unrecorded.delete(s);
      this.unrecorded.add(s);
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
          this.logger.warn({
            message: 'Could not start a new epoch for streams published while Redis was unreachable; will retry when it reconnects',
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
