import { Injectable } from '@nestjs/common';
import { ClusterProbes } from '../../cluster/cluster-probes';
import { ALERT_KEYS } from '../alert-keys';
import type { Monitor, Reading } from '../alert.types';

/**
 * cluster.delivery: how long the longest-silent live peer's delivery probes have not arrived here while its
 * heartbeat continued (ClusterProbes decides "silent"). Warning at two probe intervals, critical at four; the
 * engine's two-breach rule applies, and the check runs every quarter interval, so it fires about half an interval
 * after the second missed probe. When the peers cannot be read (Redis down) the check fails and the alert keeps
 * its state: whether the peer still beats is unknown then, and redis.down says what is wrong.
 */
@Injectable()
export class DeliveryMonitor implements Monitor {
  readonly name = 'cluster-delivery';

  constructor(private readonly probes: ClusterProbes) {}

  get enabled(): boolean {
    return this.probes.enabled;
  }

  get intervalMs(): number {
    return this.probes.checkIntervalMs;
  }

  async check(): Promise<Reading[]> {
    await this.probes.refreshPeers();
    const silent = this.probes
      .delivery()
      .filter((p) => p.silent)
      .map((p) => p.instanceId);
    return [
      {
        kind: 'metric',
        key: ALERT_KEYS.clusterDelivery,
        label:
          silent.length === 0
            ? 'Cross-replica probe silence'
            : `Cross-replica probe silence (from ${silent.join(', ')})`,
        value: this.probes.silenceMs(),
        unit: 'ms',
        warning: this.probes.warningMs,
        critical: this.probes.criticalMs,
      },
    ];
  }
}
