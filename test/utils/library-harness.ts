import {
  TradingClient,
  type PublicationFields,
  type ResyncEvent,
  type StreamPosition,
  type TradingClientOptions,
} from '../../packages/client/src';
import { freePort } from './ports';
import { ServerProcess } from './server-process';
import { makeToken, waitFor } from './socket-client';
import { BASE_TEST_ENV } from './test-app';

/** A built server (`node dist/main`) on a free port: a replica as it runs in production, SIGTERM included. */
export class ServerReplica {
  private constructor(
    readonly name: string,
    readonly port: number,
    readonly proc: ServerProcess,
  ) {}

  static async start(name: string, env: Record<string, string>): Promise<ServerReplica> {
    const port = await freePort();
    const proc = new ServerProcess({
      ...BASE_TEST_ENV,
      ...env,
      RAILWAY_REPLICA_ID: name,
      PORT: String(port),
    });
    await proc.waitForPort(port, 30_000);
    return new ServerReplica(name, port, proc);
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.proc.proc.exitCode === null && this.proc.proc.signalCode === null;
  }

  /** SIGTERM (a redeploy): resolves with how the process ended. */
  async terminate(timeoutMs = 15_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    this.proc.proc.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`${this.name} did not exit within ${timeoutMs} ms`)),
        timeoutMs,
      );
    });
    try {
      return await Promise.race([this.proc.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  stop(): Promise<void> {
    return this.proc.stop();
  }
}

/**
 * Which backends a load balancer would send a new connection to: those whose `/health/ready` answered 200 on the
 * last poll (every `everyMs`), in the given order; all of them while none is known ready. Like a platform's
 * balancer, it stops routing to a replica once that replica says it is draining.
 */
export class ReadinessWatch {
  private readonly ready = new Map<number, boolean>();
  private timer: NodeJS.Timeout | null = null;
  private polling = false;

  constructor(
    private readonly ports: number[],
    private readonly everyMs = 100,
  ) {}

  async start(): Promise<this> {
    await this.poll();
    this.timer = setInterval(() => void this.poll(), this.everyMs);
    return this;
  }

  targets = (): number[] => {
    const ready = this.ports.filter((p) => this.ready.get(p) === true);
    return ready.length > 0 ? ready : [...this.ports];
  };

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  private async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      await Promise.all(
        this.ports.map(async (port) => {
          try {
            const res = await fetch(`http://127.0.0.1:${port}/health/ready`, {
              signal: AbortSignal.timeout(1000),
            });
            await res.arrayBuffer();
            this.ready.set(port, res.status === 200);
          } catch {
            this.ready.set(port, false);
          }
        }),
      );
    } finally {
      this.polling = false;
    }
  }
}

/** One publication as the library handed it to the application. */
export interface Delivered {
  kind: 'event';
  name: string;
  id: string;
  positions: Record<string, StreamPosition>;
  unpositioned: boolean;
  replayed: boolean;
  /** Date.now() when delivered. */
  at: number;
}

export type TimelineEntry = Delivered | ({ kind: 'resync'; at: number } & ResyncEvent);

/**
 * A TradingClient (the library under test) with everything it tells the application recorded in one timeline:
 * deliveries and resyncs in the order they happened, plus connections, disconnects and errors.
 */
export class RecordingClient {
  readonly client: TradingClient;
  readonly timeline: TimelineEntry[] = [];
  readonly errors: Error[] = [];
  readonly connects: Array<{ reconnect: boolean; at: number }> = [];
  readonly disconnects: Array<{ reason: string; willReconnect: boolean; at: number }> = [];

