import { readFileSync } from 'node:fs';
import { RawEngineClient } from './raw-engine-client';
import { makeToken } from './socket-client';

export interface NonReadingOptions {
  /** Send an engine.io pong ('3') this often without reading anything: the blind heartbeat of a stuck client. */
  pongEveryMs: number;
  /** Stop ponging after this many, so a test that goes wrong still ends. */
  maxPongs: number;
}

/**
 * The slow consumer of issue reports: an authenticated client that subscribes to a portfolio, then never reads
 * its socket again (its kernel receive buffer fills, then the server's send buffer) while it keeps answering the
 * heartbeat with pongs sent blind on a timer. Usable from e2e specs and from a benchmark alike.
 */
export class NonReadingClient {
  pongsSent = 0;
  private timer: NodeJS.Timeout | null = null;

  private constructor(readonly raw: RawEngineClient) {}

  static async subscribe(
    url: string,
    userId: string,
    portfolioId: string,
    options: NonReadingOptions,
  ): Promise<NonReadingClient> {
    const raw = await RawEngineClient.open(url);
    await raw.connectAs(makeToken(userId, [portfolioId]));
    const ack = await raw.emitWithAck(1, 'portfolio:subscribe', { portfolioId });
    if ((ack[0] as { ok?: unknown } | undefined)?.ok !== true) {
      raw.terminate();
      throw new Error(`subscribe refused: ${JSON.stringify(ack)}`);
    }
    raw.stopReading();
    const client = new NonReadingClient(raw);
    client.timer = setInterval(() => client.pong(options.maxPongs), options.pongEveryMs);
    return client;
  }

  /** True while it still sends pongs (it stops after maxPongs, or when stopped). */
  get ponging(): boolean {
    return this.timer !== null;
  }

  stopPonging(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /**
   * Starts reading again and resolves with the close code once the connection is found closed; rejects if it is
   * still open after `timeoutMs` (a condition wait with a deadline, not a timing check).
   */
  async resumeAndWaitClosed(timeoutMs: number): Promise<{ code: number; reason: string }> {
    this.stopPonging();
    this.raw.ws.resume();
    return this.raw.closedWithin(timeoutMs);
  }

  terminate(): void {
    this.stopPonging();
    this.raw.terminate();
  }

  private pong(maxPongs: number): void {
    if (this.pongsSent >= maxPongs || !this.raw.isOpen) return this.stopPonging();
    this.pongsSent++;
    this.raw.send('3');
  }
}

/** Resident set size of a process, in bytes, from /proc (Linux). */
export function processRssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  if (kb === null) throw new Error(`no VmRSS for process ${pid}`);
  return Number(kb[1]) * 1024;
}

/** The largest size, in bytes, this machine lets one TCP socket's send or receive buffer grow to (Linux). */
export function tcpBufferMaxBytes(kind: 'wmem' | 'rmem'): number {
  const fields = readFileSync(`/proc/sys/net/ipv4/tcp_${kind}`, 'utf8').trim().split(/\s+/);
  return Number(fields[2]);
}
