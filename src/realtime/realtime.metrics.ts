import { Injectable } from '@nestjs/common';
import { Counter, Gauge, Histogram } from 'prom-client';
import { boundLabel } from '../metrics/metric-names';
import { MetricsContributor, MetricsSnapshotContributor } from '../metrics/metrics-contributor';
import { MetricsSnapshot, round } from '../metrics/metrics-snapshot';
import { MetricsService } from '../metrics/metrics.service';
import { HotCounter, HotCounterSeries, HotHistogram, HotHistogramSeries } from '../metrics/hot-metrics';
import { SlidingWindow } from '../metrics/sliding-window';
import { ConnectionCounts } from './connection-counts';
import { SERVER_EVENTS } from './realtime.events';
import { DisconnectCounter } from './disconnect-reasons';
import {
  DELIVERY_BUCKETS,
  REALTIME_METRIC,
  SUBSCRIPTION_ACTIONS,
  WS_DURATION_BUCKETS,
  WS_ERROR_CODES,
  WS_EVENT_LABELS,
  WS_OUTCOME_OK,
  WS_REFUSAL_REASONS,
} from './realtime.metric-names';
import { SocketAdapterState } from './socket-adapter-state';
import { WsTrafficMetrics } from './ws-traffic.metrics';

/** How many of the disconnect and refusal reasons the JSON /metrics lists (the largest counts since start). */
const TOP_REASONS = 5;

/** The 503 body of JSON /metrics until the gateway is up. */
export const GATEWAY_NOT_READY = 'WebSocket server not initialized';

/** 'ok', or the error code the client was answered with. (`string & {}` keeps 'ok' visible to editors.) */
export type WsOutcome = 'ok' | (string & Record<never, never>);

interface WsEventSeries {
  received: HotCounterSeries;
  duration: HotHistogramSeries;
}

/**
 * The realtime feature's instruments (ws_*, subscriptions, published events; ws_disconnects_total is
 * DisconnectCounter's) and its part of JSON /metrics: the `websocket` and `business` sections. Connection
 * figures are read from the connection registry at each scrape or snapshot, so they can never drift from it.
 */
@Injectable()
@MetricsContributor()
export class RealtimeMetrics implements MetricsSnapshotContributor {
  private readonly wsEventsReceived: HotCounter;
  private readonly wsEventsSent: Counter<'event'>;
  private readonly wsEventErrors: Counter<'event' | 'code'>;
  private readonly wsEventDuration: HotHistogram;
  private readonly wsConnectionsRefused: Counter<'reason'>;
  private readonly subscriptionEvents: HotCounter;
  private readonly tradesPublished: Counter<string>;
  private readonly portfolioUpdatesPublished: Counter<string>;
  private readonly publishToEmit: HotHistogram;
  private readonly pubsubLag: Histogram;
  private readonly pubsubLagNegative: Counter;
  private readonly publishToEmitWindow: SlidingWindow;
  private readonly pubsubLagWindow: SlidingWindow;
  private readonly publishToEmitSeries = new Map<string, HotHistogramSeries>();
  private readonly refusals = new Map<string, number>();
  /** Children cached per event: label lookup hashes strings, and recordWsEvent is on the hot path. */
  private readonly wsSeries = new Map<string, WsEventSeries>();
  private readonly wsSentSeries = new Map<string, Counter.Internal>();
  private readonly wsWindow: SlidingWindow;
  private subscriptionCount = 0;
  private tradeCount = 0;
  private gatewayUp = false;

