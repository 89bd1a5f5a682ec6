import { Global, Module } from '@nestjs/common';
import { MetricsAuthGuard } from './metrics-auth.guard';
import { MetricsService } from './metrics.service';

@Global()
@Module({ providers: [MetricsService, MetricsAuthGuard], exports: [MetricsService, MetricsAuthGuard] })
export class MetricsModule {}
