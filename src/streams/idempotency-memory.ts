/** A remembered Idempotency-Key: the first request's body hash and answer. */
export interface IdempotencyEntry {
  bodyHash: string;
  result: string;
}

/**
 * Idempotency-Keys remembered by this process: all of them without Redis, and the ones first seen while Redis
 * was unreachable (their publication was delivered here only, so only here can a repeat be caught). Bounded:
 * past `maxKeys` the oldest are forgotten first (Map iteration is insertion order).
 */
export class MemoryIdempotency {
  private readonly entries = new Map<string, IdempotencyEntry & { expiresAt: number }>();

  constructor(
    private readonly ttlMs: number,
    private readonly maxKeys = 100_000,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  get(keyHash: string): IdempotencyEntry | null {
    const e = this.entries.get(keyHash);
    if (e === undefined) return null;
    if (e.expiresAt <= this.now()) {
      this.entries.delete(keyHash);
      return null;
    }
    return e;
  }

  set(keyHash: string, entry: IdempotencyEntry): void {
    this.entries.delete(keyHash);
    this.entries.set(keyHash, { ...entry, expiresAt: this.now() + this.ttlMs });
    while (this.entries.size > this.maxKeys) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
  }

  sweep(): void {
    const now = this.now();
    for (const [k, e] of this.entries) if (e.expiresAt <= now) this.entries.delete(k);
  }
}
