import { Injectable, Logger } from '@nestjs/common';
import type { IncomingMessage } from 'node:http';
import type { Server } from 'socket.io';
import { addressKey, clientAddress, TrustProxy } from '../common/client-address';
import { AppConfig } from '../config/app-config';
import { RealtimeMetrics } from './realtime.metrics';
import { HANDSHAKE_REFUSALS, REFUSAL_REASONS, RefusalReason } from './realtime.events';
import { isOriginAllowed, OriginPolicy, originPolicy } from './socket-server.options';

/** engine.io's `allowRequest` hook: an error message and false refuse the request. */
export type AllowRequest = (
  req: IncomingMessage,
  callback: (err: string | null | undefined, success: boolean) => void,
) => void;

/** What this class needs of an engine.io session. */
interface EngineSession {
  request: IncomingMessage;
  once(event: 'close', listener: () => void): unknown;
}

/** Refusals an operator should hear about (the instance is full, an address is over its cap) warn at most this often. */
const WARN_EVERY_MS = 60_000;
const WARNED_REASONS: ReadonlySet<RefusalReason> = new Set([
  REFUSAL_REASONS.CAPACITY,
  REFUSAL_REASONS.ADDRESS_LIMIT,
]);

/**
 * Who may open a new connection, decided in engine.io's `allowRequest`: it runs once per new engine.io session
 * (a polling handshake or a direct WebSocket upgrade) before the session, its timers and the Socket.IO
 * handshake exist, so a refusal costs one HTTP answer. Upgrades and polls of an existing session do not come
 * here. In order:
 *
 * - Origin (CORS headers do not cover the WebSocket upgrade);
 * - WS_MAX_CONNECTIONS: engine.io sessions on this instance, unauthenticated ones included: those are what a
 *   handshake flood creates (about 9 KB each until WS_CONNECT_TIMEOUT_MS);
 * - WS_MAX_CONNECTIONS_PER_ADDRESS: sessions per client address, the address taken from X-Forwarded-For only
 *   as far as TRUST_PROXY trusts it, so with TRUST_PROXY off a client's own header changes nothing.
 *
 * Every refusal, here or later in the handshake (token, per-user cap, shutdown), is counted in
 * ws_connections_refused_total{reason} and logged at debug; the instance and address caps also warn, at most
 * once a minute per reason with the number refused since the last warning.
 */
@Injectable()
export class ConnectionAdmission {
  private readonly logger = new Logger(ConnectionAdmission.name);
  private readonly origins: OriginPolicy;
  private readonly maxConnections: number;
  private readonly maxPerAddress: number;
  private readonly trust: TrustProxy;
  private readonly perAddress = new Map<string, number>();
  private readonly warned = new Map<RefusalReason, { at: number; suppressed: number }>();
  private engine: { clientsCount: number } | null = null;

  constructor(
    config: AppConfig,
    private readonly metrics: RealtimeMetrics,
  ) {
    this.origins = originPolicy(config);
    this.maxConnections = config.ws.maxConnections;
    this.maxPerAddress = config.ws.maxConnectionsPerAddress;
    this.trust = config.http.trustProxy;
  }

  readonly allowRequest: AllowRequest = (req, callback) => {
    const refusal = this.check(req);
    if (refusal === null) callback(null, true);
    else callback(refusal, false);
  };

  /** Starts counting the server's engine.io sessions; call once, right after the server is created. */
  attach(server: Server): void {
    this.engine = server.engine;
    if (this.maxPerAddress === 0) return;
    server.engine.on('connection', (session: EngineSession) => {
      const key = addressKey(clientAddress(session.request, this.trust));
      this.perAddress.set(key, (this.perAddress.get(key) ?? 0) + 1);
      session.once('close', () => {
        const left = (this.perAddress.get(key) ?? 1) - 1;
        if (left <= 0) this.perAddress.delete(key);
        else this.perAddress.set(key, left);
      });
    });
  }

  /** Counts and logs one refusal; `fields` add context to the log lines. */
  refused(reason: RefusalReason, fields: Record<string, unknown> = {}): void {
    this.metrics.recordConnectionRefused(reason);
    this.logger.debug({ message: 'WebSocket connection refused', reason, ...fields });
    if (WARNED_REASONS.has(reason)) this.warn(reason, fields);
  }

  /** The engine.io answer's message for a refused request, or null to let it through. */
  private check(req: IncomingMessage): string | null {
    if (!isOriginAllowed(this.origins, req.headers.origin)) {
      this.refused(REFUSAL_REASONS.ORIGIN);
      return HANDSHAKE_REFUSALS.ORIGIN;
    }
    const open = this.engine?.clientsCount ?? 0;
    if (this.maxConnections > 0 && open >= this.maxConnections) {
      this.refused(REFUSAL_REASONS.CAPACITY, { limit: this.maxConnections });
      return HANDSHAKE_REFUSALS.CAPACITY;
    }
    if (this.maxPerAddress > 0) {
      const address = addressKey(clientAddress(req, this.trust));
      if ((this.perAddress.get(address) ?? 0) >= this.maxPerAddress) {
        this.refused(REFUSAL_REASONS.ADDRESS_LIMIT, { address, limit: this.maxPerAddress });
        return HANDSHAKE_REFUSALS.ADDRESS_LIMIT;
      }
    }
    return null;
  }

  private warn(reason: RefusalReason, fields: Record<string, unknown>): void {
    const now = Date.now();
    const last = this.warned.get(reason);
    if (last !== undefined && now - last.at < WARN_EVERY_MS) {
      last.suppressed++;
      return;
    }
    this.warned.set(reason, { at: now, suppressed: 0 });
    this.logger.warn({
      message:
        reason === REFUSAL_REASONS.CAPACITY
          ? 'WebSocket connections refused: instance at WS_MAX_CONNECTIONS'
          : 'WebSocket connections refused: an address is at WS_MAX_CONNECTIONS_PER_ADDRESS',
      reason,
      refusedSinceLastWarning: (last?.suppressed ?? 0) + 1,
      ...fields,
    });
  }
}