  constructor(
    private readonly metrics: MetricsService,
    private readonly connections: ConnectionCounts,
    private readonly adapterState: SocketAdapterState,
    private readonly traffic: WsTrafficMetrics,
    private readonly disconnects: DisconnectCounter,
  ) {
    const registry = metrics.registry;
    const registers = [registry];
    new Gauge({
      name: REALTIME_METRIC.wsConnections,
      help: 'Open Socket.IO connections on this instance',
      registers,
      collect() {
        this.set(connections.totalConnections);
      },
    });
    new Gauge({
      name: REALTIME_METRIC.wsUniqueUsers,
      help: 'Distinct users with at least one open connection on this instance',
      registers,
      collect() {
        this.set(connections.uniqueUsers);
      },
    });
    this.wsEventsReceived = new HotCounter(
      REALTIME_METRIC.wsEventsReceived,
      'Client to server events handled, by event name (unknown names share one label)',
      'event',
      registry,
    );
    this.wsEventsSent = new Counter({
      name: REALTIME_METRIC.wsEventsSent,
      help: 'Server to client event deliveries, by event name',
      labelNames: ['event'],
      registers,
    });
    this.wsEventErrors = new Counter({
      name: REALTIME_METRIC.wsEventErrors,
      help: 'Client to server events answered with an error, by event name and error code',
      labelNames: ['event', 'code'],
      registers,
    });
    this.wsEventDuration = new HotHistogram(
      REALTIME_METRIC.wsEventDuration,
      'Time spent handling a client to server event, in seconds',
      'event',
      WS_DURATION_BUCKETS,
      registry,
    );
    this.wsConnectionsRefused = new Counter({
      name: REALTIME_METRIC.wsConnectionsRefused,
      help: 'New WebSocket connections refused, by reason (capacity, address_limit, origin, unauthorized, too_many_connections, shutting_down)',
      labelNames: ['reason'],
      registers,
    });
    this.subscriptionEvents = new HotCounter(
      REALTIME_METRIC.subscriptionEvents,
      'Portfolio subscription changes, by action',
      'action',
      registry,
    );
    this.tradesPublished = new Counter({
      name: REALTIME_METRIC.tradesPublished,
      help: 'trade:executed events published',
      registers,
    });
    this.portfolioUpdatesPublished = new Counter({
      name: REALTIME_METRIC.portfolioUpdatesPublished,
      help: 'portfolio:update events published',
      registers,
    });

    this.publishToEmit = new HotHistogram(
      REALTIME_METRIC.wsPublishToEmit,
      'Time from a publication entering this instance (POST /events received, or read from the adapter on a replica that did not originate it) to its hand-off to the local sockets, in seconds, by event',
      'event',
      DELIVERY_BUCKETS,
      registry,
    );
    this.pubsubLag = new Histogram({
      name: REALTIME_METRIC.wsPubsubLag,
      help: "Cross-replica pub/sub lag: receive time minus the origin replica's send time, in seconds. Compares two clocks: skew adds to it, and a negative difference is recorded as 0 (see ws_pubsub_lag_negative_total)",
      buckets: DELIVERY_BUCKETS,
      registers,
    });
    this.pubsubLagNegative = new Counter({
      name: REALTIME_METRIC.wsPubsubLagNegative,
      help: "Cross-replica publications received before their origin time by this instance's clock (clock skew), recorded as 0 lag",
      registers,
    });

    // Known label values start at zero, so rate() and absent() behave from the first scrape.
    for (const event of WS_EVENT_LABELS) {
      this.wsEventSeries(event);
      this.wsEventsSent.labels(event).inc(0);
    }
    for (const action of SUBSCRIPTION_ACTIONS) this.subscriptionEvents.series(action);
    for (const reason of WS_REFUSAL_REASONS) this.wsConnectionsRefused.labels(reason).inc(0);

    for (const event of Object.values(SERVER_EVENTS)) this.publishToEmitSeriesFor(event);

    this.wsWindow = new SlidingWindow({ clock: metrics.clock });
    this.publishToEmitWindow = new SlidingWindow({ clock: metrics.clock });
    this.pubsubLagWindow = new SlidingWindow({ clock: metrics.clock });
  }

  get enabled(): boolean {
    return this.metrics.enabled;
  }

  /** The gateway is initialised: JSON /metrics answers from now on. */
  markGatewayUp(): void {
    this.gatewayUp = true;
  }

  notReadyReason(): string | null {
    return this.gatewayUp ? null : GATEWAY_NOT_READY;
  }

  contribute(snapshot: MetricsSnapshot): void {
    const [p50, p95, p99] = this.wsWindow.percentiles([50, 95, 99]);
    const users = this.connections.uniqueUsers;
    snapshot.websocket = {
      totalConnections: this.connections.totalConnections,
      uniqueUsers: users,
      redisEnabled: this.gatewayUp && this.adapterState.redisEnabled,
      eventsPerSecond: round(this.wsWindow.ratePerSecond(), 3),
      latency: { p50: round(p50, 3), p95: round(p95, 3), p99: round(p99, 3) },
    };
    const backlog = this.traffic.lastSample();
    snapshot.delivery = {
      publishToEmitP99: round(this.publishToEmitWindow.percentile(99), 3),
      publishToEmitPerSecond: round(this.publishToEmitWindow.ratePerSecond(), 3),
      pubsubLagP99: round(this.pubsubLagWindow.percentile(99), 3),
      outputBacklog: {
        sockets: backlog.sockets,
        totalBytes: backlog.totalBytes,
        maxBytes: backlog.maxBytes,
        sampledAt: backlog.sampledAt === null ? null : new Date(backlog.sampledAt).toISOString(),
      },
      traffic: {
        bytesSent: this.traffic.bytesSent,
        bytesReceived: this.traffic.bytesReceived,
        messagesSent: this.traffic.messagesSent,
        messagesReceived: this.traffic.messagesReceived,
      },
      topDisconnectReasons: topReasons(this.disconnects.counts()),
      topRefusalReasons: topReasons(this.refusals),
    };
    snapshot.business = {
      activeUsers: users,
      subscriptionEvents: this.subscriptionCount,
      trades: this.tradeCount,
    };
  }

