import { BoundedIdSet } from './bounded-id-set';
import type { PublicationFields, StreamPosition } from './contract';

/** Why the library gave up on gap-free delivery for a stream: the application must refetch a snapshot. */
export type ResyncReason =
  /** The server answered a resume with `recovered: false`: its history no longer reaches back far enough. */
  | 'not_recovered'
  /** The stream's epoch changed: its history was reset (or a publication could not be recorded). */
  | 'epoch_changed'
  /** Repeated resume requests for a gap got no (useful) answer. */
  | 'gap_unfilled'
  /** More events were held behind a gap than the library keeps. */
  | 'held_overflow';

export interface ResyncEvent {
  stream: string;
  reason: ResyncReason;
  /** The position the library adopted: events after it are delivered from now on, in order. */
  position: StreamPosition;
}

/** Where the tracker's decisions go. Called after the tracker's own state is consistent, never re-entrantly. */
export interface StreamTrackerSink<C> {
  deliver(event: PublicationFields, context: C): void;
  resync(event: ResyncEvent): void;
  /** The stream has a gap: ask the server for what follows `since` (see {@link StreamTracker.gapSince}). */
  gap(stream: string, since: StreamPosition): void;
}

export interface StreamTrackerOptions {
  /** Events held behind a gap per stream before the gap is given up (resync). */
  maxHeldPerStream?: number;
  /** Delivered publication ids remembered for de-duplication. */
  maxRememberedIds?: number;
}

export const DEFAULT_MAX_HELD_PER_STREAM = 10_000;
export const DEFAULT_MAX_REMEMBERED_IDS = 10_000;
/** Epochs a stream has left, remembered so a late event of an old history is not taken for a new one. */
const MAX_RETIRED_EPOCHS = 8;
/** Streams not (yet) tracked whose highest position is remembered, for when tracking starts (first connect). */
const MAX_UNTRACKED_SEEN = 256;

interface Entry<C> {
  event: PublicationFields;
  context: C;
  positions: Record<string, StreamPosition>;
}

interface StreamState<C> {
  /** Last delivered (or adopted) position; undefined until the first acknowledgement gives one. */
  position?: StreamPosition;
  /** While pending: the highest position delivered so far, adopted if the acknowledgement is older. */
  seen?: StreamPosition;
  /** The last position the server said it has assigned (same epoch): a gap if we are behind it. */
  head?: number;
  /** Events waiting for earlier offsets, by offset (current epoch only). */
  held: Map<number, Entry<C>>;
  retired: string[];
  gapSignalled: boolean;
}

type Standing = 'past' | 'next' | 'future';

/**
 * Per stream ordering and exactly-once delivery: the part of the client that decides, kept free of sockets and
 * timers so it can be tested on its own and reused.
 *
 * Each tracked stream has a last delivered `{epoch, offset}`. A publication is delivered once every tracked
 * stream it names is at its offset - 1 (or already past it); an offset beyond that is held and the stream
 * reports a gap; a publication every tracked stream has passed is a duplicate. Publications are also
 * de-duplicated by id (bounded), which covers unpositioned copies and a trade that reaches a socket through two
 * rooms. A new epoch, or the caller giving up on a gap, raises `resync` and continues from the adopted position.
 */
export class StreamTracker<C = undefined> {
  private readonly streams = new Map<string, StreamState<C>>();
  private readonly untrackedSeen = new Map<string, StreamPosition>();
  private readonly delivered: BoundedIdSet;
  private readonly maxHeld: number;
  private readonly outbox: Array<() => void> = [];
  private flushing = false;

  constructor(
    private readonly sink: StreamTrackerSink<C>,
    options: StreamTrackerOptions = {},
  ) {
    this.maxHeld = options.maxHeldPerStream ?? DEFAULT_MAX_HELD_PER_STREAM;
    this.delivered = new BoundedIdSet(options.maxRememberedIds ?? DEFAULT_MAX_REMEMBERED_IDS);
  }

