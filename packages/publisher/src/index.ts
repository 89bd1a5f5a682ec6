import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type Redis from 'ioredis';
import {
  idempotencyBody,
  messageHead,
  publicationFields,
  publicationStreams,
  PUBLISH_SCRIPT,
  publishScriptArgs,
  readPublishReply,
  resultHead,
  type StreamPosition,
} from './stream-protocol';

export type { StreamPosition } from './stream-protocol';

/** The same body as POST /events. */
export type PublishEvent =
  | { event: 'portfolio:update'; portfolioId: string; data: Record<string, unknown> }
  | { event: 'trade:executed'; userId?: string; portfolioId?: string; data: Record<string, unknown> };

export interface PublisherOptions {
  /** The server's SERVICE_NAME (default `websocket-server`): the Redis keys and channel are named after it. */
  service?: string;
  /** The server's STREAM_HISTORY_SIZE (default 1000). */
  historySize?: number;
  /** The server's STREAM_HISTORY_TTL_MS (default 300000). */
  historyTtlMs?: number;
  /** The server's PUBLISH_IDEMPOTENCY_TTL_MS (default 86400000). */
  idempotencyTtlMs?: number;
  /** Shown as the origin of these publications (default `publisher:<pid>/<random>`). */
  origin?: string;
}

export interface PublishResult {
  /** The publication's id: the `id` field clients receive. */
  id: string;
  /** Its position in each of its streams. */
  positions: Record<string, StreamPosition>;
  /** How many server replicas' subscriptions Redis handed it to (compare with the replicas you run). */
  receivers: number;
  /** True when this Idempotency-Key was seen before: nothing was published, the first result is returned. */
  repeated: boolean;
}

/** The same key with a different body (POST /events answers 409). */
export class IdempotencyConflictError extends Error {
  constructor() {
    super('Idempotency-Key was already used with a different body');
    this.name = 'IdempotencyConflictError';
  }
}

const PORTFOLIO_ID = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * Publishes events the way `POST /events` does, for services that hold a Redis connection but no HTTP route to
 * the server: one Lua script gives the publication its positions, records it in the streams' history and
 * broadcasts it to every replica, atomically. Rejects when Redis does not answer: then nothing was delivered
 * (unlike POST /events there is no local delivery to fall back on), so retry with the same idempotency key.
 */
export class StreamPublisher {
  private readonly service: string;
  private readonly historySize: number;
  private readonly historyTtlMs: number;
  private readonly idempotencyTtlMs: number;
  private readonly origin: string;

  constructor(
    private readonly redis: Redis,
    options: PublisherOptions = {},
  ) {
    this.service = options.service ?? 'websocket-server';
    this.historySize = options.historySize ?? 1000;
    this.historyTtlMs = options.historyTtlMs ?? 300_000;
    this.idempotencyTtlMs = options.idempotencyTtlMs ?? 86_400_000;
    this.origin = options.origin ?? `publisher:${process.pid}/${randomBytes(4).toString('hex')}`;
    if (typeof (redis as unknown as { streamPublish?: unknown }).streamPublish !== 'function')
      redis.defineCommand('streamPublish', { lua: PUBLISH_SCRIPT });
  }

  async publish(input: PublishEvent, options: { idempotencyKey?: string } = {}): Promise<PublishResult> {
    const streams = streamsOf(input);
    const p = publicationFields(input, new Date().toISOString());
    const id = randomUUID();
    const key = options.idempotencyKey;
    if (key !== undefined && !/^[\x21-\x7e]{1,255}$/.test(key))
      throw new TypeError('idempotencyKey must be 1-255 visible ASCII characters');
    const bodyHash = sha256(idempotencyBody(input));
    const reply = readPublishReply(
      await (
        this.redis as unknown as {
          streamPublish(...a: Array<string | number>): Promise<Array<string | number>>;
        }
      ).streamPublish(
        ...publishScriptArgs({
          service: this.service,
          streams,
          historySize: this.historySize,
          historyTtlMs: this.historyTtlMs,
          idempotencyTtlMs: this.idempotencyTtlMs,
          idempotency:
            key === undefined
              ? undefined
              : { keyHash: sha256(key), bodyHash, resultHead: resultHead(input.event, streams, 0, id) },
          head: messageHead({ id, ev: input.event, p, ts: Date.now(), o: this.origin }),
          // No deadline: a publish that timed out may still run; retry with the same idempotency key.
          deadline: 0,
        }),
      ),
    );
    if (reply.kind === 'late') throw new Error('Redis ran the publication after its deadline');
    if (reply.kind === 'repeat') {
      if (reply.bodyHash !== bodyHash) throw new IdempotencyConflictError();
      const first = JSON.parse(reply.result) as { id: string; positions: Record<string, StreamPosition> };
      return { id: first.id, positions: first.positions, receivers: 0, repeated: true };
    }
    return {
      id,
      positions: JSON.parse(reply.positionsJson) as Record<string, StreamPosition>,
      receivers: reply.receivers,
      repeated: false,
    };
  }
}

/** Checks the publication as POST /events would, and returns its streams. */
function streamsOf(input: PublishEvent): string[] {
  const check = (id: string | undefined, what: string) => {
    if (id !== undefined && !PORTFOLIO_ID.test(id) && what === 'portfolioId')
      throw new TypeError('portfolioId must be 1-64 characters of letters, digits, "_" or "-"');
    if (id !== undefined && what === 'userId' && (id.length === 0 || id.length > 128 || hasControlChars(id)))
      throw new TypeError('userId must be 1-128 characters without control characters');
  };
  if (typeof input.data !== 'object' || input.data === null || Array.isArray(input.data))
    throw new TypeError('data must be an object');
  if (input.event === 'portfolio:update') {
    check(input.portfolioId, 'portfolioId');
    if (input.portfolioId === undefined) throw new TypeError('portfolioId is required for portfolio:update');
    return publicationStreams(input);
  }
  if (input.event !== 'trade:executed')
    throw new TypeError('event must be portfolio:update or trade:executed');
  check(input.userId, 'userId');
  check(input.portfolioId, 'portfolioId');
  if (input.userId === undefined && input.portfolioId === undefined)
    throw new TypeError('userId or portfolioId (or both) is required');
  return publicationStreams(input);
}

/** C0 controls and DEL: never part of a user id (they would end up in room names and logs). */
function hasControlChars(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