  /** One gateway event handled: its name (already bounded to known events or 'unknown'), duration, outcome. */
  recordWsEvent(event: string, durationMs: number, outcome: WsOutcome = WS_OUTCOME_OK): void {
    if (!this.enabled) return;
    const series = this.wsEventSeries(event);
    series.received.inc();
    series.duration.observe(Math.max(0, durationMs) / 1000);
    const failed = outcome !== WS_OUTCOME_OK;
    if (failed)
      this.wsEventErrors
        .labels(boundLabel(event, WS_EVENT_LABELS), boundLabel(outcome, WS_ERROR_CODES))
        .inc();
    this.wsWindow.record(Math.max(0, durationMs), failed);
  }

  /** A new connection turned away, before or during the Socket.IO handshake. */
  recordConnectionRefused(reason: string): void {
    if (!this.enabled) return;
    const label = boundLabel(reason, WS_REFUSAL_REASONS);
    this.wsConnectionsRefused.labels(label).inc();
    this.refusals.set(label, (this.refusals.get(label) ?? 0) + 1);
  }

  /**
   * One publication handed to the local sockets, `seconds` after it entered this instance. `event` is bounded
   * to the known event names (others count as `unknown`).
   */
  observePublishToEmit(event: string, seconds: number): void {
    if (!this.enabled || !Number.isFinite(seconds)) return;
    const s = Math.max(0, seconds);
    this.publishToEmitSeriesFor(event).observe(s);
    this.publishToEmitWindow.record(s * 1000);
  }

  /**
   * One cross-replica publication's pub/sub lag: this instance's receive time minus the origin's send time.
   * The two clocks may disagree: a negative lag is recorded as 0 and counted in ws_pubsub_lag_negative_total,
   * so skew shows up as a count instead of vanishing or corrupting the histogram's sum.
   */
  observePubsubLag(seconds: number): void {
    if (!this.enabled || !Number.isFinite(seconds)) return;
    if (seconds < 0) this.pubsubLagNegative.inc();
    const s = Math.max(0, seconds);
    this.pubsubLag.observe(s);
    this.pubsubLagWindow.record(s * 1000);
  }

  /** Server → client emits: `count` sockets reached (or 1 per room emit when unknown). */
  recordWsSent(event: string, count = 1): void {
    if (!(count > 0) || !this.enabled) return;
    let child = this.wsSentSeries.get(event);
    if (child === undefined) {
      child = this.wsEventsSent.labels(boundLabel(event, WS_EVENT_LABELS));
      if (this.wsSentSeries.size < WS_EVENT_LABELS.length * 4) this.wsSentSeries.set(event, child);
    }
    child.inc(count);
  }

  recordSubscription(action: 'subscribe' | 'unsubscribe'): void {
    if (!this.enabled) return;
    this.subscriptionEvents.series(boundLabel(action, SUBSCRIPTION_ACTIONS)).inc();
    this.subscriptionCount++;
  }

  recordPublished(event: 'portfolio:update' | 'trade:executed'): void {
    if (!this.enabled) return;
    if (event === SERVER_EVENTS.TRADE_EXECUTED) {
      this.tradesPublished.inc();
      this.tradeCount++;
    } else if (event === SERVER_EVENTS.PORTFOLIO_UPDATE) {
      this.portfolioUpdatesPublished.inc();
    }
  }

  private publishToEmitSeriesFor(event: string): HotHistogramSeries {
    let series = this.publishToEmitSeries.get(event);
    if (series === undefined) {
      const label = boundLabel(event, WS_EVENT_LABELS);
      series = this.publishToEmitSeries.get(label) ?? this.publishToEmit.series(label);
      if (label === event) this.publishToEmitSeries.set(event, series);
    }
    return series;
  }

  private wsEventSeries(event: string): WsEventSeries {
    let series = this.wsSeries.get(event);
    if (series === undefined) {
      const label = boundLabel(event, WS_EVENT_LABELS);
      series = this.wsSeries.get(label) ?? {
        received: this.wsEventsReceived.series(label),
        duration: this.wsEventDuration.series(label),
      };
      // Cache only known names: an unknown one is looked up again, which keeps the cache bounded too.
      if (label === event) this.wsSeries.set(event, series);
    }
    return series;
  }
}

/** The largest counts first, at most TOP_REASONS of them, zeros left out. */
function topReasons(counts: ReadonlyMap<string, number>): Array<{ reason: string; count: number }> {
  return [...counts]
    .filter(([, count]) => count > 0)
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .slice(0, TOP_REASONS)
    .map(([reason, count]) => ({ reason, count }));
}
