/** The socket contract in one place: event names, room names and acknowledgement codes. */

/** Client → server events; each is answered by an acknowledgement when the client passes a callback. */
export const CLIENT_EVENTS = {
  SUBSCRIBE: 'portfolio:subscribe',
  UNSUBSCRIBE: 'portfolio:unsubscribe',
  /** Resume the user stream on a live connection (fill a gap): `{since: {epoch, offset}}`. */
  USER_RESUME: 'user:resume',
} as const;
export type ClientEvent = (typeof CLIENT_EVENTS)[keyof typeof CLIENT_EVENTS];

/** Server → client events; also the `event` values POST /events and the publisher library may push. */
export const SERVER_EVENTS = {
  PORTFOLIO_UPDATE: 'portfolio:update',
  TRADE_EXECUTED: 'trade:executed',
} as const;

/** Server → client events about the connection itself (not published; not counted as events sent). */
export const CONTROL_EVENTS = {
  /** After the handshake: the user stream's position, and whether the handshake's `since` was recovered. */
  USER_STREAM: 'user:stream',
  /** This replica is shutting down: reconnect at once (to another replica) and resume. */
  SERVER_SHUTDOWN: 'server:shutdown',
} as const;

/** POST /events `Idempotency-Key`: 1-255 visible ASCII characters. */
export const IDEMPOTENCY_KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;
export type ServerEvent = (typeof SERVER_EVENTS)[keyof typeof SERVER_EVENTS];
export const PUBLISHABLE_EVENTS = [SERVER_EVENTS.PORTFOLIO_UPDATE, SERVER_EVENTS.TRADE_EXECUTED] as const;

/** The metrics label for any event name the gateway does not know (keeps the label set bounded). */
export const UNKNOWN_EVENT_LABEL = 'unknown';

export const USER_ROOM_PREFIX = 'user:';
export const PORTFOLIO_ROOM_PREFIX = 'portfolio:';
export const userRoom = (userId: string): string => USER_ROOM_PREFIX + userId;
export const portfolioRoom = (portfolioId: string): string => PORTFOLIO_ROOM_PREFIX + portfolioId;

/** Portfolio ids: what a room name may safely carry. */
export const PORTFOLIO_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
export const PORTFOLIO_ID_MAX_LENGTH = 64;

/** `connect_error` messages: the only thing a refused client learns. */
export const CONNECT_ERRORS = {
  UNAUTHORIZED: 'unauthorized',
  TOO_MANY_CONNECTIONS: 'too_many_connections',
  SHUTTING_DOWN: 'server_shutting_down',
  /** `auth.since` is not a position `{epoch, offset}`. */
  INVALID_SINCE: 'invalid_since',
} as const;

/**
 * Why a connection closed: the `reason` label of ws_disconnects_total (docs/runbook.md, "Why clients leave").
 * The first group is what Socket.IO reports; the second, the server's own purposes (also the `reason` field of
 * the warning it logs). A client the server cuts cannot be told: it is not reading, or is misbehaving.
 */
export const DISCONNECT_REASONS = {
  /** The client called disconnect(). */
  CLIENT_CLOSE: 'client_close',
  /** The TCP connection or the WebSocket closed without a Socket.IO goodbye (tab closed, network lost). */
  TRANSPORT_CLOSE: 'transport_close',
  /** The transport failed (a protocol violation, a write error). */
  TRANSPORT_ERROR: 'transport_error',
  /** The client did not answer a ping within WS_PING_TIMEOUT_MS. */
  PING_TIMEOUT: 'ping_timeout',
  /** A packet could not be decoded. */
  PARSE_ERROR: 'parse_error',
  /** A message over WS_MAX_PAYLOAD_BYTES. */
  OVERSIZE_MESSAGE: 'oversize_message',
  /** Its unsent output passed WS_MAX_PENDING_BYTES. */
  SLOW_CONSUMER: 'slow_consumer',
  /** It kept answering pings it had not been sent, for longer than a ping interval plus timeout. */
  BLIND_PONG: 'blind_pong',
  /** Its access token expired while connected. */
  TOKEN_EXPIRED: 'token_expired',
  /** It stayed over its event rate limit for FLOOD_DISCONNECT_MS. */
  FLOODING: 'flooding',
  /** This instance shut down. */
  SERVER_SHUTDOWN: 'server_shutdown',
  /** A reason this version does not know (a newer Socket.IO); keeps the label set bounded. */
  UNKNOWN: 'unknown',
} as const;
export type DisconnectReason = (typeof DISCONNECT_REASONS)[keyof typeof DISCONNECT_REASONS];
/** The reasons the server itself decides; recorded with markDisconnect before it disconnects. */
export type ServerDisconnectReason =
  | typeof DISCONNECT_REASONS.SLOW_CONSUMER
  | typeof DISCONNECT_REASONS.BLIND_PONG
  | typeof DISCONNECT_REASONS.TOKEN_EXPIRED
  | typeof DISCONNECT_REASONS.FLOODING
  | typeof DISCONNECT_REASONS.SERVER_SHUTDOWN;

