import type { PublicationFields, StreamPosition } from './contract';
import { StreamTracker, type ResyncEvent } from './stream-tracker';

/** A tracker whose sink records everything in one ordered log. */
function setup(options: { maxHeldPerStream?: number; maxRememberedIds?: number } = {}) {
  const log: Array<{ kind: 'deliver'; id: string } | { kind: 'resync'; event: ResyncEvent }> = [];
  const gaps: Array<{ stream: string; since: StreamPosition }> = [];
  const tracker = new StreamTracker<string>(
    {
      deliver: (event) => log.push({ kind: 'deliver', id: event.id }),
      resync: (event) => log.push({ kind: 'resync', event }),
      gap: (stream, since) => gaps.push({ stream, since }),
    },
    options,
  );
  const delivered = () => log.filter((e) => e.kind === 'deliver').map((e) => (e as { id: string }).id);
  const resyncs = () =>
    log.filter((e) => e.kind === 'resync').map((e) => (e as { event: ResyncEvent }).event);
  return { tracker, log, gaps, delivered, resyncs };
}

const P = 'portfolio:p1';
const U = 'user:u1';

/** A publication in one stream, id derived from stream/epoch/offset unless given. */
function pub(
  stream: string,
  epoch: string,
  offset: number,
  id = `${stream}/${epoch}/${offset}`,
): PublicationFields {
  const position = { epoch, offset };
  return { id, data: {}, timestamp: '', stream, position, positions: { [stream]: position } };
}

function trade(id: string, positions: Record<string, StreamPosition>): PublicationFields {
  const [stream, position] = Object.entries(positions)[0];
  return { id, data: {}, timestamp: '', stream, position, positions };
}

