import { Injectable } from '@nestjs/common';
import { createSecretKey, KeyObject } from 'node:crypto';
import type { TrustProxy } from '../common/client-address';
import { Env, parseEnv } from './env.schema';

/** An alert threshold pair, in the unit of its reading. */
export interface Threshold {
  warning: number;
  critical: number;
}

/** The HTTP server's limits. Durations in ms. */
export interface HttpConfig {
  /** How far X-Forwarded-For is trusted (Express `trust proxy` and the socket caps use the same rule). */
  trustProxy: TrustProxy;
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  keepAliveTimeoutMs: number;
  idleTimeoutMs: number;
  /** A request slower than this is logged as slow. */
  slowRequestMs: number;
}

/** The Socket.IO server and its admission limits. Durations in ms, sizes in bytes. */
export interface WsConfig {
  transports: string[];
  maxConnections: number;
  maxConnectionsPerAddress: number;
  maxConnectionsPerUser: number;
  slowEventMs: number;
  maxPayloadBytes: number;
  maxPendingBytes: number;
  /** Sustained client events per second per socket, and the burst above it. */
  rateLimitPerSecond: number;
  rateBurst: number;
  pingIntervalMs: number;
  pingTimeoutMs: number;
  connectTimeoutMs: number;
  /** How long engine.io itself allows between a ping and its pong: pingInterval + pingTimeout. */
  heartbeatAllowanceMs: number;
  /** How often each socket's unsent output is sampled into ws_output_backlog_*. */
  backlogSampleMs: number;
}

/** Alert schedules and thresholds. Durations in ms; thresholds in their readings' units (%, ms, count). */
export interface AlertsConfig {
  /** A firing alert is notified again this often. */
  repeatMs: number;
  evalIntervalMs: number;
  redisIntervalMs: number;
  memoryIntervalMs: number;
  notifyTimeoutMs: number;
  cpu: Threshold;
  memory: Threshold;
  heap: Threshold;
  errorRate: Threshold;
  responseTime: Threshold;
  redisLatency: Threshold;
  connections: Threshold;
  eventLoopDelay: Threshold;
}

/** Metric and alert history. */
/** Stream positions and resume (src/streams). */
export interface StreamsConfig {
  /** Publications kept per stream for resume. */
  historySize: number;
  /** How long a stream's publications are kept after its last publication, in ms. */
  historyTtlMs: number;
  /** How long POST /events remembers an Idempotency-Key, in ms. */
  idempotencyTtlMs: number;
}

export interface HistoryConfig {
  snapshotIntervalMs: number;
  metricsRetentionDays: number;
  alertRetentionDays: number;
  /** The same retentions as MongoDB TTL index values (seconds). */
  metricsRetentionSeconds: number;
  alertRetentionSeconds: number;
}

const DAY_SECONDS = 86_400;

function threshold(warning: number, critical: number): Threshold {
  return { warning, critical };
}

/**
 * The validated, typed configuration. Built once from the process environment when the app is created;
 * tests build their own with AppConfig.from({...}) and override the provider.
 */
@Injectable()
export class AppConfig {
  readonly http: HttpConfig;
  readonly ws: WsConfig;
  readonly alerts: AlertsConfig;
  readonly history: HistoryConfig;
  readonly streams: StreamsConfig;
  /** One budget for every dependency check (health endpoints, samplers, monitors, history reads), in ms. */
  readonly healthCheckTimeoutMs: number;
  /** Cluster heartbeat and per-user cap refresh period, in ms. */
  readonly clusterHeartbeatMs: number;
  /** How often each replica sends a delivery probe through the Socket.IO adapter, in ms. */
  readonly clusterProbeIntervalMs: number;

