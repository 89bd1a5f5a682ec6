import { Injectable } from '@nestjs/common';
import { Counter, Histogram } from 'prom-client';
import { MetricsContributor, MetricsSnapshotContributor } from '../metrics/metrics-contributor';
import type { MetricsSnapshot } from '../metrics/metrics-snapshot';
import { MetricsService } from '../metrics/metrics.service';
import {
  IDEMPOTENT_OUTCOMES,
  RESUME_DURATION_BUCKETS,
  RESUME_RESULTS,
  type ResumeMetricResult,
  STREAM_KINDS,
  STREAMS_METRIC,
  type StreamKind,
} from './streams.metric-names';

/**
 * The streams feature's instruments and its `streams` section of JSON /metrics. Every call is per publication
 * or per resume, never per delivery, so fan-out costs nothing here.
 */
@Injectable()
@MetricsContributor()
export class StreamsMetrics implements MetricsSnapshotContributor {
  private readonly publications: Counter<'kind'>;
  private readonly unrecorded: Counter<'kind'>;
  private readonly resumes: Counter<'result'>;
  private readonly replayed: Counter<string>;
  private readonly resumeDuration: Histogram<string>;
  private readonly repeats: Counter<'outcome'>;
  private readonly totals = {
    published: 0,
    unrecorded: 0,
    replayed: 0,
    repeats: 0,
    resumes: { recovered: 0, expired: 0, epoch_changed: 0, unavailable: 0 } as Record<
      ResumeMetricResult,
      number
    >,
  };
  /** Set by StreamHistory once it knows where history lives. */
  storage: 'redis' | 'memory' = 'memory';

  constructor(metrics: MetricsService) {
    const registers = [metrics.registry];
    this.publications = new Counter({
      name: STREAMS_METRIC.publications,
      help: 'Publications given a position, by stream kind (a publication to a user and a portfolio counts in both)',
      labelNames: ['kind'],
      registers,
    });
    this.unrecorded = new Counter({
      name: STREAMS_METRIC.unrecorded,
      help: 'Publications delivered on this instance only, without a position, because Redis could not record them',
      labelNames: ['kind'],
      registers,
    });
    this.resumes = new Counter({
      name: STREAMS_METRIC.resumes,
      help: 'Stream resumes (subscribe or connect with since), by result',
      labelNames: ['result'],
      registers,
    });
    this.replayed = new Counter({
      name: STREAMS_METRIC.replayed,
      help: 'Publications sent again from history by resumes',
      registers,
    });
    this.resumeDuration = new Histogram({
      name: STREAMS_METRIC.resumeDuration,
      help: 'Server time of one resume: reading the history and sending what was missed',
      buckets: RESUME_DURATION_BUCKETS,
      registers,
    });
    this.repeats = new Counter({
      name: STREAMS_METRIC.idempotentRepeats,
      help: 'POST /events repeats of an Idempotency-Key: replayed (first answer, nothing delivered) or conflict (409)',
      labelNames: ['outcome'],
      registers,
    });
    // Every label value exists from the start at 0, so rate() and absent() work before the first occurrence.
    for (const kind of STREAM_KINDS) {
      this.publications.inc({ kind }, 0);
      this.unrecorded.inc({ kind }, 0);
    }
    for (const result of RESUME_RESULTS) this.resumes.inc({ result }, 0);
    for (const outcome of IDEMPOTENT_OUTCOMES) this.repeats.inc({ outcome }, 0);
  }

  recordPublished(streams: readonly string[]): void {
    for (const s of streams) this.publications.labels(streamKind(s)).inc();
    this.totals.published += 1;
  }

  recordUnrecorded(streams: readonly string[]): void {
    for (const s of streams) this.unrecorded.labels(streamKind(s)).inc();
    this.totals.unrecorded += 1;
  }

  recordResume(result: ResumeMetricResult, replayed: number, seconds: number): void {
    this.resumes.labels(result).inc();
    this.totals.resumes[result] += 1;
    if (replayed > 0) {
      this.replayed.inc(replayed);
      this.totals.replayed += replayed;
    }
    this.resumeDuration.observe(seconds);
  }

  recordRepeat(outcome: (typeof IDEMPOTENT_OUTCOMES)[number]): void {
    this.repeats.labels(outcome).inc();
    if (outcome === 'replayed') this.totals.repeats += 1;
  }

  contribute(snapshot: MetricsSnapshot): void {
    const r = this.totals.resumes;
    snapshot.streams = {
      storage: this.storage,
      published: this.totals.published,
      unrecorded: this.totals.unrecorded,
      resumes: {
        recovered: r.recovered,
        expired: r.expired,
        epochChanged: r.epoch_changed,
        unavailable: r.unavailable,
      },
      replayed: this.totals.replayed,
      idempotentRepeats: this.totals.repeats,
    };
  }
}

export function streamKind(stream: string): StreamKind {
  return stream.startsWith('user:') ? 'user' : 'portfolio';
}
