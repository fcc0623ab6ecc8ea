/** A Map keyed by uuid that can also pick a random entry in O(1) (for the change generator). */
export class Table<T extends { uuid: string }> {
  private readonly map = new Map<string, T>();
  private readonly keys: string[] = [];
  private readonly pos = new Map<string, number>();

  get size(): number {
    return this.map.size;
  }

  get(uuid: string): T | undefined {
    return this.map.get(uuid);
  }

  has(uuid: string): boolean {
    return this.map.has(uuid);
  }

  /** Inserts or replaces. */
  set(rec: T): void {
    if (!this.map.has(rec.uuid)) {
      this.pos.set(rec.uuid, this.keys.length);
      this.keys.push(rec.uuid);
    }
    this.map.set(rec.uuid, rec);
  }

  delete(uuid: string): boolean {
    const i = this.pos.get(uuid);
    if (i === undefined) return false;
    const last = this.keys.pop() as string;
    if (last !== uuid) {
      this.keys[i] = last;
      this.pos.set(last, i);
    }
    this.pos.delete(uuid);
    this.map.delete(uuid);
    return true;
  }

  clear(): void {
    this.map.clear();
    this.pos.clear();
    this.keys.length = 0;
  }

  values(): IterableIterator<T> {
    return this.map.values();
  }

  /** A random record (rand() in [0,1)), or undefined when empty. */
  random(rand: () => number): T | undefined {
    if (this.keys.length === 0) return undefined;
    return this.map.get(this.keys[Math.floor(rand() * this.keys.length)]);
  }
}