  /** Sections are derived once here, units converted, so a use site reads `config.alerts.repeatMs`. */
  constructor(readonly env: Env) {
    this.http = {
      trustProxy: env.TRUST_PROXY,
      headersTimeoutMs: env.HTTP_HEADERS_TIMEOUT_MS,
      requestTimeoutMs: env.HTTP_REQUEST_TIMEOUT_MS,
      keepAliveTimeoutMs: env.HTTP_KEEP_ALIVE_TIMEOUT_MS,
      idleTimeoutMs: env.HTTP_IDLE_TIMEOUT_MS,
      slowRequestMs: env.HTTP_SLOW_REQUEST_MS,
    };
    this.ws = {
      transports: env.WS_TRANSPORTS,
      maxConnections: env.WS_MAX_CONNECTIONS,
      maxConnectionsPerAddress: env.WS_MAX_CONNECTIONS_PER_ADDRESS,
      maxConnectionsPerUser: env.WS_MAX_CONNECTIONS_PER_USER,
      slowEventMs: env.WS_SLOW_EVENT_MS,
      maxPayloadBytes: env.WS_MAX_PAYLOAD_BYTES,
      maxPendingBytes: env.WS_MAX_PENDING_BYTES,
      rateLimitPerSecond: env.WS_RATE_LIMIT,
      rateBurst: env.WS_RATE_BURST,
      pingIntervalMs: env.WS_PING_INTERVAL_MS,
      pingTimeoutMs: env.WS_PING_TIMEOUT_MS,
      connectTimeoutMs: env.WS_CONNECT_TIMEOUT_MS,
      heartbeatAllowanceMs: env.WS_PING_INTERVAL_MS + env.WS_PING_TIMEOUT_MS,
      backlogSampleMs: env.WS_BACKLOG_SAMPLE_MS,
    };
    this.history = {
      snapshotIntervalMs: env.METRICS_SNAPSHOT_INTERVAL_MS,
      metricsRetentionDays: env.METRICS_RETENTION_DAYS,
      alertRetentionDays: env.ALERT_RETENTION_DAYS,
      metricsRetentionSeconds: env.METRICS_RETENTION_DAYS * DAY_SECONDS,
      alertRetentionSeconds: env.ALERT_RETENTION_DAYS * DAY_SECONDS,
    };
    this.streams = {
      historySize: env.STREAM_HISTORY_SIZE,
      historyTtlMs: env.STREAM_HISTORY_TTL_MS,
      idempotencyTtlMs: env.PUBLISH_IDEMPOTENCY_TTL_MS,
    };
    this.healthCheckTimeoutMs = env.HEALTH_CHECK_TIMEOUT_MS;
    this.clusterHeartbeatMs = env.CLUSTER_HEARTBEAT_MS;
    this.clusterProbeIntervalMs = env.CLUSTER_PROBE_INTERVAL_MS;
    this.alerts = {
      repeatMs: env.ALERT_REPEAT_MINUTES * 60_000,
      evalIntervalMs: env.ALERT_EVAL_INTERVAL_MS,
      redisIntervalMs: env.ALERT_REDIS_INTERVAL_MS,
      memoryIntervalMs: env.ALERT_MEMORY_INTERVAL_MS,
      notifyTimeoutMs: env.ALERT_NOTIFY_TIMEOUT_MS,
      cpu: threshold(env.ALERT_CPU_WARNING, env.ALERT_CPU_CRITICAL),
      memory: threshold(env.ALERT_MEMORY_WARNING, env.ALERT_MEMORY_CRITICAL),
      heap: threshold(env.ALERT_HEAP_WARNING, env.ALERT_HEAP_CRITICAL),
      errorRate: threshold(env.ALERT_ERROR_RATE_WARNING, env.ALERT_ERROR_RATE_CRITICAL),
      responseTime: threshold(env.ALERT_RESPONSE_TIME_WARNING, env.ALERT_RESPONSE_TIME_CRITICAL),
      redisLatency: threshold(env.ALERT_REDIS_LATENCY_WARNING, env.ALERT_REDIS_LATENCY_CRITICAL),
      connections: threshold(env.ALERT_CONNECTIONS_WARNING, env.ALERT_CONNECTIONS_CRITICAL),
      eventLoopDelay: threshold(env.ALERT_EVENT_LOOP_DELAY_WARNING, env.ALERT_EVENT_LOOP_DELAY_CRITICAL),
    };
  }

  static from(source: Record<string, string | undefined>): AppConfig {
    return new AppConfig(parseEnv(source));
  }

  get isProduction(): boolean {
    return this.env.NODE_ENV === 'production';
  }

  /** True when JWT_SECRET was not given and the fixed development secret is in use. */
  get usingDevelopmentJwtSecret(): boolean {
    return this.env.JWT_SECRET === undefined;
  }

  get jwtSecret(): string {
    return this.env.JWT_SECRET ?? DEVELOPMENT_JWT_SECRET;
  }

  /** The HS256 key, built once (verifying with a KeyObject is ~35× faster than with the string). */
  get jwtKey(): KeyObject {
    this.key ??= createSecretKey(Buffer.from(this.jwtSecret, 'utf8'));
    return this.key;
  }

  /** What a client access token must satisfy besides its HS256 signature; built once, read on every handshake. */
  get jwt(): JwtPolicy {
    this.policy ??= {
      key: this.jwtKey,
      maxAgeSeconds: this.env.JWT_MAX_TOKEN_AGE,
      audience: this.env.JWT_AUDIENCE,
      issuer: this.env.JWT_ISSUER,
    };
    return this.policy;
  }

  private key: KeyObject | undefined;
  private policy: JwtPolicy | undefined;
}

export interface JwtPolicy {
  key: KeyObject;
  /** Longest accepted lifetime, in seconds: `exp - iat`, or `exp - now` for a token without `iat`. */
  maxAgeSeconds: number;
  /** When set, `aud` must be this value or a list containing it. */
  audience: string | undefined;
  /** When set, `iss` must be exactly this value. */
  issuer: string | undefined;
}

/** Used only outside production when JWT_SECRET is unset; the schema refuses to start production without one. */
export const DEVELOPMENT_JWT_SECRET = 'development-only-secret-do-not-use-in-production';
