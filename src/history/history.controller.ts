import { Controller, Get, Query, ServiceUnavailableException, UseGuards } from '@nestjs/common';
import { MetricsAuthGuard } from '../metrics/metrics-auth.guard';
import { HistoryService, MetricsHistoryResponse, parseInstance, parseRange } from './history.service';
import { HistoryUnavailableError } from './history.types';

@Controller('metrics')
@UseGuards(MetricsAuthGuard)
export class HistoryController {
  constructor(private readonly history: HistoryService) {}

  /** GET /metrics/history?range=1h|24h|7d|30d[&instance=<id>] */
  @Get('history')
  async get(
    @Query('range') range: unknown,
    @Query('instance') instance: unknown,
  ): Promise<MetricsHistoryResponse> {
    const parsedRange = parseRange(range);
    const instanceId = parseInstance(instance);
    try {
      return await this.history.history(parsedRange, instanceId);
    } catch (err) {
      if (err instanceof HistoryUnavailableError) throw new ServiceUnavailableException(err.message);
      throw err;
    }
  }
}
