import { Controller, Get, UseGuards } from '@nestjs/common';
import { MetricsAuthGuard } from '../metrics/metrics-auth.guard';
import type { AlertTransition } from '../history/history.types';
import { AlertEngine } from './alert-engine';
import { AlertHistory, RECENT_TRANSITIONS } from './alert-history';
import type { ActiveAlert } from './alert.types';

export interface AlertsResponse {
  active: ActiveAlert[];
  recent: Array<Omit<AlertTransition, 'timestamp'> & { timestamp: string }>;
}

@Controller('alerts')
@UseGuards(MetricsAuthGuard)
export class AlertsController {
  constructor(
    private readonly engine: AlertEngine,
    private readonly history: AlertHistory,
  ) {}

  /** Active alerts on this instance, and the last 100 transitions (all instances when a shared store is used). */
  @Get()
  async list(): Promise<AlertsResponse> {
    const recent = await this.history.recent(RECENT_TRANSITIONS);
    return {
      active: this.engine.active(),
      recent: recent.map((t) => ({ ...t, timestamp: new Date(t.timestamp).toISOString() })),
    };
  }
}
