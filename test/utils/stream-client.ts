import type { Socket } from 'socket.io-client';
import request from 'supertest';

/** A stream position as the server hands it out. */
export interface Position {
  epoch: string;
  offset: number;
}

/** What a socket received, in arrival order: events by name, and the acks of `StreamRecorder.request` as `ack:<event>`. */
export interface Seen {
  ev: string;
  payload: any;
}

export const PUBLICATION_EVENTS = ['portfolio:update', 'trade:executed'] as const;

/**
 * Records everything a plain socket.io-client socket receives, in the order it arrived, with the acks of the
 * requests made through it in the same list: "the replayed events came before the ack" is then a question about
 * one array.
 */
export class StreamRecorder {
  readonly seen: Seen[] = [];
  private readonly listener = (ev: string, payload: unknown) => this.seen.push({ ev, payload });

  constructor(readonly socket: Socket) {
    socket.onAny(this.listener);
  }

  /** Emits with an ack; the ack is recorded where it arrived (the callback runs synchronously on arrival). */
  request<T = any>(event: string, payload: unknown, timeoutMs = 5000): Promise<T> {
    return new Promise((resolve, reject) => {
      this.socket.timeout(timeoutMs).emit(event, payload, (err: Error | null, ack: T) => {
        if (err) {
          reject(err);
          return;
        }
        this.seen.push({ ev: `ack:${event}`, payload: ack });
        resolve(ack);
      });
    });
  }

  /** Publications received (portfolio:update, trade:executed), optionally only those positioned in `stream`. */
  publications(stream?: string): any[] {
    return this.seen
      .filter((s) => (PUBLICATION_EVENTS as readonly string[]).includes(s.ev))
      .map((s) => s.payload)
      .filter((p) => stream === undefined || p.positions?.[stream] !== undefined);
  }

  /** The offsets received in `stream`, in arrival order. */
  offsets(stream: string): number[] {
    return this.publications(stream).map((p) => p.positions[stream].offset as number);
  }

  /** The last position received in `stream` (null if none). */
  last(stream: string): Position | null {
    const all = this.publications(stream);
    return all.length === 0 ? null : (all[all.length - 1].positions[stream] as Position);
  }

  /** Waits until a publication with `predicate` has arrived. */
  async waitFor(predicate: (payload: any) => boolean, timeoutMs = 5000): Promise<any> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.publications().find(predicate);
      if (hit !== undefined) return hit;
      if (Date.now() > deadline) throw new Error(`no matching publication within ${timeoutMs}ms`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  clear(): void {
    this.seen.length = 0;
  }

  stop(): void {
    this.socket.offAny(this.listener);
  }
}

/** POST /events with the publish token and optional extra headers; bounded by `timeoutMs`. */
export function postEvent(
  url: string,
  token: string,
  body: object,
  headers: Record<string, string> = {},
  timeoutMs = 5000,
): request.Test {
  let req = request(url).post('/events').set('Authorization', `Bearer ${token}`);
  for (const [k, v] of Object.entries(headers)) req = req.set(k, v);
  return req.send(body).timeout(timeoutMs);
}

/** Fails with the list itself unless `offsets` is exactly from, from+1, ..., to. */
export function expectConsecutive(offsets: number[], from: number, to: number): void {
  const expected = Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);
  expect(offsets).toEqual(expected);
}
