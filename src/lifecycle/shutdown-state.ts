import { Injectable } from '@nestjs/common';

/**
 * Whether this instance is draining. Set the moment SIGTERM/SIGINT arrives (before anything closes), read by
 * the health endpoints (503) and by the gateway (refuse new connections).
 */
@Injectable()
export class ShutdownState {
  private drainingSince: number | null = null;

  get isDraining(): boolean {
    return this.drainingSince !== null;
  }

  beginDrain(): void {
    if (this.drainingSince !== null) return;
    this.drainingSince = Date.now();
  }
}
