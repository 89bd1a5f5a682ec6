import type { ServerOptions } from 'socket.io';
import type { AppConfig } from '../config/app-config';

/**
 * Which browser origins may open a socket. CORS headers do not cover the WebSocket upgrade, so the same rule
 * is applied in `allowRequest` (ConnectionAdmission), which runs for every new session, polling or WebSocket.
 *
 * - CORS_ORIGINS set: exactly those origins (`*` means any, refused by the config schema in production).
 * - Unset outside production: any origin.
 * - Unset in production: no browser origin at all; only clients that send no Origin header (native and
 *   mobile apps, servers) may connect.
 * A request without an Origin header is not a cross-site browser request and is always allowed.
 */
export interface OriginPolicy {
  anyOrigin: boolean;
  origins: ReadonlySet<string>;
  /** True when production runs without CORS_ORIGINS: worth a start-up warning. */
  browserOriginsRefused: boolean;
}

export function originPolicy(config: AppConfig): OriginPolicy {
  const raw = config.env.CORS_ORIGINS;
  if (raw === undefined) {
    return {
      anyOrigin: !config.isProduction,
      origins: new Set(),
      browserOriginsRefused: config.isProduction,
    };
  }
  const list = raw
    .split(',')
    .map((o) => o.trim().replace(/\/+$/, ''))
    .filter((o) => o.length > 0);
  return {
    anyOrigin: list.includes('*'),
    origins: new Set(list.filter((o) => o !== '*')),
    browserOriginsRefused: false,
  };
}

export function isOriginAllowed(policy: OriginPolicy, origin: string | undefined): boolean {
  if (origin === undefined) return true;
  return policy.anyOrigin || policy.origins.has(origin);
}

/**
 * The Socket.IO server options every replica uses; the gateway decorator carries none of its own. `allowRequest`
 * is ConnectionAdmission's (origin, instance and per-address caps), so refusals happen before any session exists.
 */
export function socketServerOptions(
  config: AppConfig,
  allowRequest: NonNullable<ServerOptions['allowRequest']>,
): Partial<ServerOptions> {
  const ws = config.ws;
  const policy = originPolicy(config);
  return {
    path: '/socket.io',
    serveClient: false,
    transports: ws.transports as ServerOptions['transports'],
    perMessageDeflate: false,
    httpCompression: false,
    maxHttpBufferSize: ws.maxPayloadBytes,
    pingInterval: ws.pingIntervalMs,
    pingTimeout: ws.pingTimeoutMs,
    connectTimeout: ws.connectTimeoutMs,
    cors: {
      origin: policy.anyOrigin ? true : [...policy.origins],
      methods: ['GET', 'POST'],
      credentials: false,
    },
    allowRequest,
  };
}
