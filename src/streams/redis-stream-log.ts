import type Redis from 'ioredis';
import type { PublishOutcome, PublishRequest, ResumeOutcome, StreamLog } from './stream-log';
import {
  META_TTL_MS,
  messageHead,
  newEpoch,
  PUBLISH_SCRIPT,
  publishScriptArgs,
  readPublishReply,
  RESUME_SCRIPT,
  ROTATE_SCRIPT,
  type ResumeResult,
  streamChannel,
  streamLogKey,
  streamMetaKey,
  type StreamMessage,
  type StreamPosition,
} from './stream-protocol';

type ScriptClient = Redis & {
  streamPublish(...args: Array<string | number>): Promise<Array<string | number>>;
  streamResume(...args: Array<string | number>): Promise<Array<string | number>>;
  streamRotate(...args: Array<string | number>): Promise<number>;
};

export interface RedisStreamLogOptions {
  service: string;
  historySize: number;
  historyTtlMs: number;
  idempotencyTtlMs: number;
  /**
   * How long after sending a publication Redis may still run it (on its own clock). The caller stops waiting a
   * little later and delivers the publication its own way; a script that runs past this does nothing.
   */
  runWithinMs: number;
}

/** A clock sample is kept only when TIME answered within this; its error is at most half of it. */
const CLOCK_SAMPLE_MAX_RTT_MS = 50;

/**
 * Positions and history in Redis, shared by every replica: each call is one Lua script (stream-protocol.ts),
 * sent with EVALSHA by ioredis (the script text travels once per connection). The client is the caller's; its
 * command policy (fail fast when disconnected, command timeout) decides how an outage surfaces: as a rejected
 * promise, which StreamHistory turns into local, unpositioned delivery.
 */
export class RedisStreamLog implements StreamLog {
  readonly shared = true;
  private readonly redis: ScriptClient;
  /** Redis's clock minus this process's, in ms; null until measured (then publications carry no deadline). */
  private clockOffsetMs: number | null = null;
  /** Calls waiting for a reply: failed at once when the connection closes (see `untilClosed`). */
  private readonly waiting = new Set<(err: Error) => void>();

  constructor(
    redis: Redis,
    private readonly options: RedisStreamLogOptions,
  ) {
    defineScripts(redis);
    this.redis = redis as ScriptClient;
    redis.on('close', () => {
      const err = new Error('Redis connection closed before it answered');
      for (const fail of this.waiting) fail(err);
      this.waiting.clear();
    });
  }

  /**
   * A command in flight when the connection drops is neither re-sent (late, out of order) nor failed by ioredis
   * with autoResendUnfulfilledCommands off: it would wait for its timeout, and its publication would be delivered
   * here late. It fails when the connection closes instead.
   */
  private untilClosed<T>(reply: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.waiting.add(reject);
      reply.then(resolve, reject).finally(() => this.waiting.delete(reject));
    });
  }

  /**
   * Measures Redis's clock against this process's (TIME, halfway through the round trip). Kept only from a fast
   * round trip, so the error stays under CLOCK_SAMPLE_MAX_RTT_MS / 2.
   */
  async syncClock(): Promise<void> {
    const before = Date.now();
    const [seconds, micros] = await this.redis.time();
    const after = Date.now();
    if (after - before > CLOCK_SAMPLE_MAX_RTT_MS) return;
    this.clockOffsetMs = Number(seconds) * 1000 + Number(micros) / 1000 - (before + after) / 2;
  }

  /** True once a clock sample has been kept; until then publications carry no deadline. */
  get clockKnown(): boolean {
    return this.clockOffsetMs !== null;
  }

  private deadline(): number {
    return this.clockOffsetMs === null ? 0 : Date.now() + this.clockOffsetMs + this.options.runWithinMs;
  }

  get channel(): string {
    return streamChannel(this.options.service);
  }

  async publish(request: PublishRequest, rotate: ReadonlySet<string>): Promise<PublishOutcome> {
    const head = messageHead(request.message);
    const reply = readPublishReply(
      await this.untilClosed(
        this.redis.streamPublish(
          ...publishScriptArgs({
            ...this.options,
            streams: request.streams,
            rotate,
            idempotency: request.idempotency,
            head,
            deadline: this.deadline(),
          }),
        ),
      ),
    );
    if (reply.kind === 'late')
      throw new Error('Redis ran the publication after its deadline; it was not recorded');
    if (reply.kind === 'repeat') return reply;
    const pos = JSON.parse(reply.positionsJson) as Record<string, StreamPosition>;
    const message: StreamMessage = { ...request.message, pos };
    return { kind: 'published', message, json: head + reply.positionsJson + '}', receivers: reply.receivers };
  }

  async resume(stream: string, since: StreamPosition | null, maxEntries: number): Promise<ResumeOutcome> {
    const { service, historyTtlMs } = this.options;
    const reply = await this.untilClosed(
      this.redis.streamResume(
        2,
        streamMetaKey(service, stream),
        streamLogKey(service, stream),
        since?.epoch ?? '',
        since?.offset ?? 0,
        maxEntries,
        newEpoch(),
        Math.max(META_TTL_MS, historyTtlMs),
      ),
    );
    return {
      result: reply[0] as ResumeResult,
      position: { epoch: String(reply[1]), offset: Number(reply[2]) },
      messages: reply.slice(3).map(String),
    };
  }

  async rotate(stream: string): Promise<void> {
    const { service, historyTtlMs } = this.options;
    await this.redis.streamRotate(
      2,
      streamMetaKey(service, stream),
      streamLogKey(service, stream),
      newEpoch(),
      Math.max(META_TTL_MS, historyTtlMs),
    );
  }
}

/** Registers the scripts on a client once (ioredis keeps their sha and falls back to EVAL after a Redis restart). */
export function defineScripts(redis: Redis): void {
  const r = redis as unknown as Partial<ScriptClient>;
  if (typeof r.streamPublish === 'function') return;
  redis.defineCommand('streamPublish', { lua: PUBLISH_SCRIPT });
  redis.defineCommand('streamResume', { lua: RESUME_SCRIPT });
  redis.defineCommand('streamRotate', { lua: ROTATE_SCRIPT });
}
