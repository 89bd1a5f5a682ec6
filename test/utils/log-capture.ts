import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { waitFor } from './socket-client';

/** Captures what the app writes to stdout (pino writes JSON lines there) while still letting tests parse it. */
export class LogCapture {
  private readonly chunks: string[] = [];
  private original: typeof process.stdout.write | null = null;

  start(passthrough = false): this {
    const original = process.stdout.write.bind(process.stdout);
    this.original = process.stdout.write;
    process.stdout.write = (chunk: string | Uint8Array, ...rest: unknown[]) => {
      this.chunks.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
      return passthrough ? original(chunk, ...(rest as [])) : true;
    };
    return this;
  }

  stop(): void {
    if (this.original) process.stdout.write = this.original;
    this.original = null;
  }

  get text(): string {
    return this.chunks.join('');
  }

  /** Every JSON line written so far. */
  get lines(): Array<Record<string, unknown>> {
    return parseJsonLines(this.text);
  }

  find(message: string): Array<Record<string, unknown>> {
    return this.lines.filter((l) => l.message === message);
  }

  /** The first line that matches, once it has been written (the app logs after the response has gone out). */
  async waitForLine(
    match: (line: Record<string, unknown>) => boolean,
    timeoutMs = 5000,
  ): Promise<Record<string, unknown>> {
    let found: Record<string, unknown> | undefined;
    await waitFor(() => (found = this.lines.find(match)) !== undefined, timeoutMs);
    return found as Record<string, unknown>;
  }
}

/**
 * Makes one more request and waits for its own request line (a 404, logged at info): once that is written, what
 * the earlier requests logged has been written too. Lets a test assert that something was *not* logged without
 * a fixed sleep. The app must log at info.
 */
export async function logBarrier(url: string, logs: LogCapture, timeoutMs = 5000): Promise<void> {
  const id = `log-barrier-${randomUUID()}`;
  await request(url).get('/log-barrier').set('x-request-id', id).expect(404);
  await logs.waitForLine((l) => l.requestId === id, timeoutMs);
}

/** The JSON objects among a process's output lines (pino writes one per line); other lines are skipped. */
export function parseJsonLines(text: string): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      out.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      // a partial line at the end of a chunk
    }
  }
  return out;
}
