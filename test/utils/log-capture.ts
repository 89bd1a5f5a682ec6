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
    return this.text
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => {
        try {
          return JSON.parse(l) as Record<string, unknown>;
        } catch {
          return {};
        }
      });
  }

  find(message: string): Array<Record<string, unknown>> {
    return this.lines.filter((l) => l.message === message);
  }
}
