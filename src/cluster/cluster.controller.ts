import { Controller, Get, UseGuards } from '@nestjs/common';
import { MetricsAuthGuard } from '../metrics/metrics-auth.guard';
import { ClusterService, ClusterView } from './cluster.service';

@Controller('metrics')
@UseGuards(MetricsAuthGuard)
export class ClusterController {
  constructor(private readonly cluster: ClusterService) {}

  /** Every live replica with its connection counts (from the Redis heartbeats). */
  @Get('cluster')
  view(): Promise<ClusterView> {
    return this.cluster.view();
  }
}
