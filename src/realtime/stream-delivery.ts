import { Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
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
/**
 * How long this instance waits for its own publication to come back on the channel before delivering it to its
 * sockets directly. The echo takes about a Redis round trip; it is missing only when the subscription is down
 * (a Redis restart, a killed subscriber connection) although the publication was recorded.
 */
export const ECHO_TIMEOUT_MS = 250;

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
export class StreamDelivery implements OnApplicationShutdown {
  private readonly logger = new Logger(StreamDelivery.name);
  private server: Server | null = null;
  private sub: Redis | null = null;
  /** Redis has confirmed this connection's SUBSCRIBE to the channel (since it last connected). */
  private subscribed = false;
  /** stream → socket id → the publications held for each resume of that stream the socket has running. */
  private readonly resuming = new Map<string, Map<string, Set<StreamMessage[]>>>();
  private readonly directIds = new Set<string>();
  /** This instance's recorded publications not yet back from the channel, oldest first. */
  private readonly awaitingEcho = new Map<string, { m: StreamMessage; deadline: number }>();
  /** Own publications whose echo came before the publish call returned (two connections race). */
  private readonly earlyEchoes = new Set<string>();
  private echoTimer: NodeJS.Timeout | null = null;
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
    // not come back on the channel. So the channel counts as heard only once Redis has answered a SUBSCRIBE on
    // this connection (a repeated one is harmless).
    const subscribe = () =>
      sub.subscribe(channel).then(
        () => {
          this.subscribed = sub.status === 'ready';
        },
        (err: unknown) =>
          this.logger.error({
            message: 'Could not subscribe to the streams channel',
            error: errorMessage(err),
          }),
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

  /**
   * The publication `id` will be delivered directly (this instance was not listening when it sent the script):
   * its echo, should the subscription come back before Redis runs it, is skipped.
   */
  skipEcho(id: string): void {
    this.directIds.add(id);
    if (this.directIds.size > MAX_DIRECT_IDS)
      this.directIds.delete(this.directIds.values().next().value as string);
  }

  private onChannelMessage(json: string): void {
    const receivedAt = performance.timeOrigin + performance.now();
    const m = parseMessage(json);
    if (m === null) {
      this.logger.warn({ message: 'Unreadable publication on the streams channel; skipped' });
      return;
    }
    if (this.directIds.delete(m.id)) return;
    const own = m.o === this.origin;
    // The channel keeps this instance's publications in order: older ones still awaited lost their echo.
    if (own && this.awaitingEcho.has(m.id)) this.flushAwaiting(m.id);
    if (!this.awaitingEcho.delete(m.id) && own) {
      this.earlyEchoes.add(m.id);
      if (this.earlyEchoes.size > MAX_DIRECT_IDS)
        this.earlyEchoes.delete(this.earlyEchoes.values().next().value as string);
    }
    // Publish-to-emit starts where the publication entered this instance: POST /events here (its own clock),
    // or the channel for another replica's, whose origin time gives the pub/sub lag (two clocks: see the metric).
    if (!own) this.metrics.observePubsubLag((receivedAt - m.ts) / 1000);
    this.deliver(m, own ? m.ts : receivedAt);
  }

  /**
   * A publication this instance recorded: its sockets get it from the channel, in the channel's order, like every
   * replica's; should the echo not come within ECHO_TIMEOUT_MS, they get it directly.
   */
  expectEcho(m: StreamMessage): void {
    if (this.earlyEchoes.delete(m.id)) return;
    this.awaitingEcho.set(m.id, { m, deadline: performance.now() + ECHO_TIMEOUT_MS });
    if (this.echoTimer !== null) return;
    // One timer for all pending echoes, running only while some are pending.
    this.echoTimer = setInterval(() => {
      const now = performance.now();
      for (const [id, { m: late, deadline }] of this.awaitingEcho) {
        if (deadline > now) break;
        this.awaitingEcho.delete(id);
        this.sendDirect(late);
      }
      if (this.awaitingEcho.size === 0 && this.echoTimer !== null) {
        clearInterval(this.echoTimer);
        this.echoTimer = null;
      }
    }, ECHO_TIMEOUT_MS / 5);
    this.echoTimer.unref();
  }

  /**
   * Delivers directly, oldest first, this instance's publications still awaiting their echo (up to `before`,
   * exclusive; all without it): whatever this instance delivers next must not overtake them.
   */
  private flushAwaiting(before?: string): void {
    for (const [id, { m }] of this.awaitingEcho) {
      if (id === before) return;
      this.awaitingEcho.delete(id);
      this.sendDirect(m);
    }
  }

  /** Stops the echo timer. */
  onApplicationShutdown(): void {
    if (this.echoTimer !== null) clearInterval(this.echoTimer);
    this.echoTimer = null;
  }

  /** Delivers a publication this instance recorded but cannot receive back from the channel (or has no channel). */
  deliverDirect(m: StreamMessage): void {
    if (this.awaitingEcho.size > 0) this.flushAwaiting();
    this.sendDirect(m);
  }

  private sendDirect(m: StreamMessage): void {
    if (this.history.shared) this.skipEcho(m.id);
    // Only this instance's own publications are delivered directly: their entry time is on this clock.
    this.deliver(m, m.ts);
  }

  /** Local delivery of a publication Redis could not record: no position, marked so clients know. */
  deliverUnpositioned(
    event: string,
    payload: Record<string, unknown>,
    rooms: string[],
    enteredAt: number,
  ): void {
    if (this.awaitingEcho.size > 0) this.flushAwaiting();
    this.server?.local.to(rooms).emit(event, { ...payload, unpositioned: true });
    this.metrics.observePublishToEmit(event, (performance.timeOrigin + performance.now() - enteredAt) / 1000);
    this.metrics.recordWsSent(event, this.localSockets(rooms));
  }

  /** `enteredAt`: when the publication entered this instance (ms since the epoch, this clock). */
  private deliver(m: StreamMessage, enteredAt: number): void {
    const server = this.server;
    if (server === null) return;
    const rooms = Object.keys(m.pos);
    let held: string[] | null = null;
    if (this.resuming.size > 0) {
      for (const room of rooms) {
        const sockets = this.resuming.get(room);
        if (sockets === undefined) continue;
        for (const [id, queues] of sockets) {
          for (const queue of queues) queue.push(m);
          (held ??= []).push(id);
        }
      }
    }
    const target = held === null ? server.local.to(rooms) : server.local.to(rooms).except(held);
    target.emit(m.ev, clientPayload(m, false));
    this.metrics.observePublishToEmit(m.ev, (performance.timeOrigin + performance.now() - enteredAt) / 1000);
    this.metrics.recordWsSent(m.ev, this.localSockets(rooms));
  }

  /**
   * Joins `stream`'s room when `join`, and answers with its position; with `since`, first sends what the socket
   * missed after it (when the history still holds all of it). Serves portfolio:subscribe, the handshake's
   * `since` and user:resume.
   */
  /**
   * A subscribe without `since` on a single instance (history in memory): joins and answers the position at
   * once. Publications are delivered in this same thread, so nothing can fall between the join and the read.
   * Null with Redis (use `resume`).
   */
  subscribeNow(socket: Socket, stream: string): StreamPosition | null {
    const position = this.history.positionNow(stream);
    if (position !== null) void socket.join(stream);
    return position;
  }

  async resume(
    socket: Socket,
    stream: string,
    since: StreamPosition | null,
    join: boolean,
  ): Promise<ResumeAnswer> {
    const started = performance.now();
    // Resumes of one stream by one socket may overlap (a client repeating its subscribe): each holds its own
    // copy of the live messages and sends them after its own replay, so nothing is lost (a repeat may resend).
    const held: StreamMessage[] = [];
    let sockets = this.resuming.get(stream);
    if (sockets === undefined) {
      sockets = new Map();
      this.resuming.set(stream, sockets);
    }
    let mine = sockets.get(socket.id);
    if (mine === undefined) {
      mine = new Set();
      sockets.set(socket.id, mine);
    }
    mine.add(held);
    try {
      if (join) void socket.join(stream);
      const outcome = await this.history.resume(stream, since);
      // After a read, the channel must catch up with it before the held ones go out, so none older than the
      // replay slips through as live. Not needed without `since` (a publication older than the position is new
      // to this client, and the position is only where it starts counting) nor without a read (Redis unreachable).
      if (since !== null && outcome.result !== 'unavailable') await this.barrier();
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
      mine.delete(held);
      if (mine.size === 0 && sockets.get(socket.id) === mine) sockets.delete(socket.id);
      if (sockets.size === 0 && this.resuming.get(stream) === sockets) this.resuming.delete(stream);
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

  /** Distinct sockets of this instance in any of the rooms. */
  localSockets(rooms: string[]): number {
    const local = this.server?.of('/').adapter.rooms;
    if (local === undefined) return 0;
    if (rooms.length === 1) return local.get(rooms[0])?.size ?? 0;
    const seen = new Set<string>();
    for (const room of rooms) for (const id of local.get(room) ?? []) seen.add(id);
    return seen.size;
  }
}