/**
 * Refusals before the Socket.IO handshake (engine.io `allowRequest`), so they cost no session: the body of the
 * HTTP answer (400 to a WebSocket upgrade, 403 JSON `{code: 4, message}` to polling). socket.io-client reports
 * them as a transport error (`websocket error` / `xhr poll error`), not as a `connect_error` message.
 */
export const HANDSHAKE_REFUSALS = {
  CAPACITY: 'server_at_capacity',
  ADDRESS_LIMIT: 'too_many_connections_from_address',
  ORIGIN: 'origin_not_allowed',
} as const;

/** The `reason` label of ws_connections_refused_total: every way a new connection is turned away. */
export const REFUSAL_REASONS = {
  CAPACITY: 'capacity',
  ADDRESS_LIMIT: 'address_limit',
  ORIGIN: 'origin',
  UNAUTHORIZED: 'unauthorized',
  TOO_MANY_CONNECTIONS: 'too_many_connections',
  SHUTTING_DOWN: 'shutting_down',
  INVALID_SINCE: 'invalid_since',
} as const;
export type RefusalReason = (typeof REFUSAL_REASONS)[keyof typeof REFUSAL_REASONS];

export const ACK_CODES = {
  INVALID_PAYLOAD: 'INVALID_PAYLOAD',
  FORBIDDEN: 'FORBIDDEN',
  RATE_LIMITED: 'RATE_LIMITED',
  INTERNAL: 'INTERNAL',
} as const;
export type AckCode = (typeof ACK_CODES)[keyof typeof ACK_CODES];

/** A stream position: `offset` counts the stream's publications within `epoch` (docs/socket-contract.md). */
export interface Position {
  epoch: string;
  offset: number;
}

/**
 * What a subscribe or resume tells about the stream: its current position (null while the history is
 * unavailable, Redis unreachable) and, when `since` was given, whether everything after it was sent.
 */
export interface StreamAck {
  stream: string;
  position: Position | null;
  recovered?: boolean;
  replayed?: number;
}

export type Ack =
  | ({ ok: true; portfolioId: string } & Partial<StreamAck>)
  | ({ ok: true } & StreamAck)
  | { ok: false; error: { code: AckCode; message?: string } };

/** Outcome labels handed to MetricsService.recordWsEvent. */
export const WS_OUTCOMES = {
  OK: 'ok',
  INVALID_PAYLOAD: 'invalid_payload',
  FORBIDDEN: 'forbidden',
  RATE_LIMITED: 'rate_limited',
  ERROR: 'error',
  IGNORED: 'ignored',
} as const;

/** A socket that is rate limited without a pause of at least FLOOD_PAUSE_MS for this long is disconnected. */
export const FLOOD_DISCONNECT_MS = 10_000;
export const FLOOD_PAUSE_MS = 1_000;

/** POST /events: the `data` object's JSON size limit, and the body parser's limit (data plus its envelope). */
export const PUBLISH_MAX_DATA_BYTES = 64 * 1024;
/** Nesting limit of POST /events `data` (objects and arrays count one level each). */
export const PUBLISH_MAX_DATA_DEPTH = 32;
export const PUBLISH_BODY_LIMIT_BYTES = PUBLISH_MAX_DATA_BYTES + 16 * 1024;
