/** Small seedable PRNG (mulberry32) with the helpers the generator needs. */
import { randomBytes } from "node:crypto";

export class Rng {
  private state: number;

  constructor(seed?: number) {
    this.state = (seed ?? randomBytes(4).readUInt32LE(0)) >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Integer in [min, max] inclusive. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error("pick from empty list");
    return items[Math.floor(this.next() * items.length)];
  }

  /** A random (version 4) UUID drawn from this generator, so seeded runs are reproducible. */
  uuid(): string {
    let hex = "";
    for (let i = 0; i < 4; i++)
      hex += Math.floor(this.next() * 0x100000000)
        .toString(16)
        .padStart(8, "0");
    const variant = ((parseInt(hex[16] ?? "0", 16) & 0x3) | 0x8).toString(16);
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
  }
}
