import {
  BeforeApplicationShutdown,
  Inject,
  Injectable,
  Logger,
  OnApplicationBootstrap,
} from '@nestjs/common';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Server } from 'socket.io';
import { AppConfig } from '../config/app-config';
import { errorMessage } from '../common/with-timeout';
import { InstanceInfo } from '../lifecycle/instance-info';
import { MetricsContributor, MetricsSnapshotContributor } from '../metrics/metrics-contributor';
import type { MetricsSnapshot } from '../metrics/metrics-snapshot';
import { METRICS_REGISTRY } from '../metrics/metrics.registry';
import { DELIVERY_BUCKETS } from '../realtime/realtime.metric-names';
import { SocketAdapterState } from '../realtime/socket-adapter-state';
import { RedisService } from '../redis/redis.service';
import { ClusterService, InstanceHeartbeat } from './cluster.service';
import {
  CLUSTER_METRIC,
  CLUSTER_PROBE_EVENT,
  DELIVERY_CRITICAL_INTERVALS,
  DELIVERY_WARNING_INTERVALS,
  deliveryCheckIntervalMs,
} from './cluster.metric-names';

/** What one probe carries: who sent it, when (epoch ms, the sender's clock) and its sequence number. */
export interface ClusterProbe {
  from: string;
  sentAt: number;
  seq: number;
}

/** A live peer as this instance knows it. Local times are this process's monotonic ms. */
interface PeerState {
  firstSeenAt: number;
  /** The peer's heartbeat time (its own clock) when first seen, and its latest. */
  firstBeatAt: number;
  lastBeatAt: number;
}

interface LastProbe {
  receivedAt: number;
  /** The peer's clock. */
  sentAt: number;
}

export interface PeerDelivery {
  instanceId: string;
  /** ms since its last probe arrived here (since it was first seen, before any). */
  ageMs: number;
  /** Its probes are late while its heartbeat shows it kept running past the missed probe's due time. */
  silent: boolean;
}

/**
 * Cross-replica delivery probes: proof that the path the Socket.IO Redis adapter carries broadcasts on works,
 * which a Redis PING on another connection cannot give (a subscriber connection can be dead or stuck while
 * PING answers).
 *
 * Every CLUSTER_PROBE_INTERVAL_MS this instance sends `{from, sentAt, seq}` with `serverSideEmit`, which
 * travels on the adapter's own publisher and subscriber connections, and records each peer's probes it
 * receives. Peers are the live instances of the cluster heartbeat (ClusterService).
 *
 * A peer is *silent* when no probe from it has arrived for two intervals AND its heartbeat shows it was still
 * running after its next probe was due: the heartbeat's timestamp (the peer's clock) is later than the last
 * probe's send time (the same clock) plus one interval and a quarter. Comparing the peer's two timestamps with
 * each other, never with ours, keeps clock skew out of the decision; it also keeps a peer that simply died
 * (heartbeat and probes stop together) from reading as silent while its heartbeat key has not expired yet.
 */
