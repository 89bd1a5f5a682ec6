export {
  TradingClient,
  TradingClientError,
  type ConnectedEvent,
  type DisconnectedEvent,
  type TokenSource,
  type TradingClientEvents,
  type TradingClientOptions,
} from './trading-client';
export {
  StreamTracker,
  positionsOf,
  DEFAULT_MAX_HELD_PER_STREAM,
  DEFAULT_MAX_REMEMBERED_IDS,
  type ResyncEvent,
  type ResyncReason,
  type StreamTrackerOptions,
  type StreamTrackerSink,
} from './stream-tracker';
export { BoundedIdSet } from './bounded-id-set';
export { TypedEmitter, type Listener } from './typed-emitter';
export {
  PUBLICATION_EVENTS,
  SOCKET_EVENTS,
  portfolioStream,
  type AckError,
  type HandshakeAuth,
  type PortfolioUpdateEvent,
  type Publication,
  type PublicationEventName,
  type PublicationFields,
  type ResumeAck,
  type StreamAck,
  type StreamPosition,
  type SubscribeAck,
  type TradeExecutedEvent,
  type UnsubscribeAck,
} from './contract';
