import { Injectable, Logger } from '@nestjs/common';
import type { Socket } from 'socket.io';
import { AppConfig } from '../config/app-config';
import { DisconnectCounter } from './disconnect-reasons';
import { DISCONNECT_REASONS } from './realtime.events';
import type { SocketIdentity } from './socket-auth';
import { WsTrafficMetrics } from './ws-traffic.metrics';

/** One engine.io packet as engine.io creates it (engine.io-parser's Packet, only the fields read here). */
interface EnginePacket {
  type: string;
  data?: string | Buffer | ArrayBuffer | ArrayBufferView;
}

/**
 * The part of engine.io's Socket (socket.io's `socket.conn`) this guard uses. `transport.socket` is the `ws`
 * WebSocket of the websocket transport; engine.io does not type it, so it is read through this view.
 */
interface EngineConnection {
  readonly transport: {
    readonly name: string;
    readonly socket?: { readonly bufferedAmount: number; terminate(): void };
  };
  close(discard?: boolean): void;
  on(event: 'packetCreate' | 'packet', listener: (packet: EnginePacket) => void): unknown;
  on(event: 'flush' | 'close', listener: () => void): unknown;
}

type GuardReason = typeof DISCONNECT_REASONS.SLOW_CONSUMER | typeof DISCONNECT_REASONS.BLIND_PONG;

function packetBytes(packet: EnginePacket): number {
  const data = packet.data;
  if (data === undefined) return 1;
  // String length, not Buffer.byteLength: O(1) on the hot path, and exact for the JSON this server sends
  // (event payloads arrive as JSON and are re-encoded by Socket.IO; non-ASCII counts low by at most 3×).
  return 1 + (typeof data === 'string' ? data.length : data.byteLength);
}

/**
 * Bounds what the server holds for one socket, and stops blind pongs from keeping a non-reading socket alive.
 *
 * Where a non-reader's output piles up (measured on loopback with 60 KB events, engine.io 6.6 and ws 8): the
 * kernel's socket buffers took the first ~4 MB (68 events); then `ws` holds the one write the kernel refused (its
 * `bufferedAmount`, stuck at one event) and every later packet waits in engine.io's `writeBuffer`, because
 * engine.io sends nothing more until that write completes. The writeBuffer is what grows without end (13 MB after
 * 285 events, RSS +25 MB). Each broadcast packet there holds its JSON string plus a pre-encoded WebSocket frame,
 * so RSS grows by about 2 bytes per byte counted here. test/slow-consumer.e2e-spec.ts checks the resulting bound
 * against the built server.
 *
 * The check runs when a packet is created (engine.io's `packetCreate`), the only moment the buffer grows, so
 * memory stays bounded at any publish rate: one addition and one comparison per packet, no timers, no scans.
 * Bytes are counted as packets enter the writeBuffer and the count restarts when engine.io flushes the buffer to
 * the transport; from there on they are in `ws`, whose `bufferedAmount` is added at each check.
 *
 * The same hooks count the traffic (WsTrafficMetrics: two additions per packet) and register `pending` with the
 * backlog sampler, which reads it on a timer.
 *
 * Heartbeat: engine.io (protocol v4) accepts any pong, even one nobody asked for, and every pong restarts its
 * ping timer, so a client that sends a pong every 10 s without reading is never pinged and never times out.
 * Here a pong counts only if it answers a ping that has left engine.io's buffer. A socket whose last counted
 * pong is older than pingInterval + pingTimeout (the time engine.io itself allows) is disconnected at its next
 * blind pong. A client that sends no pong at all is left to engine.io's own ping timeout.
 */
@Injectable()
export class SlowConsumerGuard {
  private readonly logger = new Logger(SlowConsumerGuard.name);
  private readonly maxPendingBytes: number;
  private readonly heartbeatMs: number;

  constructor(
    config: AppConfig,
    private readonly disconnects: DisconnectCounter,
    private readonly traffic: WsTrafficMetrics,
  ) {
    this.maxPendingBytes = config.ws.maxPendingBytes;
    this.heartbeatMs = config.ws.heartbeatAllowanceMs;
  }

  /** Watches one connected socket until it closes. */
  watch(socket: Socket): void {
    const conn = socket.conn as unknown as EngineConnection;
    const limit = this.maxPendingBytes;
    let queued = 0;
    let pingQueued = false;
    let pingFlushed = false;
    let lastAnsweredAt = performance.now();
    let dropped = false;

    const traffic = this.traffic;
    const pending = (): number => queued + (conn.transport.socket?.bufferedAmount ?? 0);
    // The backlog sampler reads the same figure on its timer; nothing is added per packet for it.
    conn.on('close', traffic.track(pending));
    const drop = (reason: GuardReason): void => {
      if (dropped) return;
      dropped = true;
      try {
        this.drop(socket, conn, reason, pending());
      } catch (err) {
        // Runs inside a broadcast or a microtask: a failure here must not fail the publish or the process.
        this.logger.error({ message: 'Could not disconnect a slow consumer', socketId: socket.id, err });
      }
    };

    conn.on('packetCreate', (packet) => {
      if (packet.type === 'ping') {
        pingQueued = true;
        pingFlushed = false;
      }
      const bytes = packetBytes(packet);
      queued += bytes;
      traffic.bytesSent += bytes;
      if (packet.type === 'message') traffic.messagesSent++;
      if (queued + (conn.transport.socket?.bufferedAmount ?? 0) > limit) {
        drop(DISCONNECT_REASONS.SLOW_CONSUMER);
      }
    });
    conn.on('flush', () => {
      queued = 0;
      if (pingQueued) pingFlushed = true;
    });
    conn.on('packet', (packet) => {
      traffic.bytesReceived += packetBytes(packet);
      if (packet.type === 'message') traffic.messagesReceived++;
      if (packet.type !== 'pong') return;
      const now = performance.now();
      if (pingQueued && pingFlushed) {
        pingQueued = false;
        lastAnsweredAt = now;
      } else if (now - lastAnsweredAt > this.heartbeatMs) {
        // After engine.io has handled this pong, so its timers are not re-armed on a closed socket.
        queueMicrotask(() => drop(DISCONNECT_REASONS.BLIND_PONG));
      }
    });
  }

  private drop(socket: Socket, conn: EngineConnection, reason: GuardReason, pendingBytes: number): void {
    const identity = socket.data as SocketIdentity | undefined;
    this.logger.warn({
      message:
        reason === DISCONNECT_REASONS.SLOW_CONSUMER
          ? 'WebSocket client disconnected: it does not read what it is sent (slow consumer)'
          : 'WebSocket client disconnected: its pongs answer no ping it has been sent (blind pong)',
      reason,
      userId: identity?.userId,
      socketId: socket.id,
      pendingBytes,
      maxPendingBytes: this.maxPendingBytes,
    });
    // DisconnectCounter counts it when Socket.IO reports the disconnect, under this purpose.
    this.disconnects.mark(socket, reason);
    // Socket.IO's own disconnect runs the gateway's cleanup, but then engine.io waits for its buffer to drain
    // before closing, which a non-reader never lets happen; discarding the transport frees the buffer now, and
    // terminating the WebSocket frees the TCP socket instead of waiting 30 s for a close frame it cannot read.
    socket.disconnect(true);
    conn.close(true);
    conn.transport.socket?.terminate();
  }
}
