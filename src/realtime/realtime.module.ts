import { Module } from '@nestjs/common';
import { ConnectionAdmission } from './connection-admission';
import { EventsController } from './events.controller';
import { RealtimeExceptionFilter } from './filters/ws-exception.filter';
import { WsLatencyInterceptor } from './interceptors/ws-latency.interceptor';
import { RealtimeGateway } from './realtime.gateway';
import { UserConnectionCap } from './user-connection-cap';

@Module({
  controllers: [EventsController],
  providers: [
    RealtimeGateway,
    WsLatencyInterceptor,
    RealtimeExceptionFilter,
    ConnectionAdmission,
    UserConnectionCap,
  ],
  exports: [RealtimeGateway, ConnectionAdmission],
})
export class RealtimeModule {}
