import { DiscoveryService } from '@nestjs/core';
import type { MetricsSnapshot } from './metrics-snapshot';

/**
 * A feature's part of the JSON /metrics body. The metrics core assembles the snapshot (system, http, the
 * timestamp) and hands it to every provider marked with `@MetricsContributor()`, found once at start-up with
 * Nest's DiscoveryService, so the core never imports a feature. A contributor owns its Prometheus instruments
 * too: it registers them on METRICS_REGISTRY itself.
 */
export interface MetricsSnapshotContributor {
  /** Fills this feature's sections of `snapshot` (called on every JSON /metrics read, monitor check, history snapshot). */
  contribute(snapshot: MetricsSnapshot): void;
  /**
   * Why JSON /metrics must answer 503 right now (e.g. the WebSocket server is not up yet), or null. The
   * Prometheus exposition and currentSnapshot() do not wait for it.
   */
  notReadyReason?(): string | null;
}

/** Marks a provider as a MetricsSnapshotContributor. */
export const MetricsContributor = DiscoveryService.createDecorator<void>();
