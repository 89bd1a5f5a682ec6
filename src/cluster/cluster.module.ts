import { Module } from '@nestjs/common';
import { RealtimeModule } from '../realtime/realtime.module';
import { ClusterController } from './cluster.controller';
import { ClusterService } from './cluster.service';

@Module({
  imports: [RealtimeModule],
  controllers: [ClusterController],
  providers: [ClusterService],
  exports: [ClusterService],
})
export class ClusterModule {}
