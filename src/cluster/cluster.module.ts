import { Module } from '@nestjs/common';
import { MetricsModule } from '../metrics/metrics.module';
import { RealtimeModule } from '../realtime/realtime.module';
import { ClusterController } from './cluster.controller';
import { ClusterProbes } from './cluster-probes';
import { ClusterService } from './cluster.service';

@Module({
  imports: [RealtimeModule, MetricsModule],
  controllers: [ClusterController],
  providers: [ClusterService, ClusterProbes],
  exports: [ClusterService, ClusterProbes],
})
export class ClusterModule {}
