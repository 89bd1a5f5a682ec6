import { Injectable, Logger } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import type Redis from 'ioredis';
import type { Server, Socket } from 'socket.io';
import { errorMessage, withTimeout } from '../common/with-timeout';
import { InstanceInfo } from '../lifecycle/instance-info';
import { RedisService } from '../redis/redis.service';
import { StreamHistory } from '../streams/stream-history';
import { parseMessage, type StreamMessage, type StreamPosition } from '../streams/stream-protocol';
import { StreamsMetrics } from '../streams/streams.metrics';
import type { ResumeMetricResult } from '../streams/streams.metric-names';
import { RealtimeMetrics } from './realtime.metrics';

/** How long a resume waits for the channel to catch up with the history it read (see `barrier`). */
const BARRIER_TIMEOUT_MS = 1000;
/** Ids of publications this instance delivered itself (its channel was down): their echo is skipped. */
const MAX_DIRECT_IDS = 10_000;

/** What a subscribe or connect learns about its stream. */
export interface ResumeAnswer {
  /** `position` when no `since` was given; else what the client is told. */
  result: 'position' | ResumeMetricResult;
  /** The stream's current position; null while the history is unavailable (Redis unreachable). */
  position: StreamPosition | null;
  /** Publications sent from history. */
  replayed: number;
}

/** The event as clients receive it: the publication's own fields plus its id and positions. */
function clientPayload(m: StreamMessage, replayed: boolean): Record<string, unknown> {
  let stream: string | undefined;
  for (const s in m.pos) {
    stream = s;
    break;
  }
  return {
    ...m.p,
    id: m.id,
    ...(stream === undefined ? {} : { stream, position: m.pos[stream] }),
    positions: m.pos,
    ...(replayed ? { replayed: true } : {}),
  };
}

function inAnotherRoom(socket: Socket, m: StreamMessage, stream: string): boolean {
  for (const s in m.pos) if (s !== stream && socket.rooms.has(s)) return true;
  return false;
}

/**
 * Hands positioned publications to this instance's sockets, and runs resumes.
 *
 * With Redis, every replica (the publishing one too) delivers from the streams channel, so each socket sees a
 * stream's publications in offset order whichever replica published them. If this instance's channel
 * subscription is down when it publishes, it delivers its own publication directly (and skips the echo).
 *
 * A resume joins the room first and holds that socket's live publications of the stream while it reads the
 * history; then it sends the missed ones, then the held ones that come after them: no gap and no duplicate at
 * the seam. Before releasing the held ones it waits until the channel has delivered everything Redis had
 * published before the read (`barrier`), so a late-arriving older publication cannot slip past as live.
 */
@Injectable()
export class StreamDelivery {
  private readonly logger = new Logger(StreamDelivery.name);
  private server: Server | null = null;
  private sub: Redis | null = null;
  private subscribed = false;
  /** stream → socket id → publications held for that socket while it resumes the stream. */
  private readonly resuming = new Map<string, Map<string, StreamMessage[]>>();
  private readonly directIds = new Set<string>();
  /** Held lists of resumes still running, and for each the one it took over from (same socket and stream). */
  private readonly holding = new WeakSet<StreamMessage[]>();
  private readonly heldBefore = new WeakMap<StreamMessage[], StreamMessage[]>();
  /** Tells this process's publications from every other's on the channel (several apps may share a pid). */
  readonly origin: string;

  constructor(
    private readonly history: StreamHistory,
    private readonly redis: RedisService,
    private readonly metrics: RealtimeMetrics,
    private readonly streamsMetrics: StreamsMetrics,
    instance: InstanceInfo,
  ) {
    this.origin = `${instance.id}/${randomBytes(4).toString('hex')}`;
  }

  /** Called by the gateway once the server exists: starts listening to the streams channel (Redis only). */
  attach(server: Server): void {
    this.server = server;
    if (!this.history.shared) return;
    // The adapter's subscriber connection: one connection to watch (probes, health) for all cross-replica traffic.
    const sub = this.redis.createClient('socket.io-sub', {
      enableOfflineQueue: true,
      maxRetriesPerRequest: null,
      commandTimeout: undefined,
    });
    this.sub = sub;
    const channel = this.history.channel;
    sub.on('message', (ch: string, json: string) => {
      if (ch === channel) this.onChannelMessage(json);
    });
    // ioredis says 'ready' before its automatic re-subscribe has reached Redis: a publication in between would
    // reach neither the channel nor, if `listening` trusted the status alone, a direct delivery. So the channel
    // counts as heard only once Redis has answered a SUBSCRIBE on this connection (a repeated one is harmless).
    const subscribe = () =>
      sub.subscribe(channel).then(
        () => {
          this.subscribed = sub.status === 'ready';
        },
        (err: unknown) =>
          this.logger.error({ message: 'Could not subscribe to the streams channel', error: errorMessage(err) }),
      );
    sub.on('close', () => {
      this.subscribed = false;
    });
    sub.on('ready', () => void subscribe());
    void subscribe();
  }

  /** True when this instance receives the streams channel right now (Redis confirmed the subscription). */
  get listening(): boolean {
    return this.subscribed && this.sub?.status === 'ready';
  }

  private onChannelMessage(json: string): void {
    const m = parseMessage(json);
    if (m === null) {
      this.logger.warn({ message: 'Unreadable publication on the streams channel; skipped' });
      return;
    }
    if (this.directIds.delete(m.id)) return;
    this.deliver(m);
  }