  /** Starts tracking a stream. Without a position it is pending until {@link acknowledge} gives one. */
  track(stream: string, position?: StreamPosition): void {
    this.run(() => {
      if (this.streams.has(stream)) return;
      const seen = this.untrackedSeen.get(stream);
      this.untrackedSeen.delete(stream);
      this.streams.set(stream, {
        position: position && { ...position },
        seen,
        held: new Map(),
        retired: [],
        gapSignalled: false,
      });
    });
  }

  untrack(stream: string): void {
    this.run(() => {
      this.streams.delete(stream);
    });
  }

  isTracked(stream: string): boolean {
    return this.streams.has(stream);
  }

  /** The last delivered (or adopted) position of a stream, if known. */
  position(stream: string): StreamPosition | undefined {
    const position = this.streams.get(stream)?.position;
    return position && { ...position };
  }

  /** Events held for a stream behind a gap (or behind another stream's gap). */
  heldCount(stream: string): number {
    return this.streams.get(stream)?.held.size ?? 0;
  }

  /** If the stream misses publications, the position to resume from; undefined when it is complete. */
  gapSince(stream: string): StreamPosition | undefined {
    const state = this.streams.get(stream);
    if (!state?.position) return undefined;
    return this.hasGap(state) ? { ...state.position } : undefined;
  }

  /** A publication as received: delivered, held or dropped. `context` travels with it to the sink. */
  ingest(event: PublicationFields, context: C): void {
    this.run(() => this.place({ event, context, positions: positionsOf(event) }));
  }

  /**
   * The server's word on a stream: a subscribe or resume acknowledgement, or `user:stream`. Adopts the position
   * of a pending stream; `recovered: false` or another epoch means history was lost: resync.
   */
  acknowledge(stream: string, ack: { position: StreamPosition; recovered?: boolean }): void {
    this.run(() => {
      const state = this.streams.get(stream);
      if (!state || !isPosition(ack.position)) return;
      const current = state.position;
      if (!current) {
        const seen = state.seen;
        state.position =
          seen && seen.epoch === ack.position.epoch && seen.offset > ack.position.offset
            ? { ...seen }
            : { ...ack.position };
        state.seen = undefined;
        state.head = ack.position.offset;
      } else if (ack.position.epoch !== current.epoch) {
        this.resyncTo(
          stream,
          state,
          ack.recovered === false ? 'not_recovered' : 'epoch_changed',
          ack.position,
        );
      } else if (ack.recovered === false && (this.hasGap(state) || current.offset < ack.position.offset)) {
        this.resyncTo(stream, state, 'not_recovered', ack.position);
      } else {
        state.head = Math.max(state.head ?? 0, ack.position.offset);
      }
      this.signalGap(stream, state);
    });
  }

  /**
   * Gives up on a stream's gap (its resume requests went unanswered): adopts the position just before the first
   * held event (or the server's last known head) and raises `resync`. Does nothing if the stream has no gap.
   */
  skipGap(stream: string, reason: ResyncReason = 'gap_unfilled'): void {
    this.run(() => {
      const state = this.streams.get(stream);
      if (state?.position && this.hasGap(state)) this.skip(stream, state, reason);
    });
  }

  private place(entry: Entry<C>): void {
    const named = Object.entries(entry.positions);
    if (named.length === 0) {
      this.deliverOnce(entry);
      return;
    }
    // A new epoch first: it re-bases the stream, so the entry is then classified against the new history.
    for (const [stream, position] of named) {
      const state = this.streams.get(stream);
      if (!state) {
        this.noteUntracked(stream, position);
      } else if (!state.position) {
        if (!state.seen || state.seen.epoch !== position.epoch || state.seen.offset < position.offset) {
          state.seen = { ...position };
        }
      } else if (position.epoch !== state.position.epoch && !state.retired.includes(position.epoch)) {
        this.resyncTo(stream, state, 'epoch_changed', { epoch: position.epoch, offset: position.offset - 1 });
      }
    }
    const standings = this.standings(entry);
    if (standings.length === 0) {
      this.deliverOnce(entry);
      return;
    }
    if (standings.every(([, , standing]) => standing === 'past')) return; // a duplicate in every stream
    const blocked = standings.some(([, , standing]) => standing === 'future');
    if (!blocked && !standings.some(([stream, state]) => state.held.has(entry.positions[stream].offset))) {
      this.drain(this.commit(entry));
      return;
    }
    for (const [stream, state, standing] of standings) {
      if (standing === 'past') continue;
      const offset = entry.positions[stream].offset;
      if (!state.held.has(offset)) state.held.set(offset, entry);
    }
    for (const [stream, state] of standings) {
      if (state.held.size > this.maxHeld) this.relieve(stream, state);
      this.drain([stream]);
      this.signalGap(stream, state);
    }
  }

