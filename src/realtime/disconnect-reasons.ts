import { Inject, Injectable } from '@nestjs/common';
import { Counter, Registry } from 'prom-client';
import type { Socket } from 'socket.io';
import { METRICS_REGISTRY } from '../metrics/metrics.registry';
import { SocketAdapterState } from './socket-adapter-state';
import { DISCONNECT_REASONS, DisconnectReason, ServerDisconnectReason } from './realtime.events';
import { REALTIME_METRIC } from './realtime.metric-names';

/** ws and engine.io's polling transport report a message over maxHttpBufferSize with these texts. */
const OVERSIZE = /Max payload size exceeded|payload too large/;

/**
 * One label per disconnect, from Socket.IO's reason (socket.io 4.8 `DisconnectReason`), its description and
 * the purpose the server recorded, if any.
 */
export function classifyDisconnect(
  reason: string,
  description: unknown,
  purpose: ServerDisconnectReason | undefined,
): DisconnectReason {
  if (purpose !== undefined) return purpose;
  switch (reason) {
    case 'client namespace disconnect':
      return DISCONNECT_REASONS.CLIENT_CLOSE;
    case 'transport close':
      return DISCONNECT_REASONS.TRANSPORT_CLOSE;
    case 'transport error':
      // engine.io wraps the transport's error: the over-size one is only recognisable by its message.
      return description instanceof Error && OVERSIZE.test(description.message)
        ? DISCONNECT_REASONS.OVERSIZE_MESSAGE
        : DISCONNECT_REASONS.TRANSPORT_ERROR;
    case 'ping timeout':
      return DISCONNECT_REASONS.PING_TIMEOUT;
    // engine.io's `forced close` without a purpose: Socket.IO closed the connection over a packet it could not
    // decode (Client.onerror); the server's own closes all record a purpose.
    case 'parse error':
    case 'forced close':
      return DISCONNECT_REASONS.PARSE_ERROR;
    case 'server shutting down':
      return DISCONNECT_REASONS.SERVER_SHUTDOWN;
    default:
      return DISCONNECT_REASONS.UNKNOWN;
  }
}

/**
 * Owns ws_disconnects_total: every admitted socket is counted exactly once when it disconnects, with one
 * reason. The gateway installs it on each socket it admits (a socket refused after connecting is counted in
 * ws_connections_refused_total instead).
 */
@Injectable()
export class DisconnectCounter {
  private readonly disconnects: Counter<'reason'>;
  /**
   * Why the server is about to disconnect a socket. Socket.IO reports every server-side disconnect as the same
   * `server namespace disconnect` (or `forced close` when the engine is closed), so the provider that decides to
   * cut a socket records its purpose here first (`mark`) and `watch` reads it back. A WeakMap keeps socket.data
   * the client's identity only and forgets closed sockets by itself.
   */
  private readonly purposes = new WeakMap<Socket, ServerDisconnectReason>();
  /** The same counts, readable synchronously for the JSON /metrics (prom-client's get() is async). */
  private readonly byReason = new Map<DisconnectReason, number>();

  constructor(
    @Inject(METRICS_REGISTRY) registry: Registry,
    private readonly adapterState: SocketAdapterState,
  ) {
    this.disconnects = new Counter({
      name: REALTIME_METRIC.wsDisconnects,
      help: 'WebSocket connections closed, by reason (who closed it and why)',
      labelNames: ['reason'],
      registers: [registry],
    });
    // Known reasons start at zero, so rate() and increase() work from the first scrape.
    for (const reason of Object.values(DISCONNECT_REASONS)) this.disconnects.labels(reason).inc(0);
  }

  /** Records why the server is about to disconnect `socket`; the first purpose wins (flooding stays flooding). */
  mark(socket: Socket, reason: ServerDisconnectReason): void {
    if (!this.purposes.has(socket)) this.purposes.set(socket, reason);
  }

  watch(socket: Socket): void {
    socket.once('disconnect', (reason: string, description: unknown) => {
      // The adapter closes the engine on shutdown (engine.io's `forced close`, which alone could be a bad packet).
      const purpose =
        this.purposes.get(socket) ??
        (this.adapterState.closing ? DISCONNECT_REASONS.SERVER_SHUTDOWN : undefined);
      const label = classifyDisconnect(reason, description, purpose);
      this.disconnects.labels(label).inc();
      this.byReason.set(label, (this.byReason.get(label) ?? 0) + 1);
    });
  }

  /** Disconnects by reason since start. */
  counts(): ReadonlyMap<string, number> {
    return this.byReason;
  }
}