  constructor(
    readonly userId: string,
    url: string,
    portfolios: string[],
    options: Partial<TradingClientOptions> = {},
  ) {
    this.client = new TradingClient({
      url,
      token: () => makeToken(userId, portfolios),
      ackTimeoutMs: 3000,
      connectTimeoutMs: 10_000,
      ...options,
      socketOptions: {
        transports: ['websocket'],
        reconnectionDelay: 100,
        reconnectionDelayMax: 500,
        timeout: 3000,
        ...options.socketOptions,
      },
    });
    const record = (name: string) => (event: PublicationFields) =>
      this.timeline.push({
        kind: 'event',
        name,
        id: event.id,
        positions: event.positions ?? {},
        unpositioned: event.unpositioned === true,
        replayed: event.replayed === true,
        at: Date.now(),
      });
    this.client.on('portfolio:update', record('portfolio:update'));
    this.client.on('trade:executed', record('trade:executed'));
    this.client.on('resync', (event) => this.timeline.push({ kind: 'resync', at: Date.now(), ...event }));
    this.client.on('error', (error) => this.errors.push(error));
    this.client.on('connected', ({ reconnect }) => this.connects.push({ reconnect, at: Date.now() }));
    this.client.on('disconnected', ({ reason, willReconnect }) =>
      this.disconnects.push({ reason, willReconnect, at: Date.now() }),
    );
  }

  /** Every delivery, in order. */
  get deliveries(): Delivered[] {
    return this.timeline.filter((e): e is Delivered => e.kind === 'event');
  }

  /** Deliveries positioned in `stream`, with their position there. */
  deliveredIn(stream: string): Array<Delivered & { position: StreamPosition }> {
    return this.deliveries
      .filter((d) => d.positions[stream] !== undefined)
      .map((d) => ({ ...d, position: d.positions[stream] }));
  }

  resyncs(stream?: string): Array<{ kind: 'resync'; at: number } & ResyncEvent> {
    return this.timeline.filter(
      (e): e is { kind: 'resync'; at: number } & ResyncEvent =>
        e.kind === 'resync' && (stream === undefined || e.stream === stream),
    );
  }

  /** True once the library has delivered `position` of `stream` (or later in that epoch). */
  reached(stream: string, position: StreamPosition): boolean {
    const at = this.client.position(stream);
    return at !== undefined && at.epoch === position.epoch && at.offset >= position.offset;
  }

  close(): void {
    this.client.close();
  }
}

/** The answer to one POST /events, with when it was sent and answered. */
export interface Publication {
  seq: number;
  via: string;
  status: number;
  id?: string;
  positions: Record<string, StreamPosition>;
  degraded: boolean;
  sentAt: number;
  answeredAt: number;
}

/** POST /events to one replica: single publications, or a steady rate for a while (bounded). */
export class Publisher {
  readonly publications: Publication[] = [];
  private seq = 0;

  constructor(
    readonly via: string,
    private readonly url: string,
    private readonly token: string,
  ) {}

