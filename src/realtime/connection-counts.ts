/**
 * This instance's open connections, read-only: what cluster heartbeats and the realtime metrics need of the
 * connection registry. Provided by RealtimeModule as the ConnectionRegistry itself, so the figures are the
 * registry's own, never a copy that could drift.
 */
export abstract class ConnectionCounts {
  abstract readonly totalConnections: number;
  abstract readonly uniqueUsers: number;
}