  /** Where the entry stands in each tracked, positioned stream of its current epoch. */
  private standings(entry: Entry<C>): Array<[string, StreamState<C>, Standing]> {
    const result: Array<[string, StreamState<C>, Standing]> = [];
    for (const [stream, position] of Object.entries(entry.positions)) {
      const state = this.streams.get(stream);
      if (!state?.position) continue;
      // Another epoch here can only be one the stream has left (a new one re-bases it first): old history.
      if (state.position.epoch !== position.epoch) {
        result.push([stream, state, 'past']);
        continue;
      }
      const distance = position.offset - state.position.offset;
      result.push([stream, state, distance <= 0 ? 'past' : distance === 1 ? 'next' : 'future']);
    }
    return result;
  }

  /** Delivers what has become ready in these streams (and in the streams that advance with them). */
  private drain(start: string[]): void {
    const queue = [...start];
    // Every commit removes a held entry and queues at most one turn per stream, which bounds the loop.
    const held = [...this.streams.values()].reduce((sum, s) => sum + s.held.size, 0);
    let budget = 1 + (queue.length + held) * (1 + this.streams.size);
    while (queue.length > 0 && budget-- > 0) {
      const stream = queue.shift() as string;
      const state = this.streams.get(stream);
      if (!state?.position) continue;
      const entry = state.held.get(state.position.offset + 1);
      if (!entry) continue;
      if (this.standings(entry).some(([, , standing]) => standing === 'future')) continue;
      queue.push(...this.commit(entry));
    }
  }

  /** Delivers the entry (unless its id was delivered already) and advances every stream it is next in. */
  private commit(entry: Entry<C>): string[] {
    const advanced: string[] = [];
    for (const [stream, state, standing] of this.standings(entry)) {
      const offset = entry.positions[stream].offset;
      if (state.held.get(offset) === entry) state.held.delete(offset);
      if (standing === 'next' && state.position) {
        state.position = { epoch: state.position.epoch, offset };
        advanced.push(stream);
      }
    }
    this.deliverOnce(entry);
    for (const stream of advanced) {
      const state = this.streams.get(stream);
      if (state) this.signalGap(stream, state);
    }
    return advanced;
  }

  private deliverOnce(entry: Entry<C>): void {
    const id = entry.event.id;
    if (typeof id === 'string') {
      if (this.delivered.has(id)) return;
      this.delivered.add(id);
    }
    this.outbox.push(() => this.sink.deliver(entry.event, entry.context));
  }

  /** Adopts a position after lost history, tells the application, then delivers what is held after it. */
  private resyncTo(
    stream: string,
    state: StreamState<C>,
    reason: ResyncReason,
    position: StreamPosition,
  ): void {
    const current = state.position;
    let adopted = { epoch: position.epoch, offset: Math.max(0, position.offset) };
    if (current && current.epoch !== adopted.epoch) {
      state.retired = [...state.retired.filter((e) => e !== current.epoch), current.epoch].slice(
        -MAX_RETIRED_EPOCHS,
      );
      state.retired = state.retired.filter((e) => e !== adopted.epoch);
      state.held.clear();
      state.head = undefined;
    } else if (current && current.offset > adopted.offset) {
      adopted = { ...current };
    }
    state.position = adopted;
    state.head = Math.max(state.head ?? 0, adopted.offset);
    for (const offset of [...state.held.keys()]) if (offset <= adopted.offset) state.held.delete(offset);
    const event: ResyncEvent = { stream, reason, position: { ...adopted } };
    this.outbox.push(() => this.sink.resync(event));
    this.drain([stream]);
  }

