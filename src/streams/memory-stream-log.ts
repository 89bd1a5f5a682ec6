import type { PublishOutcome, PublishRequest, ResumeOutcome, StreamLog } from './stream-log';
import { messageHead, newEpoch, type StreamMessage, type StreamPosition } from './stream-protocol';

interface MemoryStream {
  epoch: string;
  offset: number;
  /** The last `historySize` messages (JSON), oldest first; entries[i] has offset `offset - entries.length + 1 + i`. */
  entries: string[];
  /** When the history (not the position) is dropped: STREAM_HISTORY_TTL_MS after the last publication. */
  historyExpiresAt: number;
  lastUsedAt: number;
}

/**
 * The single-instance log (no REDIS_URL): the same positions and resume as Redis, in this process. Every
 * stream gets a new epoch per process, so a restart is never mistaken for continuity. Idle streams are
 * forgotten by a sweep (`sweep()`, called by StreamHistory's timer), so memory is bounded by what is active.
 */
export class MemoryStreamLog implements StreamLog {
  readonly shared = false;
  private readonly streams = new Map<string, MemoryStream>();

  constructor(
    private readonly historySize: number,
    private readonly historyTtlMs: number,
    private readonly metaTtlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.streams.size;
  }

  publish(request: PublishRequest, rotate: ReadonlySet<string>): Promise<PublishOutcome> {
    const now = this.now();
    const pos: Record<string, StreamPosition> = {};
    const touched: MemoryStream[] = [];
    for (const name of request.streams) {
      let s = this.streams.get(name);
      if (s === undefined || rotate.has(name)) {
        s = { epoch: newEpoch(), offset: 0, entries: [], historyExpiresAt: 0, lastUsedAt: now };
        this.streams.set(name, s);
      }
      if (s.historyExpiresAt < now) s.entries = [];
      s.offset += 1;
      pos[name] = { epoch: s.epoch, offset: s.offset };
      touched.push(s);
    }
    const message: StreamMessage = { ...request.message, pos };
    const json = messageHead(request.message) + JSON.stringify(pos) + '}';
    for (const s of touched) {
      s.entries.push(json);
      if (s.entries.length > this.historySize) s.entries.shift();
      s.historyExpiresAt = now + this.historyTtlMs;
      s.lastUsedAt = now;
    }
    return Promise.resolve({ kind: 'published', message, json, receivers: null });
  }

  resume(stream: string, since: StreamPosition | null, maxEntries: number): Promise<ResumeOutcome> {
    return Promise.resolve(this.resumeNow(stream, since, maxEntries));
  }

  /** A stream's current position, synchronously (creating the stream at offset 0 if it is new). */
  position(stream: string): StreamPosition {
    let s = this.streams.get(stream);
    if (s === undefined) {
      s = { epoch: newEpoch(), offset: 0, entries: [], historyExpiresAt: 0, lastUsedAt: this.now() };
      this.streams.set(stream, s);
    } else s.lastUsedAt = this.now();
    return { epoch: s.epoch, offset: s.offset };
  }

  /** The same as `resume`, synchronously: this log is in memory. */
  resumeNow(stream: string, since: StreamPosition | null, maxEntries: number): ResumeOutcome {
    const now = this.now();
    let s = this.streams.get(stream);
    if (s === undefined) {
      s = { epoch: newEpoch(), offset: 0, entries: [], historyExpiresAt: 0, lastUsedAt: now };
      this.streams.set(stream, s);
    }
    s.lastUsedAt = now;
    if (s.historyExpiresAt < now) s.entries = [];
    const position = { epoch: s.epoch, offset: s.offset };
    const answer = (result: ResumeOutcome['result'], messages: string[] = []): ResumeOutcome => ({
      result,
      position,
      messages,
    });
    if (since === null) return answer('position');
    if (since.epoch !== s.epoch || since.offset > s.offset) return answer('epoch_changed');
    const missing = s.offset - since.offset;
    if (missing === 0) return answer('recovered');
    if (missing > maxEntries || missing > s.entries.length) return answer('expired');
    return answer('recovered', s.entries.slice(s.entries.length - missing));
  }

  rotate(stream: string): Promise<void> {
    this.streams.delete(stream);
    return Promise.resolve();
  }

  /** Drops streams unused (no publication, no subscribe) for longer than the meta TTL. */
  sweep(): void {
    const cutoff = this.now() - this.metaTtlMs;
    for (const [name, s] of this.streams) {
      if (s.lastUsedAt < cutoff) this.streams.delete(name);
      else if (s.historyExpiresAt < this.now()) s.entries = [];
    }
  }
}
