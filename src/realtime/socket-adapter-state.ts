import { Injectable } from '@nestjs/common';
import type { Server } from 'socket.io';

/**
 * What the rest of the app may know about the Socket.IO adapter in use: whether room emits reach every
 * instance (the Redis adapter is attached) and whether that is degraded right now (a Redis client of the
 * adapter is not connected, so other instances may miss messages). RedisIoAdapter reports into it; the
 * publisher and the stats read it. Without RedisIoAdapter (Nest's default IoAdapter, no REDIS_URL) it stays
 * "local only, not degraded".
 */
@Injectable()
export class SocketAdapterState {
  private connected: (() => boolean) | null = null;
  private io: Server | null = null;
  private readonly serverWaiters: Array<(server: Server) => void> = [];
  /** Set when this instance's Socket.IO server starts closing (shutdown): the disconnects that follow are ours. */
  closing = false;

  /** The Redis adapter was attached to the server; `connected` is asked at every read of `degraded`. */
  redisAttached(connected: () => boolean): void {
    this.connected = connected;
  }

  /** The adapter created the Socket.IO server: whoever waits for it (cross-replica probes) gets it now. */
  serverCreated(server: Server): void {
    this.io = server;
    for (const waiter of this.serverWaiters.splice(0)) waiter(server);
  }

  /** Calls `use` with the Socket.IO server once it exists (at once if it already does). */
  whenServer(use: (server: Server) => void): void {
    if (this.io !== null) use(this.io);
    else this.serverWaiters.push(use);
  }

  get redisEnabled(): boolean {
    return this.connected !== null;
  }

  get degraded(): boolean {
    return this.connected !== null && !this.connected();
  }
}
