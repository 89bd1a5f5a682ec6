import { Module } from '@nestjs/common';
import { MetricsModule } from '../metrics/metrics.module';
import { StreamHistory } from './stream-history';
import { StreamsMetrics } from './streams.metrics';

/**
 * Stream positions, history and idempotent publishing (docs/socket-contract.md#positions-and-resume). Knows
 * nothing of Socket.IO: RealtimeModule delivers what this records and replays what it returns.
 */
@Module({
  imports: [MetricsModule],
  providers: [StreamsMetrics, StreamHistory],
  exports: [StreamHistory, StreamsMetrics],
})
export class StreamsModule {}
