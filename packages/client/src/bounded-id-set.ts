/** A set of ids that forgets the oldest once it holds `capacity`, so memory stays flat on a long-lived connection. */
export class BoundedIdSet {
  private readonly ids = new Set<string>();

  constructor(private readonly capacity: number) {
    if (!Number.isSafeInteger(capacity) || capacity < 1)
      throw new RangeError('capacity must be a positive integer');
  }

  has(id: string): boolean {
    return this.ids.has(id);
  }

  add(id: string): void {
    if (this.ids.has(id)) return;
    this.ids.add(id);
    if (this.ids.size > this.capacity) {
      const oldest = this.ids.values().next();
      if (!oldest.done) this.ids.delete(oldest.value);
    }
  }

  get size(): number {
    return this.ids.size;
  }
}
