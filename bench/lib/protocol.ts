import type { HistogramData } from './histogram';

/** Messages between the orchestrator (bench/run.ts) and a client worker (bench/client-worker.ts). */

export interface ConnectArgs {
  /** A name for this group of sockets, so one worker can hold several groups (e.g. bare and ours at once). */
  group: string;
  url: string;
  count: number;
  /** First user index: users are `${userPrefix}${index}`, one distinct user per socket. */
  firstIndex: number;
  userPrefix: string;
  portfolioId: string;
  /** Send one portfolio:subscribe per socket after connecting and wait for its ack. */
  subscribe: boolean;
  /** Connects in flight at once. */
  concurrency: number;
  jwtSecret: string;
  /** Count portfolio:update deliveries and their latency (fan-out). */
  listen: boolean;
}

export interface ConnectResult {
  connected: number;
  failed: number;
  firstError?: string;
  /** From the first connect attempt to the last connect (tokens are signed before the clock starts). */
  elapsedMs: number;
  cpuMs: number;
}

export interface AckLoopArgs {
  group: string;
  durationMs: number;
  /** Target acks per second for this worker, or null for one ack in flight per socket as fast as it goes. */
  ratePerSec: number | null;
  portfolioId: string;
}

export interface AckLoopResult {
  acks: number;
  errors: number;
  firstError?: string;
  elapsedMs: number;
  hist: HistogramData;
  cpuMs: number;
}

export interface FanoutCollectArgs {
  group: string;
  step: number;
}

export interface FanoutCollectResult {
  received: number;
  hist: HistogramData;
  cpuMs: number;
}

export interface DropsResult {
  connected: number;
  disconnects: number;
  reasons: Record<string, number>;
}

export interface SlowConsumerArgs {
  /** A name to stop it by. */
  name: string;
  url: string;
  userId: string;
  portfolioId: string;
  jwtSecret: string;
  /** How often it sends a blind engine.io pong (`3`) once it has stopped reading. */
  pongEveryMs: number;
}

export interface SlowConsumerReport {
  /** Pongs whose write failed: the server had closed the connection. */
  failedPongs: number;
  /** The connection closed or errored, as far as a client that does not read can tell. */
  closedSeen: boolean;
}

export type Command =
  | { cmd: 'connect'; args: ConnectArgs }
  | { cmd: 'ackLoop'; args: AckLoopArgs }
  | { cmd: 'fanoutCollect'; args: FanoutCollectArgs }
  | { cmd: 'drops'; args: { group: string } }
  | { cmd: 'close'; args: { group: string } }
  | { cmd: 'slowConsumerStart'; args: SlowConsumerArgs }
  | { cmd: 'slowConsumerStop'; args: { name: string } };

export interface Request {
  id: number;
  command: Command;
}

export interface Reply {
  id: number;
  ok: boolean;
  result?: unknown;
  error?: string;
}

/** What a fan-out message carries in `data`, padded to about 100 bytes of JSON. */
export interface FanoutData {
  step: number;
  /** performance.timeOrigin + performance.now() at the publisher, in ms (comparable across processes). */
  sentAt: number;
  pad: string;
}