describe(StreamTracker.name, () => {
  it('delivers in order and drops duplicates (offset <= last)', () => {
    const { tracker, delivered, gaps } = setup();
    tracker.track(P, { epoch: 'e1', offset: 0 });
    for (const offset of [1, 2, 2, 1, 3]) tracker.ingest(pub(P, 'e1', offset), 'x');
    expect(delivered()).toEqual([`${P}/e1/1`, `${P}/e1/2`, `${P}/e1/3`]);
    expect(tracker.position(P)).toEqual({ epoch: 'e1', offset: 3 });
    expect(gaps).toEqual([]);
  });

  it('drops a duplicate by offset even when its id was forgotten', () => {
    const { tracker, delivered } = setup({ maxRememberedIds: 1 });
    tracker.track(P, { epoch: 'e1', offset: 0 });
    tracker.ingest(pub(P, 'e1', 1), 'x');
    tracker.ingest(pub(P, 'e1', 2), 'x');
    tracker.ingest(pub(P, 'e1', 1), 'x');
    expect(delivered()).toEqual([`${P}/e1/1`, `${P}/e1/2`]);
  });

  it('holds events after a gap, reports the gap once, and delivers in order when it fills', () => {
    const { tracker, delivered, gaps } = setup();
    tracker.track(P, { epoch: 'e1', offset: 1 });
    tracker.ingest(pub(P, 'e1', 4), 'x');
    tracker.ingest(pub(P, 'e1', 3), 'x');
    expect(delivered()).toEqual([]);
    expect(tracker.heldCount(P)).toBe(2);
    expect(gaps).toEqual([{ stream: P, since: { epoch: 'e1', offset: 1 } }]);
    expect(tracker.gapSince(P)).toEqual({ epoch: 'e1', offset: 1 });
    tracker.ingest(pub(P, 'e1', 2), 'x');
    expect(delivered()).toEqual([`${P}/e1/2`, `${P}/e1/3`, `${P}/e1/4`]);
    expect(tracker.gapSince(P)).toBeUndefined();
    expect(tracker.heldCount(P)).toBe(0);
  });

  it('a resume answered recovered: false raises resync, adopts the position and delivers what follows it', () => {
    const { tracker, log, delivered, resyncs } = setup();
    tracker.track(P, { epoch: 'e1', offset: 1 });
    tracker.ingest(pub(P, 'e1', 5), 'x');
    tracker.ingest(pub(P, 'e1', 7), 'x');
    tracker.acknowledge(P, { position: { epoch: 'e1', offset: 4 }, recovered: false });
    expect(resyncs()).toEqual([{ stream: P, reason: 'not_recovered', position: { epoch: 'e1', offset: 4 } }]);
    expect(delivered()).toEqual([`${P}/e1/5`]);
    expect(log[0].kind).toBe('resync'); // before the events it re-bases
    expect(tracker.gapSince(P)).toEqual({ epoch: 'e1', offset: 5 }); // 6 still missing
  });

  it('recovered: false with nothing missing is not a resync', () => {
    const { tracker, resyncs } = setup();
    tracker.track(P, { epoch: 'e1', offset: 4 });
    tracker.acknowledge(P, { position: { epoch: 'e1', offset: 4 }, recovered: false });
    expect(resyncs()).toEqual([]);
  });

  it('an event of a new epoch raises resync, drops held events of the old one and continues in order', () => {
    const { tracker, log, delivered, resyncs } = setup();
    tracker.track(P, { epoch: 'e1', offset: 1 });
    tracker.ingest(pub(P, 'e1', 3), 'x'); // held behind the gap, old history
    tracker.ingest(pub(P, 'e2', 2), 'x');
    tracker.ingest(pub(P, 'e2', 4), 'x');
    tracker.ingest(pub(P, 'e2', 3), 'x');
    expect(resyncs()).toEqual([{ stream: P, reason: 'epoch_changed', position: { epoch: 'e2', offset: 1 } }]);
    expect(log[0].kind).toBe('resync');
    expect(delivered()).toEqual([`${P}/e2/2`, `${P}/e2/3`, `${P}/e2/4`]);
    // A late event of the history it left is old news, not a new epoch.
    tracker.ingest(pub(P, 'e1', 9), 'x');
    expect(resyncs()).toHaveLength(1);
    expect(tracker.position(P)).toEqual({ epoch: 'e2', offset: 4 });
  });

  it('an acknowledgement of another epoch raises resync', () => {
    const { tracker, resyncs } = setup();
    tracker.track(P, { epoch: 'e1', offset: 3 });
    tracker.acknowledge(P, { position: { epoch: 'e2', offset: 7 }, recovered: false });
    expect(resyncs()).toEqual([{ stream: P, reason: 'not_recovered', position: { epoch: 'e2', offset: 7 } }]);
  });

  it('delivers a publication in two streams once and advances both', () => {
    const { tracker, delivered } = setup();
    tracker.track(U, { epoch: 'u', offset: 4 });
    tracker.track(P, { epoch: 'p', offset: 1 });
    const positions = { [U]: { epoch: 'u', offset: 5 }, [P]: { epoch: 'p', offset: 2 } };
    tracker.ingest(trade('t1', positions), 'trade:executed');
    tracker.ingest({ ...trade('t1', positions), stream: P, position: positions[P] }, 'trade:executed');
    expect(delivered()).toEqual(['t1']);
    expect(tracker.position(U)).toEqual({ epoch: 'u', offset: 5 });
    expect(tracker.position(P)).toEqual({ epoch: 'p', offset: 2 });
  });

  it('holds a two-stream publication until both streams reach it', () => {
    const { tracker, delivered, gaps } = setup();
    tracker.track(U, { epoch: 'u', offset: 4 });
    tracker.track(P, { epoch: 'p', offset: 1 });
    tracker.ingest(trade('t1', { [U]: { epoch: 'u', offset: 5 }, [P]: { epoch: 'p', offset: 3 } }), 't');
    tracker.ingest(pub(U, 'u', 6), 'x'); // behind t1 in the user stream
    expect(delivered()).toEqual([]);
    expect(gaps).toEqual([{ stream: P, since: { epoch: 'p', offset: 1 } }]);
    expect(tracker.gapSince(U)).toBeUndefined(); // the user stream waits for the portfolio's gap, has none
    tracker.ingest(pub(P, 'p', 2), 'x');
    expect(delivered()).toEqual([`${P}/p/2`, 't1', `${U}/u/6`]);
  });

  it('delivers an unpositioned event at once and drops its positioned copy while advancing the stream', () => {
    const { tracker, delivered } = setup();
    tracker.track(P, { epoch: 'e1', offset: 0 });
    tracker.ingest({ id: 'a', data: {}, timestamp: '', unpositioned: true }, 'x');
    tracker.ingest({ id: 'a', data: {}, timestamp: '', unpositioned: true }, 'x');
    expect(delivered()).toEqual(['a']);
    tracker.ingest(pub(P, 'e1', 1, 'a'), 'x');
    tracker.ingest(pub(P, 'e1', 2), 'x');
    expect(delivered()).toEqual(['a', `${P}/e1/2`]);
    expect(tracker.position(P)).toEqual({ epoch: 'e1', offset: 2 });
  });

  it('a pending stream delivers at once and adopts the later of what it saw and the acknowledged position', () => {
    const { tracker, delivered } = setup();
    tracker.track(P);
    tracker.ingest(pub(P, 'e1', 6), 'x');
    expect(delivered()).toEqual([`${P}/e1/6`]);
    tracker.acknowledge(P, { position: { epoch: 'e1', offset: 5 } });
    expect(tracker.position(P)).toEqual({ epoch: 'e1', offset: 6 });
    tracker.ingest(pub(P, 'e1', 6), 'x');
    tracker.ingest(pub(P, 'e1', 7), 'x');
    expect(delivered()).toEqual([`${P}/e1/6`, `${P}/e1/7`]);
  });

  it('remembers the position of a stream seen before it was tracked (the user stream on a first connect)', () => {
    const { tracker } = setup();
    tracker.ingest(pub(U, 'u', 3), 'x');
    tracker.track(U);
    tracker.acknowledge(U, { position: { epoch: 'u', offset: 2 } });
    expect(tracker.position(U)).toEqual({ epoch: 'u', offset: 3 });
  });

  it('an acknowledged head beyond the last delivered offset is a gap', () => {
    const { tracker, gaps } = setup();
    tracker.track(P, { epoch: 'e1', offset: 2 });
    tracker.acknowledge(P, { position: { epoch: 'e1', offset: 4 }, recovered: true });
    expect(gaps).toEqual([{ stream: P, since: { epoch: 'e1', offset: 2 } }]);
  });

  it('skipGap gives up the gap: resync at the first held event, then delivers in order', () => {
    const { tracker, delivered, resyncs } = setup();
    tracker.track(P, { epoch: 'e1', offset: 1 });
    tracker.ingest(pub(P, 'e1', 5), 'x');
    tracker.ingest(pub(P, 'e1', 4), 'x');
    tracker.skipGap(P);
    expect(resyncs()).toEqual([{ stream: P, reason: 'gap_unfilled', position: { epoch: 'e1', offset: 3 } }]);
    expect(delivered()).toEqual([`${P}/e1/4`, `${P}/e1/5`]);
  });

  it('gives up a gap when more than maxHeldPerStream events are held', () => {
    const { tracker, delivered, resyncs } = setup({ maxHeldPerStream: 3 });
    tracker.track(P, { epoch: 'e1', offset: 0 });
    for (const offset of [3, 4, 5]) tracker.ingest(pub(P, 'e1', offset), 'x');
    expect(resyncs()).toEqual([]);
    tracker.ingest(pub(P, 'e1', 6), 'x');
    expect(resyncs()).toEqual([{ stream: P, reason: 'held_overflow', position: { epoch: 'e1', offset: 2 } }]);
    expect(delivered()).toEqual([3, 4, 5, 6].map((o) => `${P}/e1/${o}`));
    expect(tracker.heldCount(P)).toBe(0);
  });

  it('over the cap behind another stream, gives up the blocking stream', () => {
    const { tracker, delivered, resyncs } = setup({ maxHeldPerStream: 2 });
    tracker.track(U, { epoch: 'u', offset: 0 });
    tracker.track(P, { epoch: 'p', offset: 0 });
    tracker.ingest(trade('t1', { [U]: { epoch: 'u', offset: 1 }, [P]: { epoch: 'p', offset: 5 } }), 't');
    tracker.ingest(pub(U, 'u', 2), 'x');
    tracker.ingest(pub(U, 'u', 3), 'x');
    expect(resyncs()).toEqual([{ stream: P, reason: 'held_overflow', position: { epoch: 'p', offset: 4 } }]);
    expect(delivered()).toEqual(['t1', `${U}/u/2`, `${U}/u/3`]);
  });

  it('lets a listener call back into the tracker and keeps the order of what it delivers', () => {
    const order: string[] = [];
    const tracker: StreamTracker<string> = new StreamTracker<string>({
      deliver: (event) => {
        order.push(event.id);
        if (event.id === `${P}/e1/1`) tracker.untrack(P);
      },
      resync: () => undefined,
      gap: () => undefined,
    });
    tracker.track(P, { epoch: 'e1', offset: 0 });
    tracker.ingest(pub(P, 'e1', 2), 'x');
    tracker.ingest(pub(P, 'e1', 1), 'x');
    expect(order).toEqual([`${P}/e1/1`, `${P}/e1/2`]);
    expect(tracker.isTracked(P)).toBe(false);
  });

  it('remembers a bounded number of ids', () => {
    const { tracker, delivered } = setup({ maxRememberedIds: 2 });
    for (const id of ['a', 'b', 'c', 'a'])
      tracker.ingest({ id, data: {}, timestamp: '', unpositioned: true }, 'x');
    expect(delivered()).toEqual(['a', 'b', 'c', 'a']); // 'a' was forgotten: bounded memory wins over dedup
  });
});
