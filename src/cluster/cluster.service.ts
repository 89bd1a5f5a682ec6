import { BeforeApplicationShutdown, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { errorMessage, withTimeout } from '../common/with-timeout';
import { InstanceInfo } from '../lifecycle/instance-info';
import { ConnectionCounts } from '../realtime/connection-counts';
import { ClusterPeers } from '../realtime/cluster-peers';
import { RedisService } from '../redis/redis.service';

/**
 * The set of instance ids, and one key per instance holding its heartbeat (expires after three missed beats),
 * both under SERVICE_NAME so two services or environments sharing one Redis never see each other's replicas.
 */
export const clusterMembersKey = (service: string): string => `${service}:cluster:instances`;
export const clusterInstanceKeyPrefix = (service: string): string => `${service}:cluster:instance:`;
const HEARTBEATS_PER_TTL = 3;
const REDIS_TIMEOUT_MS = 2000;

export interface InstanceHeartbeat {
  instanceId: string;
  hostname: string;
  version: string;
  connections: number;
  uniqueUsers: number;
  uptime: number;
  startedAt: string;
  /** When the instance wrote this heartbeat, epoch ms by its own clock (compared only with its own probes). */
  at: number;
}

export interface ClusterView {
  instances: InstanceHeartbeat[];
  instanceCount: number;
  totalConnections: number;
  /** Sum over instances: a user connected to two replicas counts on each. */
  uniqueUsers: number;
  /** True when Redis is configured but could not be read: the list holds this instance only. */
  degraded?: true;
  timestamp: string;
}

/**
 * Every CLUSTER_HEARTBEAT_MS each instance writes what it is serving to Redis with a TTL of three heartbeats,
 * so an instance that dies drops out of the view on its own. A failed heartbeat is logged at debug level and
 * retried on the next tick (Redis outages are logged once by the Redis client); it never throws.
 */
@Injectable()
export class ClusterService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(ClusterService.name);
  private timer: NodeJS.Timeout | null = null;
  private inFlight = false;
  private readonly intervalMs: number;
  private readonly key: string;
  private readonly membersKey: string;
  private readonly instanceKeyPrefix: string;

  constructor(
    config: AppConfig,
    private readonly redis: RedisService,
    private readonly instance: InstanceInfo,
    private readonly connections: ConnectionCounts,
    private readonly livePeers: ClusterPeers,
  ) {
    this.intervalMs = config.clusterHeartbeatMs;
    this.membersKey = clusterMembersKey(config.env.SERVICE_NAME);
    this.instanceKeyPrefix = clusterInstanceKeyPrefix(config.env.SERVICE_NAME);
    this.key = this.instanceKeyPrefix + instance.id;
  }

  onApplicationBootstrap(): void {
    if (!this.redis.isConfigured) return;
    void this.heartbeat();
    this.timer = setInterval(() => void this.heartbeat(), this.intervalMs);
    this.timer.unref();
  }

  async beforeApplicationShutdown(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    const client = this.redis.client;
    if (client === null || client.status !== 'ready') return;
    // Leave the view at once rather than after the TTL; best effort.
    try {
      await withTimeout(
        client.multi().del(this.key).srem(this.membersKey, this.instance.id).exec(),
        1000,
        'timed out',
      );
    } catch (err) {
      this.logger.debug({ message: 'Cluster deregistration failed', error: errorMessage(err) });
    }
  }

  /** This instance's heartbeat, from live figures. */
  self(): InstanceHeartbeat {
    return {
      instanceId: this.instance.id,
      hostname: this.instance.hostname,
      version: this.instance.version,
      connections: this.connections.totalConnections,
      uniqueUsers: this.connections.uniqueUsers,
      uptime: Math.round(process.uptime()),
      startedAt: this.instance.startedAt.toISOString(),
      at: Date.now(),
    };
  }

  async heartbeat(): Promise<void> {
    const client = this.redis.client;
    if (client === null || this.inFlight) return;
    this.inFlight = true;
    try {
      await withTimeout(
        client
          .multi()
          .set(this.key, JSON.stringify(this.self()), 'PX', this.intervalMs * HEARTBEATS_PER_TTL)
          .sadd(this.membersKey, this.instance.id)
          .exec(),
        REDIS_TIMEOUT_MS,
        `Redis did not answer within ${REDIS_TIMEOUT_MS}ms`,
      );
      // The publisher judges Redis's subscriber count for a publication against the replicas alive now.
      const live = await this.readOthers();
      this.livePeers.liveReplicas = Math.max(
        1,
        live.filter((i) => i.instanceId !== this.instance.id).length + 1,
      );
    } catch (err) {
      this.logger.debug({ message: 'Cluster heartbeat failed', error: errorMessage(err) });
    } finally {
      this.inFlight = false;
    }
  }

  /** Every live instance; this one from live figures. Without Redis (or while it is down) this one alone. */
  async view(): Promise<ClusterView> {
    const me = this.self();
    let instances: InstanceHeartbeat[] = [me];
    let degraded = false;
    if (this.redis.client !== null) {
      try {
        instances = [me, ...(await this.readOthers()).filter((i) => i.instanceId !== me.instanceId)];
      } catch (err) {
        degraded = true;
        this.logger.debug({ message: 'Cluster view read failed', error: errorMessage(err) });
      }
    }
    instances.sort((a, b) => a.instanceId.localeCompare(b.instanceId));
    return {
      instances,
      instanceCount: instances.length,
      totalConnections: instances.reduce((n, i) => n + i.connections, 0),
      uniqueUsers: instances.reduce((n, i) => n + i.uniqueUsers, 0),
      ...(degraded ? { degraded: true as const } : {}),
      timestamp: new Date().toISOString(),
    };
  }

  /** The other live instances, from their heartbeats; rejects when Redis cannot be read (never without Redis). */
  async peers(): Promise<InstanceHeartbeat[]> {
    return (await this.readOthers()).filter((i) => i.instanceId !== this.instance.id);
  }

  private async readOthers(): Promise<InstanceHeartbeat[]> {
    const client = this.redis.client;
    if (client === null) return [];
    const read = async () => {
      const ids = await client.smembers(this.membersKey);
      if (ids.length === 0) return [];
      const values = await client.mget(ids.map((id) => this.instanceKeyPrefix + id));
      const live: InstanceHeartbeat[] = [];
      const gone: string[] = [];
      values.forEach((v, i) => {
        const parsed = v === null ? null : parseHeartbeat(v);
        if (parsed === null) gone.push(ids[i]);
        else live.push(parsed);
      });
      // Members whose heartbeat expired are dead instances: forget them (best effort).
      if (gone.length > 0) client.srem(this.membersKey, ...gone).catch(() => undefined);
      return live;
    };
    return withTimeout(read(), REDIS_TIMEOUT_MS, `Redis did not answer within ${REDIS_TIMEOUT_MS}ms`);
  }
}

function parseHeartbeat(json: string): InstanceHeartbeat | null {
  try {
    const v = JSON.parse(json) as Partial<InstanceHeartbeat>;
    return typeof v.instanceId === 'string' && typeof v.connections === 'number'
      ? (v as InstanceHeartbeat)
      : null;
  } catch {
    return null;
  }
}
