/**
 * The server's socket contract as the client sees it: event names and payload shapes. Stream names are the
 * Socket.IO room names, `portfolio:<id>` and `user:<id>`.
 */

/** Where a publication sits in a stream. Within one epoch, offsets grow by exactly 1 per publication. */
export interface StreamPosition {
  epoch: string;
  offset: number;
}

/** The fields every pushed publication carries. */
export interface PublicationFields<TData = unknown> {
  /** The publication's id: the same on every replica and in replays. */
  id: string;
  data: TData;
  /** ISO-8601 time the server accepted the publication. */
  timestamp: string;
  /** The first stream the publication belongs to (absent when unpositioned). */
  stream?: string;
  /** Its position in `stream`. */
  position?: StreamPosition;
  /** Every stream the publication belongs to, with its position in each. */
  positions?: Record<string, StreamPosition>;
  /** Set on events sent again from history by a resume. */
  replayed?: true;
  /** Set when the server could not record the publication in history: it has no position. */
  unpositioned?: true;
}

export interface PortfolioUpdateEvent<TData = unknown> extends PublicationFields<TData> {
  portfolioId: string;
  userId?: string;
}

export interface TradeExecutedEvent<TData = unknown> extends PublicationFields<TData> {
  portfolioId?: string;
  userId?: string;
}

export type Publication = PortfolioUpdateEvent | TradeExecutedEvent;

export const PUBLICATION_EVENTS = {
  PORTFOLIO_UPDATE: 'portfolio:update',
  TRADE_EXECUTED: 'trade:executed',
} as const;
export type PublicationEventName = (typeof PUBLICATION_EVENTS)[keyof typeof PUBLICATION_EVENTS];

/** Socket events of the contract, other than the publications. */
export const SOCKET_EVENTS = {
  SUBSCRIBE: 'portfolio:subscribe',
  UNSUBSCRIBE: 'portfolio:unsubscribe',
  USER_RESUME: 'user:resume',
  USER_STREAM: 'user:stream',
  SERVER_SHUTDOWN: 'server:shutdown',
} as const;

export const portfolioStream = (portfolioId: string): string => `portfolio:${portfolioId}`;

export interface AckError {
  ok: false;
  error: { code: string; message?: string };
}

/** The answer to `portfolio:subscribe` and `user:resume`, and the payload of `user:stream`. */
export interface StreamAck {
  stream: string;
  /** The stream's last assigned position (offset 0: nothing published yet in this epoch). */
  position: StreamPosition;
  /** Present when the request carried `since`: whether every missed publication was replayed. */
  recovered?: boolean;
  replayed?: number;
}

export type SubscribeAck = ({ ok: true; portfolioId: string } & StreamAck) | AckError;
export type ResumeAck = ({ ok: true } & StreamAck) | AckError;
export type UnsubscribeAck = { ok: true; portfolioId: string } | AckError;

/** `auth` of the handshake. */
export interface HandshakeAuth {
  token: string;
  since?: StreamPosition;
}
