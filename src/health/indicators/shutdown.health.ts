import { Injectable } from '@nestjs/common';
import { HealthIndicatorService } from '@nestjs/terminus';
import { ShutdownState } from '../../lifecycle/shutdown-state';

/** Down from the moment SIGTERM arrives, so load balancers stop sending before anything closes. */
@Injectable()
export class ShutdownHealthIndicator {
  constructor(
    private readonly shutdown: ShutdownState,
    private readonly health: HealthIndicatorService,
  ) {}

  isHealthy(key: string) {
    const indicator = this.health.check(key);
    return this.shutdown.isDraining ? indicator.down({ message: 'shutting down' }) : indicator.up();
  }
}