  /**
   * Delivers a publication this instance recorded but cannot receive back from the channel (or has no channel).
   * With a channel, call `skipEcho(m.id)` before sending the script: if the subscription comes back before Redis
   * runs it, the echo may arrive before this call, and it must not be delivered twice.
   */
  deliverDirect(m: StreamMessage): void {
    this.deliver(m);
  }

  /** The publication `id` is (or will be) delivered directly: its echo on the channel, if any, is skipped. */
  skipEcho(id: string): void {
    this.directIds.add(id);
    if (this.directIds.size > MAX_DIRECT_IDS) this.directIds.delete(this.directIds.values().next().value as string);
  }

  /** Local delivery of a publication Redis could not record: no position, marked so clients know. */
  deliverUnpositioned(event: string, payload: Record<string, unknown>, rooms: string[]): void {
    this.server?.local.to(rooms).emit(event, { ...payload, unpositioned: true });
    this.metrics.recordWsSent(event, this.countLocal(rooms));
  }

  private deliver(m: StreamMessage): void {
    const server = this.server;
    if (server === null) return;
    const rooms = Object.keys(m.pos);
    let held: string[] | null = null;
    if (this.resuming.size > 0) {
      for (const room of rooms) {
        const sockets = this.resuming.get(room);
        if (sockets === undefined) continue;
        for (const [id, queue] of sockets) {
          queue.push(m);
          (held ??= []).push(id);
        }
      }
    }
    const target = held === null ? server.local.to(rooms) : server.local.to(rooms).except(held);
    target.emit(m.ev, clientPayload(m, false));
    this.metrics.recordWsSent(m.ev, this.countLocal(rooms));
  }

  /**
   * Joins `stream`'s room when `join`, and answers with its position; with `since`, first sends what the socket
   * missed after it (when the history still holds all of it). Serves portfolio:subscribe, the handshake's
   * `since` and user:resume.
   */
  async resume(socket: Socket, stream: string, since: StreamPosition | null, join: boolean): Promise<ResumeAnswer> {
    const started = performance.now();
    const held: StreamMessage[] = [];
    let sockets = this.resuming.get(stream);
    if (sockets === undefined) {
      sockets = new Map();
      this.resuming.set(stream, sockets);
    }
    // A second resume of one stream by one socket while the first runs: it holds from now on, and when it ends
    // the hold goes back to the latest one still running (with what it held), or ends.
    const previous = sockets.get(socket.id);
    if (previous !== undefined) this.heldBefore.set(held, previous);
    this.holding.add(held);
    sockets.set(socket.id, held);
    try {
      if (join) void socket.join(stream);
      const outcome = await this.history.resume(stream, since);
      await this.barrier();
      if (outcome.result === 'unavailable') {
        for (const m of held) if (socket.connected) socket.emit(m.ev, clientPayload(m, false));
        return this.answered(since, 'unavailable', null, 0, started);
      }
      const position = outcome.position;
      let replayed = 0;
      if (outcome.result === 'recovered') {
        for (const json of outcome.messages) {
          const m = parseMessage(json);
          if (m === null) continue;
          socket.emit(m.ev, clientPayload(m, true));
          replayed += 1;
        }
      }
      for (const m of held) {
        const p = m.pos[stream];
        const after = p === undefined || p.epoch !== position.epoch || p.offset > position.offset;
        // One held only for this stream's sake is due anyway through another room the socket is in (a trade to
        // its user and this portfolio), unless the replay just sent it.
        if (after || (outcome.result !== 'recovered' && inAnotherRoom(socket, m, stream)))
          socket.emit(m.ev, clientPayload(m, false));
      }
      const result = outcome.result === 'position' ? 'position' : outcome.result;
      return this.answered(since, result, position, replayed, started);
    } finally {
      this.holding.delete(held);
      if (sockets.get(socket.id) === held) {
        // An earlier resume that already ended must not get the hold back: nothing would ever release it.
        let running = previous;
        while (running !== undefined && !this.holding.has(running)) running = this.heldBefore.get(running);
        if (running !== undefined) {
          running.push(...held);
          sockets.set(socket.id, running);
        } else sockets.delete(socket.id);
      }
      if (sockets.size === 0) this.resuming.delete(stream);
    }
  }

  private answered(
    since: StreamPosition | null,
    result: ResumeAnswer['result'],
    position: StreamPosition | null,
    replayed: number,
    started: number,
  ): ResumeAnswer {
    if (since !== null && result !== 'position') {
      this.streamsMetrics.recordResume(result, replayed, (performance.now() - started) / 1000);
    }
    return { result: since === null ? 'position' : result, position, replayed };
  }

  /**
   * Waits until the channel connection has handed over everything Redis published before now: a PING on it is
   * answered after every message queued ahead of it. Bounded; skipped without a channel.
   */
  private async barrier(): Promise<void> {
    const sub = this.sub;
    if (sub === null || sub.status !== 'ready') return;
    try {
      await withTimeout(sub.ping(), BARRIER_TIMEOUT_MS, 'streams channel did not answer');
    } catch {
      // A channel that does not answer delivers nothing late either; the client library fills any gap.
    }
  }

  private countLocal(rooms: string[]): number {
    const local = this.server?.of('/').adapter.rooms;
    if (local === undefined) return 0;
    if (rooms.length === 1) return local.get(rooms[0])?.size ?? 0;
    const seen = new Set<string>();
    for (const room of rooms) for (const id of local.get(room) ?? []) seen.add(id);
    return seen.size;
  }
}
