import { Module } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { WsDispatcher } from './dispatch/ws-dispatcher';
import { EventsController } from './events.controller';
import { RealtimeExceptionFilter } from './filters/ws-exception.filter';
import { WsLatencyInterceptor } from './interceptors/ws-latency.interceptor';
import { RealtimeGateway } from './realtime.gateway';
import { SocketEventGate } from './socket-event-gate';

@Module({
  imports: [DiscoveryModule],
  controllers: [EventsController],
  providers: [RealtimeGateway, WsLatencyInterceptor, RealtimeExceptionFilter, WsDispatcher, SocketEventGate],
  exports: [RealtimeGateway, WsDispatcher],
})
export class RealtimeModule {}
