import { ConflictException, Injectable, ServiceUnavailableException } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { Server } from 'socket.io';
import { sha256, StreamHistory } from '../streams/stream-history';
import {
  idempotencyBody,
  publicationFields,
  publicationStreams,
  resultHead,
  type StreamPosition,
} from '../streams/stream-protocol';
import { StreamsMetrics } from '../streams/streams.metrics';
import { ClusterPeers } from './cluster-peers';
import type { PublishEventDto } from './dto/publish-event.dto';
import { RealtimeMetrics } from './realtime.metrics';
import { SocketAdapterState } from './socket-adapter-state';
import { StreamDelivery } from './stream-delivery';

export interface PublishResult {
  event: PublishEventDto['event'];
  rooms: string[];
  /** Sockets on this instance in those rooms when it was published (other instances deliver to their own). */
  delivered: number;
  /** The publication's id: the `id` field of the event clients receive. */
  id: string;
  /** Its position in each of its streams; empty when it could not be recorded (then `degraded` is true). */
  positions: Record<string, StreamPosition>;
  /** Present (true) when delivery to every other replica is not confirmed (docs/publish-api.md#degraded). */
  degraded?: true;
}

export interface PublishAnswer {
  result: PublishResult;
  /** True when an Idempotency-Key repeat was answered with the first result (nothing delivered). */
  repeated: boolean;
}

/**
 * Publishes an event (POST /events): gives it a position in each of its streams, records it for resume and
 * broadcasts it to every replica in one atomic step (StreamHistory), and answers whether that is confirmed.
 * Until the gateway hands over the Socket.IO server it refuses with 503.
 */
@Injectable()
export class RealtimePublisher {
  private server: Server | null = null;

  constructor(
    private readonly metrics: RealtimeMetrics,
    private readonly adapterState: SocketAdapterState,
    private readonly history: StreamHistory,
    private readonly streamsMetrics: StreamsMetrics,
    private readonly delivery: StreamDelivery,
    private readonly peers: ClusterPeers,
  ) {}

  /** The gateway's server, once it is initialised. */
  attach(server: Server): void {
    this.server = server;
  }

  /**
   * Publishes to the event's streams; `idempotencyKey` makes a retry (same key, same body) answer the first
   * result without delivering again, on any replica; the same key with another body is a 409.
   */
  async publish(dto: PublishEventDto, idempotencyKey?: string): Promise<PublishAnswer> {
    if (this.server === null) throw new ServiceUnavailableException('WebSocket server not initialized');
    const receivedAt = performance.timeOrigin + performance.now();
    // Streams and rooms share their names (`portfolio:<id>`, `user:<id>`).
    const rooms = publicationStreams(dto);
    const payload = publicationFields(dto, new Date().toISOString());
    const id = randomUUID();
    const delivered = this.delivery.localSockets(rooms);
    const head = resultHead(dto.event, rooms, delivered, id);
    const idempotency =
      idempotencyKey === undefined
        ? undefined
        : { keyHash: sha256(idempotencyKey), bodyHash: sha256(idempotencyBody(dto)), resultHead: head };

    // Whether this instance hears the channel as the script goes out: if so Redis runs the script after our
    // SUBSCRIBE and the echo brings it back; if not it is delivered directly and its echo, if any, skipped.
    const listening = this.delivery.listening;
    if (this.history.shared && !listening) this.delivery.skipEcho(id);
    const outcome = await this.history.publish({
      message: { id, ev: dto.event, p: payload, ts: receivedAt, o: this.delivery.origin },
      streams: rooms,
      idempotency,
    });

    if (outcome.kind === 'repeat') {
      if (outcome.bodyHash !== idempotency?.bodyHash) {
        this.streamsMetrics.recordRepeat('conflict');
        throw new ConflictException('Idempotency-Key was already used with a different body');
      }
      this.streamsMetrics.recordRepeat('replayed');
      return { result: JSON.parse(outcome.result) as PublishResult, repeated: true };
    }

    const result: PublishResult = { event: dto.event, rooms, delivered, id, positions: {} };
    let degraded = this.adapterState.degraded;
    if (outcome.kind === 'unrecorded') {
      this.delivery.deliverUnpositioned(dto.event, { ...payload, id }, rooms, receivedAt);
      if (idempotency !== undefined)
        this.history.rememberLocally(idempotency.keyHash, idempotency.bodyHash, head + '{}}');
      degraded = true;
    } else {
      result.positions = outcome.message.pos;
      if (!this.history.shared) {
        this.delivery.deliverDirect(outcome.message);
      } else {
        if (listening) {
          // Even if the subscription dropped meanwhile: the echo may still come, else the timer delivers it.
          this.delivery.expectEcho(outcome.message);
        } else {
          this.delivery.deliverDirect(outcome.message);
          degraded = true;
        }
        // Redis tells how many subscriptions it handed the publication to: fewer than the live replicas means
        // one of them (maybe this one) is not subscribed right now and will not deliver it.
        const live = this.peers.liveReplicas;
        if (outcome.receivers !== null && live !== null && outcome.receivers < live) degraded = true;
      }
    }
    this.metrics.recordPublished(dto.event);
    if (degraded) result.degraded = true;
    return { result, repeated: false };
  }
}
