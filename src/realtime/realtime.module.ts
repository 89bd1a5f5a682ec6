import { Module } from '@nestjs/common';
import { EventsController } from './events.controller';
import { RealtimeExceptionFilter } from './filters/ws-exception.filter';
import { WsLatencyInterceptor } from './interceptors/ws-latency.interceptor';
import { RealtimeGateway } from './realtime.gateway';

@Module({
  controllers: [EventsController],
  providers: [RealtimeGateway, WsLatencyInterceptor, RealtimeExceptionFilter],
  exports: [RealtimeGateway],
})
export class RealtimeModule {}