  async publish(body: Record<string, unknown>): Promise<Publication> {
    const seq = this.seq++;
    const sentAt = Date.now();
    let publication: Publication;
    try {
      const res = await fetch(`${this.url}/events`, {
        method: 'POST',
        headers: { authorization: `Bearer ${this.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ ...body, data: { ...(body.data as object), seq, via: this.via } }),
        signal: AbortSignal.timeout(5000),
      });
      const answer = (await res.json()) as {
        id?: string;
        positions?: Record<string, StreamPosition>;
        degraded?: boolean;
      };
      publication = {
        seq,
        via: this.via,
        status: res.status,
        id: answer.id,
        positions: answer.positions ?? {},
        degraded: answer.degraded === true,
        sentAt,
        answeredAt: Date.now(),
      };
    } catch {
      publication = {
        seq,
        via: this.via,
        status: -1,
        positions: {},
        degraded: true,
        sentAt,
        answeredAt: Date.now(),
      };
    }
    this.publications.push(publication);
    return publication;
  }

  /**
   * Publishes `perSecond` times a second (in 20 ms ticks, catching up on late ticks) for `durationMs`, with at
   * most `maxInFlight` requests waiting for an answer (a publishing service's connection pool: a slow server
   * slows the publisher down instead of piling requests up); resolves once every answer is in.
   */
  async steady(
    body: Record<string, unknown>,
    perSecond: number,
    durationMs: number,
    maxInFlight = 16,
  ): Promise<void> {
    const total = Math.round((perSecond * durationMs) / 1000);
    const started = Date.now();
    const inFlight = new Set<Promise<Publication>>();
    let sent = 0;
    // Bounded: every turn either sends or waits 20 ms, and stops at `total` or twice the planned duration.
    while (sent < total && Date.now() - started < 2 * durationMs + 1000) {
      const due = Math.min(total, Math.floor(((Date.now() - started) * perSecond) / 1000) + 1);
      for (; sent < due && inFlight.size < maxInFlight; sent++) {
        const p: Promise<Publication> = this.publish(body).finally(() => inFlight.delete(p));
        inFlight.add(p);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    await Promise.all(inFlight);
  }
}

/** Every position the publish answers gave in `stream`: epoch → offset → publication id. */
export function truthOf(publications: Publication[], stream: string): Map<string, Map<number, string>> {
  const truth = new Map<string, Map<number, string>>();
  for (const p of publications) {
    const position = p.positions[stream];
    if (position === undefined || p.id === undefined) continue;
    let epoch = truth.get(position.epoch);
    if (epoch === undefined) truth.set(position.epoch, (epoch = new Map()));
    epoch.set(position.offset, p.id);
  }
  return truth;
}

/** The last position answered in `stream` (by answer time), or undefined. */
export function lastPosition(publications: Publication[], stream: string): StreamPosition | undefined {
  let last: Publication | undefined;
  for (const p of publications)
    if (p.positions[stream] !== undefined && (last === undefined || p.answeredAt >= last.answeredAt))
      last = p;
  return last?.positions[stream];
}

/**
 * How a client's deliveries in `stream` compare with the stream's history from `from` to `to` (one epoch):
 * everything empty and `count` = to - from + 1 when it got exactly that history, once each, in order.
 */
export function compareWithHistory(
  deliveries: Array<{ id: string; position: StreamPosition }>,
  epochTruth: Map<number, string>,
  from: number,
  to: number,
): { count: number; outOfOrder: number[]; duplicates: string[]; missing: number[]; wrongId: number[] } {
  const outOfOrder: number[] = [];
  const duplicates: string[] = [];
  const wrongId: number[] = [];
  const seenIds = new Set<string>();
  const seenOffsets = new Set<number>();
  let previous = -Infinity;
  for (const d of deliveries) {
    if (d.position.offset <= previous) outOfOrder.push(d.position.offset);
    previous = Math.max(previous, d.position.offset);
    if (seenIds.has(d.id)) duplicates.push(d.id);
    seenIds.add(d.id);
    seenOffsets.add(d.position.offset);
    if (epochTruth.get(d.position.offset) !== d.id) wrongId.push(d.position.offset);
  }
  const missing: number[] = [];
  for (let offset = from; offset <= to; offset++) if (!seenOffsets.has(offset)) missing.push(offset);
  return {
    count: deliveries.length,
    outOfOrder: outOfOrder.slice(0, 10),
    duplicates: duplicates.slice(0, 10),
    missing: missing.slice(0, 10),
    wrongId: wrongId.slice(0, 10),
  };
}

/** Waits (bounded) until every client has delivered `position` of `stream`. */
export async function allReached(
  clients: RecordingClient[],
  stream: string,
  position: StreamPosition,
  timeoutMs: number,
): Promise<void> {
  try {
    await waitFor(() => clients.every((c) => c.reached(stream, position)), timeoutMs, 50);
  } catch {
    const behind = clients
      .filter((c) => !c.reached(stream, position))
      .map((c) => `${c.userId} at ${JSON.stringify(c.client.position(stream))}`);
    throw new Error(
      `not every client reached ${JSON.stringify(position)} of ${stream}: ${behind.join(', ')}`,
    );
  }
}

/** A seeded pseudo-random generator (mulberry32), so a failing run can be replayed with the seed it printed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
