import { Injectable } from '@nestjs/common';
import { ConnectionCounts } from './connection-counts';

/**
 * activeConnections: user id → the ids of that user's sockets on this instance. The one source of the
 * connection counts; add/remove are idempotent so the counts stay exact whatever order events come in.
 */
@Injectable()
export class ConnectionRegistry implements ConnectionCounts {
  private readonly byUser = new Map<string, Set<string>>();
  private total = 0;

  /** Adds the socket; returns the user's socket count afterwards. */
  add(userId: string, socketId: string): number {
    let set = this.byUser.get(userId);
    if (set === undefined) {
      set = new Set();
      this.byUser.set(userId, set);
    }
    if (!set.has(socketId)) {
      set.add(socketId);
      this.total++;
    }
    return set.size;
  }

  remove(userId: string, socketId: string): void {
    const set = this.byUser.get(userId);
    if (set === undefined || !set.delete(socketId)) return;
    this.total--;
    if (set.size === 0) this.byUser.delete(userId);
  }

  countFor(userId: string): number {
    return this.byUser.get(userId)?.size ?? 0;
  }

  get totalConnections(): number {
    return this.total;
  }

  get uniqueUsers(): number {
    return this.byUser.size;
  }
}