  /** Jumps over the stream's first gap. */
  private skip(stream: string, state: StreamState<C>, reason: ResyncReason): void {
    if (!state.position) return;
    const first = state.held.size > 0 ? Math.min(...state.held.keys()) - 1 : (state.head ?? 0);
    this.resyncTo(stream, state, reason, { epoch: state.position.epoch, offset: first });
  }

  /**
   * Too much held: give up the gap that holds it, in this stream or, when the head of this stream waits for
   * another stream (a two-stream publication), in that one.
   */
  private relieve(stream: string, state: StreamState<C>): void {
    for (let round = 0; round < 64 && state.position && state.held.size > this.maxHeld; round++) {
      const head = state.held.get(state.position.offset + 1);
      if (!head) {
        this.skip(stream, state, 'held_overflow');
        continue;
      }
      const blockers = this.standings(head).filter(([, , standing]) => standing === 'future');
      if (blockers.length === 0) {
        this.drain([stream]);
        continue;
      }
      for (const [other, otherState] of blockers) this.skip(other, otherState, 'held_overflow');
    }
  }

  private hasGap(state: StreamState<C>): boolean {
    if (!state.position) return false;
    if (state.held.size > 0) return !state.held.has(state.position.offset + 1);
    return state.head !== undefined && state.head > state.position.offset;
  }

  private signalGap(stream: string, state: StreamState<C>): void {
    const gap = this.hasGap(state);
    if (gap && !state.gapSignalled && state.position) {
      const since = { ...state.position };
      this.outbox.push(() => this.sink.gap(stream, since));
    }
    state.gapSignalled = gap;
  }

  private noteUntracked(stream: string, position: StreamPosition): void {
    const seen = this.untrackedSeen.get(stream);
    if (seen && seen.epoch === position.epoch && seen.offset >= position.offset) return;
    this.untrackedSeen.delete(stream);
    this.untrackedSeen.set(stream, { ...position });
    if (this.untrackedSeen.size > MAX_UNTRACKED_SEEN) {
      const oldest = this.untrackedSeen.keys().next();
      if (!oldest.done) this.untrackedSeen.delete(oldest.value);
    }
  }

  /**
   * Runs one operation, then hands its results to the sink. A listener that calls back into the tracker (an
   * application unsubscribing from inside an event handler) finds consistent state; its own results queue
   * behind the ones being handed out, so order holds.
   */
  private run(operation: () => void): void {
    operation();
    if (this.flushing) return;
    this.flushing = true;
    try {
      for (let next = this.outbox.shift(); next; next = this.outbox.shift()) next();
    } finally {
      this.flushing = false;
    }
  }
}

/** The publication's positions, valid ones only: `positions`, or the single `stream`/`position` pair. */
export function positionsOf(event: PublicationFields): Record<string, StreamPosition> {
  const result: Record<string, StreamPosition> = {};
  if (event.unpositioned) return result;
  if (event.positions && typeof event.positions === 'object') {
    for (const [stream, position] of Object.entries(event.positions)) {
      if (isPosition(position) && position.offset >= 1) result[stream] = position;
    }
  }
  if (typeof event.stream === 'string' && isPosition(event.position) && event.position.offset >= 1) {
    result[event.stream] ??= event.position;
  }
  return result;
}

function isPosition(value: unknown): value is StreamPosition {
  if (typeof value !== 'object' || value === null) return false;
  const { epoch, offset } = value as Partial<StreamPosition>;
  return (
    typeof epoch === 'string' && typeof offset === 'number' && Number.isSafeInteger(offset) && offset >= 0
  );
}
