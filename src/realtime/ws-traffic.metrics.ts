import { Inject, Injectable, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { AppConfig } from '../config/app-config';
import { METRICS_REGISTRY } from '../metrics/metrics.registry';
import { OUTPUT_BACKLOG_BUCKETS, REALTIME_METRIC } from './realtime.metric-names';

/** What the server holds unsent for one socket right now, in bytes. */
export type PendingBytes = () => number;

/** The last backlog sample, for the JSON /metrics and the dashboard. */
export interface BacklogSample {
  sockets: number;
  totalBytes: number;
  maxBytes: number;
  sampledAt: number | null;
}

/**
 * Bytes and messages between the server and its WebSocket clients, and the output the server holds unsent.
 *
 * Traffic is counted by the slow-consumer guard in the engine.io packet hooks it already has (`packetCreate`
 * out, `packet` in): two additions per packet into plain fields, read into prom-client counters only at scrape
 * time. "Sent" means handed to engine.io for the client (a packet that later dies with its socket was counted).
 *
 * The backlog is sampled on a timer (WS_BACKLOG_SAMPLE_MS), never per message: each tick observes every open
 * socket's pending bytes once into ws_output_backlog_bytes, so the histogram's buckets tell, over any window,
 * what share of socket-samples held how much; the total and the largest are gauges of the last sample.
 */
@Injectable()
export class WsTrafficMetrics implements OnApplicationBootstrap, OnModuleDestroy {
  bytesSent = 0;
  messagesSent = 0;
  bytesReceived = 0;
  messagesReceived = 0;
  private readonly sockets = new Set<PendingBytes>();
  private readonly backlog: Histogram;
  private last: BacklogSample = { sockets: 0, totalBytes: 0, maxBytes: 0, sampledAt: null };
  private timer: NodeJS.Timeout | null = null;

  constructor(
    @Inject(METRICS_REGISTRY) registry: Registry,
    private readonly config: AppConfig,
  ) {
    const registers = [registry];
    // Counters mirror the plain fields at scrape time (collect), so the hot path never touches prom-client.
    const mirror = (name: string, help: string, read: () => number) =>
      new Counter({
        name,
        help,
        registers,
        collect() {
          this.reset();
          this.inc(read());
        },
      });
    mirror(
      REALTIME_METRIC.wsBytesSent,
      'Bytes of engine.io packets queued for WebSocket clients (payload length plus the packet type)',
      () => this.bytesSent,
    );
    mirror(
      REALTIME_METRIC.wsMessagesSent,
      'engine.io message packets queued for WebSocket clients (events and acks; pings not included)',
      () => this.messagesSent,
    );
    mirror(
      REALTIME_METRIC.wsBytesReceived,
      'Bytes of engine.io packets received from WebSocket clients (payload length plus the packet type)',
      () => this.bytesReceived,
    );
    mirror(
      REALTIME_METRIC.wsMessagesReceived,
      'engine.io message packets received from WebSocket clients (events and acks; pongs not included)',
      () => this.messagesReceived,
    );
    this.backlog = new Histogram({
      name: REALTIME_METRIC.wsOutputBacklog,
      help: 'Unsent output per socket, in bytes, one observation per open socket per WS_BACKLOG_SAMPLE_MS',
      buckets: OUTPUT_BACKLOG_BUCKETS,
      registers,
    });
    const last = () => this.last;
    new Gauge({
      name: REALTIME_METRIC.wsOutputBacklogTotal,
      help: 'Unsent output held for all sockets at the last sample, in bytes',
      registers,
      collect() {
        this.set(last().totalBytes);
      },
    });
    new Gauge({
      name: REALTIME_METRIC.wsOutputBacklogMax,
      help: 'Largest unsent output held for one socket at the last sample, in bytes',
      registers,
      collect() {
        this.set(last().maxBytes);
      },
    });
  }

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => this.sample(), this.config.ws.backlogSampleMs);
    this.timer.unref();
  }

  onModuleDestroy(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /** Tracks one socket's unsent output until the returned function is called (on close). */
  track(pending: PendingBytes): () => void {
    this.sockets.add(pending);
    return () => this.sockets.delete(pending);
  }

  /** One sample of every open socket's backlog (the timer's work; tests call it directly). */
  sample(): BacklogSample {
    let total = 0;
    let max = 0;
    for (const pending of this.sockets) {
      const bytes = pending();
      this.backlog.observe(bytes);
      total += bytes;
      if (bytes > max) max = bytes;
    }
    this.last = { sockets: this.sockets.size, totalBytes: total, maxBytes: max, sampledAt: Date.now() };
    return this.last;
  }

  lastSample(): BacklogSample {
    return this.last;
  }
}
