import { MiddlewareConsumer, Module, NestModule, RequestMethod } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { ErrorTrackingModule } from '../error-tracking/error-tracking.module';
import { MetricsModule } from '../metrics/metrics.module';
import { StreamsModule } from '../streams/streams.module';
import { ClusterPeers } from './cluster-peers';
import { ConnectionAdmission } from './connection-admission';
import { ConnectionCounts } from './connection-counts';
import { ConnectionRegistry } from './connection-registry';
import { WsDispatcher } from './dispatch/ws-dispatcher';
import { DisconnectCounter } from './disconnect-reasons';
import { EventsController } from './events.controller';
import { RealtimeExceptionFilter } from './filters/ws-exception.filter';
import { HandshakeAdmission } from './handshake-admission';
import { WsLatencyInterceptor } from './interceptors/ws-latency.interceptor';
import { PublishBodyMiddleware } from './publish-body.middleware';
import { PublishPrecheckMiddleware } from './publish-precheck.middleware';
import { RealtimeGateway } from './realtime.gateway';
import { RealtimeMetrics } from './realtime.metrics';
import { RealtimePublisher } from './realtime.publisher';
import { SlowConsumerGuard } from './slow-consumer.guard';
import { SocketAdapterState } from './socket-adapter-state';
import { SocketEventGate } from './socket-event-gate';
import { StreamDelivery } from './stream-delivery';
import { UserConnectionCap } from './user-connection-cap';
import { WsTrafficMetrics } from './ws-traffic.metrics';

@Module({
  imports: [DiscoveryModule, MetricsModule, ErrorTrackingModule, StreamsModule],
  controllers: [EventsController],
  providers: [
    RealtimeGateway,
    WsLatencyInterceptor,
    RealtimeExceptionFilter,
    WsDispatcher,
    SocketEventGate,
    SlowConsumerGuard,
    DisconnectCounter,
    ConnectionAdmission,
    UserConnectionCap,
    ConnectionRegistry,
    { provide: ConnectionCounts, useExisting: ConnectionRegistry },
    SocketAdapterState,
    RealtimeMetrics,
    WsTrafficMetrics,
    HandshakeAdmission,
    RealtimePublisher,
    StreamDelivery,
    ClusterPeers,
  ],
  // Cluster heartbeats read the counts and report the live replicas, its delivery probes use the Socket.IO
  // server; app.setup.ts reaches the adapter's providers through app.get().
  exports: [ConnectionCounts, ClusterPeers, SocketAdapterState],
})
export class RealtimeModule implements NestModule {
  /**
   * The app has no global body parser (APP_OPTIONS.bodyParser is false): POST /events is the only route that
   * takes a body, and it is read here, after the headers are checked. Nest mounts the middleware of global
   * modules (nestjs-pino's request logger, MetricsModule's timing) before a feature module's, so a request
   * refused here still gets its request id, its log line and its count.
   */
  configure(consumer: MiddlewareConsumer): void {
    consumer
      .apply(PublishPrecheckMiddleware, PublishBodyMiddleware)
      .forRoutes({ path: 'events', method: RequestMethod.POST });
  }
}
