import type { ResumeResult, StreamMessage, StreamPosition } from './stream-protocol';

/** One publication to record: its fields, its streams (1 or 2) and, for POST /events, its idempotency record. */
export interface PublishRequest {
  message: Omit<StreamMessage, 'pos'>;
  streams: string[];
  idempotency?: IdempotencyRecordRequest;
}

export interface IdempotencyRecordRequest {
  /** sha256 of the Idempotency-Key (hex): what is stored, never the key. */
  keyHash: string;
  /** sha256 of the request body (hex): a repeat with another body is a conflict. */
  bodyHash: string;
  /** The answer's JSON up to its positions: the script completes it and keeps it for repeats. */
  resultHead: string;
}

export type PublishOutcome =
  | {
      kind: 'published';
      message: StreamMessage;
      /** The message as broadcast (JSON), what replicas parse. */
      json: string;
      /** Subscribers of the channel that Redis handed it to; null for the in-memory log (no channel). */
      receivers: number | null;
    }
  | { kind: 'repeat'; bodyHash: string; result: string };

export interface ResumeOutcome {
  result: ResumeResult;
  position: StreamPosition;
  /** With `recovered`: the publications after `since`, oldest first, as broadcast (JSON). */
  messages: string[];
}

/** Where positions are given out and history is kept: Redis (every replica) or this process's memory. */
export interface StreamLog {
  /** True when publications reach other replicas through the channel (the caller then delivers from it). */
  readonly shared: boolean;
  publish(request: PublishRequest, rotate: ReadonlySet<string>): Promise<PublishOutcome>;
  resume(stream: string, since: StreamPosition | null, maxEntries: number): Promise<ResumeOutcome>;
  /** Starts a new epoch for the stream (its history is dropped). */
  rotate(stream: string): Promise<void>;
}
