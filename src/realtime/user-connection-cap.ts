import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import type { Socket } from 'socket.io';
import { AppConfig } from '../config/app-config';
import { errorMessage, withTimeout } from '../common/with-timeout';
import { InstanceInfo } from '../lifecycle/instance-info';
import { RedisService } from '../redis/redis.service';

/** One user's sockets on every replica: a sorted set of `instanceId:socketId` scored by last refresh (ms). */
export const userSocketsKey = (service: string, userId: string): string =>
  `${service}:ws:user-sockets:${userId}`;

/** A member not refreshed for this many refresh periods belongs to a replica that died: it no longer counts. */
export const REFRESHES_PER_STALE = 3;
/** A handshake waits at most this long on Redis for the cluster-wide check, then goes ahead (fail open). */
export const ADMIT_TIMEOUT_MS = 500;
const REFRESH_TIMEOUT_MS = 2000;

/**
 * Prunes the members nobody refreshed within the staleness window, then adds the new one unless the user is at
 * the limit, in one atomic step (two replicas admitting the same user at once cannot both take the last slot).
 * KEYS[1] the user's set; ARGV member, limit, now, stale-before, key TTL (all ms).
 */
const ADMIT_SCRIPT = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[4])
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  return 0
end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 1
`;

interface Admitted {
  key: string;
  member: string;
}

/**
 * WS_MAX_CONNECTIONS_PER_USER across every replica, when REDIS_URL is set (the gateway's own registry still
 * enforces it per instance first, with or without Redis).
 *
 * Each admitted socket is a member of its user's sorted set. Every CLUSTER_HEARTBEAT_MS this instance re-scores
 * all of its members in one pipeline (re-adding any that Redis lost, e.g. after a restart); a disconnect removes
 * the member at once. A replica that dies stops refreshing, so its members stop counting after
 * REFRESHES_PER_STALE periods (15 s by default) and the key itself expires then: a crash never locks a user out
 * for longer. Replica clocks are assumed to agree within a second or so (NTP), far inside that window.
 *
 * Fails open: while Redis is not connected, does not answer within ADMIT_TIMEOUT_MS or errs, the handshake goes
 * ahead under the per-instance check alone. That is logged once per outage (warn), and its end once (info).
 */
@Injectable()
export class UserConnectionCap implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(UserConnectionCap.name);
  private readonly admitted = new Map<string, Admitted>();
  private readonly max: number;
  private readonly refreshMs: number;
  private readonly staleMs: number;
  private readonly service: string;
  private timer: NodeJS.Timeout | null = null;
  private refreshing = false;
  private failingSince: number | null = null;

  constructor(
    config: AppConfig,
    private readonly redis: RedisService,
    private readonly instance: InstanceInfo,
  ) {
    this.max = config.ws.maxConnectionsPerUser;
    this.refreshMs = config.clusterHeartbeatMs;
    this.staleMs = this.refreshMs * REFRESHES_PER_STALE;
    this.service = config.env.SERVICE_NAME;
  }

  onApplicationBootstrap(): void {
    if (!this.redis.isConfigured) return;
    this.timer = setInterval(() => void this.refresh(), this.refreshMs);
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /**
   * Resolves false when the user already holds the limit on the replicas together; true otherwise, including
   * whenever Redis cannot say (fail open). Never rejects. An admitted socket is released when it disconnects,
   * or when its connection closes before Socket.IO finished connecting it.
   */
  async admit(userId: string, socket: Socket): Promise<boolean> {
    const client = this.redis.client;
    if (client === null) return true;
    const entry: Admitted = {
      key: userSocketsKey(this.service, userId),
      member: `${this.instance.id}:${socket.id}`,
    };
    let gone = false;
    const onGone = () => {
      gone = true;
      this.release(socket.id);
    };
    socket.once('disconnect', onGone);
    socket.conn.once('close', onGone);

    let verdict = true;
    if (client.status !== 'ready') {
      this.failOpen(`Redis not connected (status: ${client.status})`);
    } else {
      try {
        const now = Date.now();
        const answer = await withTimeout(
          client.eval(
            ADMIT_SCRIPT,
            1,
            entry.key,
            entry.member,
            this.max,
            now,
            now - this.staleMs,
            this.staleMs,
          ),
          ADMIT_TIMEOUT_MS,
          `Redis did not answer within ${ADMIT_TIMEOUT_MS}ms`,
        );
        verdict = answer === 1;
        this.recovered();
      } catch (err) {
        this.failOpen(errorMessage(err));
      }
    }
    if (!verdict) {
      // A refused client may keep its connection and try again on it: leave nothing behind per attempt.
      socket.off('disconnect', onGone);
      socket.conn.off('close', onGone);
      return false;
    }
    // Tracked even when Redis could not be asked: the next refresh registers it once Redis answers again.
    this.admitted.set(socket.id, entry);
    if (gone) this.release(socket.id);
    return true;
  }

  /** Re-scores every socket this instance holds, in one pipeline; never throws, never runs twice at once. */
  async refresh(): Promise<void> {
    const client = this.redis.client;
    if (client === null || this.refreshing || this.admitted.size === 0 || client.status !== 'ready') return;
    this.refreshing = true;
    try {
      const now = Date.now();
      const byKey = new Map<string, Array<string | number>>();
      for (const { key, member } of this.admitted.values()) {
        let args = byKey.get(key);
        if (args === undefined) byKey.set(key, (args = []));
        args.push(now, member);
      }
      const pipeline = client.pipeline();
      for (const [key, args] of byKey) pipeline.zadd(key, ...args).pexpire(key, this.staleMs);
      const results = await withTimeout(
        pipeline.exec(),
        REFRESH_TIMEOUT_MS,
        `Redis did not answer within ${REFRESH_TIMEOUT_MS}ms`,
      );
      const failed = results?.find(([err]) => err !== null)?.[0];
      if (failed) throw failed;
      this.recovered();
    } catch (err) {
      this.failOpen(errorMessage(err));
    } finally {
      this.refreshing = false;
    }
  }

  /** Sockets of this instance that count towards their users' cluster-wide totals. */
  get size(): number {
    return this.admitted.size;
  }

  private release(socketId: string): void {
    const entry = this.admitted.get(socketId);
    if (entry === undefined) return;
    this.admitted.delete(socketId);
    const client = this.redis.client;
    if (client === null || client.status !== 'ready') return; // it goes stale on its own
    client.zrem(entry.key, entry.member).catch((err: unknown) => {
      this.logger.debug({ message: 'Per-user cap release failed', error: errorMessage(err) });
    });
  }

  private failOpen(reason: string): void {
    if (this.failingSince !== null) return;
    this.failingSince = Date.now();
    this.logger.warn({
      message:
        'WS_MAX_CONNECTIONS_PER_USER is enforced per instance only: Redis unavailable for the cluster-wide count',
      reason,
    });
  }

  private recovered(): void {
    if (this.failingSince === null) return;
    this.logger.log({
      message: 'WS_MAX_CONNECTIONS_PER_USER is enforced cluster-wide again',
      outageMs: Date.now() - this.failingSince,
    });
    this.failingSince = null;
  }
}
