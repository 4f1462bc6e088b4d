interface Link<T> {
  value: T;
  older: Link<T> | undefined;
  newer: Link<T> | undefined;
}

/**
 * A set in least-recently-used order: `touch` makes a member the newest,
 * `oldest` is the next to evict. Every operation is O(1). (A Map used as an
 * LRU, deleting at its head and appending at its tail, leaves deleted slots
 * that `keys().next()` walks over each time: O(n) per eviction until V8
 * compacts it.)
 */
export class LruSet<T> {
  private readonly links = new Map<T, Link<T>>();
  private head: Link<T> | undefined;
  private tail: Link<T> | undefined;

  get size(): number {
    return this.links.size;
  }

  has(value: T): boolean {
    return this.links.has(value);
  }

  /** Add `value` as the newest member, or move it there. */
  touch(value: T): void {
    let link = this.links.get(value);
    if (link === undefined) {
      link = { value, older: undefined, newer: undefined };
      this.links.set(value, link);
    } else {
      if (link === this.tail) return;
      this.unlink(link);
    }
    link.older = this.tail;
    if (this.tail !== undefined) this.tail.newer = link;
    this.tail = link;
    this.head ??= link;
  }

  delete(value: T): boolean {
    const link = this.links.get(value);
    if (link === undefined) return false;
    this.unlink(link);
    this.links.delete(value);
    return true;
  }

  /** Every value, least recently used first. */
  *values(): IterableIterator<T> {
    for (let link = this.head; link !== undefined; link = link.newer) yield link.value;
  }

  oldest(): T | undefined {
    return this.head?.value;
  }

  private unlink(link: Link<T>): void {
    if (link.older !== undefined) link.older.newer = link.newer;
    else this.head = link.newer;
    if (link.newer !== undefined) link.newer.older = link.older;
    else this.tail = link.older;
    link.older = undefined;
    link.newer = undefined;
  }
}