@Injectable()
@MetricsContributor()
export class ClusterProbes
  implements OnApplicationBootstrap, BeforeApplicationShutdown, MetricsSnapshotContributor
{
  private readonly logger = new Logger(ClusterProbes.name);
  readonly intervalMs: number;
  private readonly peers = new Map<string, PeerState>();
  private readonly lastProbes = new Map<string, LastProbe>();
  private readonly lag: Histogram;
  private readonly received: Counter;
  private timer: NodeJS.Timeout | null = null;
  private server: Server | null = null;
  private seq = 0;
  private refreshing: Promise<void> | null = null;

  constructor(
    config: AppConfig,
    private readonly redis: RedisService,
    private readonly instance: InstanceInfo,
    private readonly adapterState: SocketAdapterState,
    private readonly cluster: ClusterService,
    @Inject(METRICS_REGISTRY) registry: Registry,
  ) {
    this.intervalMs = config.clusterProbeIntervalMs;
    const registers = [registry];
    const delivery = () => this.delivery();
    const silenceMs = () => this.silenceMs();
    new Gauge({
      name: CLUSTER_METRIC.probeAge,
      help: "Seconds since the last delivery probe from each live peer arrived (since the peer was first seen, before its first probe); a peer's series goes when it leaves the cluster",
      labelNames: ['peer'],
      registers,
      collect() {
        // Rebuilt at each scrape from the live peers, so a departed peer's series disappears.
        this.reset();
        for (const p of delivery()) this.labels(p.instanceId).set(p.ageMs / 1000);
      },
    });
    new Gauge({
      name: CLUSTER_METRIC.deliverySilence,
      help: 'Seconds the longest-silent live peer has sent no probe that arrived here while its heartbeat continued (0 when none is silent): the value cluster.delivery alerts on',
      registers,
      collect() {
        this.set(silenceMs() / 1000);
      },
    });
    this.lag = new Histogram({
      name: CLUSTER_METRIC.probeLag,
      help: "Delivery probe lag through the Socket.IO adapter: arrival time minus the sender's send time, in seconds (two clocks: skew adds to it, negative differences count as 0)",
      buckets: DELIVERY_BUCKETS,
      registers,
    });
    this.received = new Counter({
      name: CLUSTER_METRIC.probesReceived,
      help: 'Delivery probes received from other instances through the Socket.IO adapter',
      registers,
    });
  }

  /** Probes need the Redis adapter: without REDIS_URL there is nobody to probe. */
  get enabled(): boolean {
    return this.redis.isConfigured;
  }

  /** How often the cluster.delivery monitor looks. */
  get checkIntervalMs(): number {
    return deliveryCheckIntervalMs(this.intervalMs);
  }

  get warningMs(): number {
    return this.intervalMs * DELIVERY_WARNING_INTERVALS;
  }

  get criticalMs(): number {
    return this.intervalMs * DELIVERY_CRITICAL_INTERVALS;
  }

  onApplicationBootstrap(): void {
    if (!this.enabled) return;
    this.adapterState.whenServer((server) => {
      if (!this.adapterState.redisEnabled) return;
      this.server = server;
      server.of('/').on(CLUSTER_PROBE_EVENT, (probe: unknown) => this.receive(probe));
      this.tick();
      this.timer = setInterval(() => this.tick(), this.intervalMs);
      this.timer.unref();
    });
  }

  beforeApplicationShutdown(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /** Records one probe that arrived through the adapter. Anything malformed is ignored. */
  receive(probe: unknown): void {
    if (!isProbe(probe) || probe.from === this.instance.id) return;
    this.received.inc();
    this.lag.observe(Math.max(0, Date.now() - probe.sentAt) / 1000);
    this.lastProbes.set(probe.from, { receivedAt: performance.now(), sentAt: probe.sentAt });
  }

  /** Reads the live peers from the heartbeats; rejects when Redis cannot be read (peers are then kept as they were). */
  refreshPeers(): Promise<void> {
    // One read at a time: the probe timer and the monitor may ask together.
    this.refreshing ??= this.readPeers().finally(() => (this.refreshing = null));
    return this.refreshing;
  }

  /** Every live peer's probe age and whether it is silent. */
  delivery(): PeerDelivery[] {
    const now = performance.now();
    const out: PeerDelivery[] = [];
    for (const [instanceId, peer] of this.peers) {
      const last = this.lastProbes.get(instanceId);
      const ageMs = now - (last?.receivedAt ?? peer.firstSeenAt);
      const probeDueBy = (last?.sentAt ?? peer.firstBeatAt) + this.intervalMs * 1.25;
      const silent = ageMs >= this.warningMs && peer.lastBeatAt > probeDueBy;
      out.push({ instanceId, ageMs: Math.round(ageMs), silent });
    }
    return out.sort((a, b) => a.instanceId.localeCompare(b.instanceId));
  }

  /** The longest silence among silent peers, ms (0 when none is silent). */
  silenceMs(): number {
    return this.delivery().reduce((max, p) => (p.silent && p.ageMs > max ? p.ageMs : max), 0);
  }

  contribute(snapshot: MetricsSnapshot): void {
    if (!this.enabled) return;
    snapshot.probes = { intervalMs: this.intervalMs, peers: this.delivery() };
  }

  private tick(): void {
    const server = this.server;
    if (server === null) return;
    const probe: ClusterProbe = { from: this.instance.id, sentAt: Date.now(), seq: ++this.seq };
    try {
      // No ack: an acked serverSideEmit waits for every replica; a probe only needs to be published.
      server.of('/').serverSideEmit(CLUSTER_PROBE_EVENT, probe);
    } catch (err) {
      this.logger.debug({ message: 'Cluster probe not sent', error: errorMessage(err) });
    }
    this.refreshPeers().catch((err: unknown) =>
      this.logger.debug({ message: 'Cluster peers not read', error: errorMessage(err) }),
    );
  }

  private async readPeers(): Promise<void> {
    const live: InstanceHeartbeat[] = await this.cluster.peers();
    const now = performance.now();
    const ids = new Set<string>();
    for (const beat of live) {
      ids.add(beat.instanceId);
      const at = typeof beat.at === 'number' ? beat.at : 0;
      const peer = this.peers.get(beat.instanceId);
      if (peer === undefined)
        this.peers.set(beat.instanceId, { firstSeenAt: now, firstBeatAt: at, lastBeatAt: at });
      else peer.lastBeatAt = Math.max(peer.lastBeatAt, at);
    }
    for (const id of this.peers.keys()) if (!ids.has(id)) this.peers.delete(id);
    // Probes from instances outside the view (one that left, or another service on the same adapter channel)
    // are forgotten once they are older than any view could lag behind.
    for (const [id, last] of this.lastProbes) {
      if (!ids.has(id) && now - last.receivedAt > this.criticalMs) this.lastProbes.delete(id);
    }
  }
}

function isProbe(v: unknown): v is ClusterProbe {
  if (typeof v !== 'object' || v === null) return false;
  const p = v as Partial<ClusterProbe>;
  return typeof p.from === 'string' && p.from.length <= 200 && Number.isFinite(p.sentAt);
}
