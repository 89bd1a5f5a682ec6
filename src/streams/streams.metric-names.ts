/**
 * The streams feature's metric names and label values. Dashboards and alert rules depend on these names:
 * renaming one is a breaking change for every operator who scrapes this server.
 */
export const STREAMS_METRIC = {
  publications: 'stream_publications_total',
  unrecorded: 'stream_unrecorded_publications_total',
  resumes: 'stream_resumes_total',
  replayed: 'stream_replayed_publications_total',
  resumeDuration: 'stream_resume_duration_seconds',
  idempotentRepeats: 'publish_idempotent_repeats_total',
} as const;

/** The kind of a stream: the part of its name before the first ':'. */
export const STREAM_KINDS = ['portfolio', 'user'] as const;
export type StreamKind = (typeof STREAM_KINDS)[number];

/** Resume outcomes: what the client is told (`recovered`), or why it was not (`unavailable`: no history store). */
export const RESUME_RESULTS = ['recovered', 'expired', 'epoch_changed', 'unavailable'] as const;
export type ResumeMetricResult = (typeof RESUME_RESULTS)[number];

/** A repeated Idempotency-Key: answered with the first result, or refused (409, another body). */
export const IDEMPOTENT_OUTCOMES = ['replayed', 'conflict'] as const;

/** Resume time: reading the history and sending what was missed (a 500-publication replay is ~ms). */
export const RESUME_DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];
