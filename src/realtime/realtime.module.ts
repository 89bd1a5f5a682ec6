import { Module } from '@nestjs/common';
import { EventsController } from './events.controller';
import { RealtimeExceptionFilter } from './filters/ws-exception.filter';
import { WsLatencyInterceptor } from './interceptors/ws-latency.interceptor';
import { RealtimeGateway } from './realtime.gateway';
import { SlowConsumerGuard } from './slow-consumer.guard';

@Module({
  controllers: [EventsController],
  providers: [RealtimeGateway, WsLatencyInterceptor, RealtimeExceptionFilter, SlowConsumerGuard],
  exports: [RealtimeGateway],
})
export class RealtimeModule {}
