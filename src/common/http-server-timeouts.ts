import type { Server } from 'node:http';

export interface HttpServerTimeouts {
  /** Time a client has to send its complete request headers. */
  headersMs: number;
  /** Time a client has to send its complete request, headers and body. */
  requestMs: number;
  /** Time an idle keep-alive connection is kept between two requests. */
  keepAliveMs: number;
  /** Time without a byte in either direction after which a socket still owned by HTTP is destroyed; 0 = never. */
  idleMs: number;
}

/**
 * Applies the server's own timeouts. Node's defaults (60 s for headers, 300 s for a request, checked every 30 s;
 * no idle limit) let one client that trickles a byte every few seconds hold a connection for minutes.
 *
 * What they do not touch, by how Node and ws work: an upgraded WebSocket leaves Node's request tracking once
 * the upgrade headers are parsed, and ws turns the socket's idle timer off (`setTimeout(0)`); a long-polling GET
 * is complete as soon as its headers are in, so only the idle timeout can cut it while the server holds it open
 * (the configuration requires it to exceed the ping interval). test/http-limits.e2e-spec.ts checks both.
 */
export function applyHttpServerTimeouts(server: Server, t: HttpServerTimeouts): void {
  server.headersTimeout = t.headersMs;
  server.requestTimeout = t.requestMs;
  server.keepAliveTimeout = t.keepAliveMs;
  server.timeout = t.idleMs;
  // Node checks header and request deadlines on this period (30 s by default), so a 10 s headers timeout could
  // take 40 s. Read when the server starts listening, so it must be set before listen().
  // Node's types list it only as a createServer option, but the server reads the property itself.
  (server as Server & { connectionsCheckingInterval: number }).connectionsCheckingInterval = Math.max(
    50,
    Math.min(1000, Math.floor(Math.min(t.headersMs, t.requestMs) / 4)),
  );
}
