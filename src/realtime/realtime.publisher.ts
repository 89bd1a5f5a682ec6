import { Injectable, ServiceUnavailableException } from '@nestjs/common';
import type { Server } from 'socket.io';
import type { PublishEventDto } from './dto/publish-event.dto';
import { portfolioRoom, SERVER_EVENTS, userRoom } from './realtime.events';
import { RealtimeMetrics } from './realtime.metrics';
import { SocketAdapterState } from './socket-adapter-state';

export interface PublishResult {
  event: PublishEventDto['event'];
  rooms: string[];
  /** Sockets on this instance that the event reached (other instances deliver to their own). */
  delivered: number;
  /** Present (true) when the Redis adapter is on but Redis is not connected: other instances may miss it. */
  degraded?: true;
}

/**
 * Delivers a published event (POST /events) to its rooms on every instance through the socket adapter, and
 * counts it. Until the gateway hands over the Socket.IO server it refuses with 503.
 */
@Injectable()
export class RealtimePublisher {
  private server: Server | null = null;

  constructor(
    private readonly metrics: RealtimeMetrics,
    private readonly adapterState: SocketAdapterState,
  ) {}

  /** The gateway's server, once it is initialised. */
  attach(server: Server): void {
    this.server = server;
  }

  /** Sends a server event to its rooms on every instance; returns how many sockets on this one it reached. */
  publish(dto: PublishEventDto): PublishResult {
    const server = this.server;
    if (server === null) throw new ServiceUnavailableException('WebSocket server not initialized');
    const rooms: string[] = [];
    const timestamp = new Date().toISOString();
    let payload: Record<string, unknown>;
    if (dto.event === SERVER_EVENTS.PORTFOLIO_UPDATE) {
      rooms.push(portfolioRoom(dto.portfolioId as string));
      payload = { portfolioId: dto.portfolioId, data: dto.data, timestamp };
    } else {
      if (dto.userId !== undefined) rooms.push(userRoom(dto.userId));
      if (dto.portfolioId !== undefined) rooms.push(portfolioRoom(dto.portfolioId));
      payload = {
        ...(dto.userId !== undefined ? { userId: dto.userId } : {}),
        ...(dto.portfolioId !== undefined ? { portfolioId: dto.portfolioId } : {}),
        data: dto.data,
        timestamp,
      };
    }
    const delivered = countLocalSockets(server, rooms);
    server.to(rooms).emit(dto.event, payload);
    this.metrics.recordPublished(dto.event);
    this.metrics.recordWsSent(dto.event, delivered);
    const result: PublishResult = { event: dto.event, rooms, delivered };
    if (this.adapterState.degraded) result.degraded = true;
    return result;
  }
}

/** Distinct sockets of this instance in any of the rooms. */
function countLocalSockets(server: Server, rooms: string[]): number {
  const local = server.of('/').adapter.rooms;
  if (rooms.length === 1) return local.get(rooms[0])?.size ?? 0;
  const seen = new Set<string>();
  for (const room of rooms) for (const id of local.get(room) ?? []) seen.add(id);
  return seen.size;
}
