/** Counts what a leak scan covered per place (bytes, items) and every needle found, with where. */
import type { Needle } from './leak-needles.js';

export interface Hit {
  readonly place: string;
  /** The item or file it was found in. */
  readonly where: string;
  readonly needle: string;
}

export interface PlaceCoverage {
  readonly place: string;
  readonly items: number;
  readonly bytes: number;
}

export class LeakScan {
  private readonly coverage = new Map<string, { items: number; bytes: number }>();
  readonly hits: Hit[] = [];

  constructor(readonly needles: readonly Needle[]) {}

  /** One item (a file, a store item, a log) of `place`. */
  scan(place: string, where: string, bytes: Buffer): void {
    const covered = this.coverage.get(place) ?? { items: 0, bytes: 0 };
    this.coverage.set(place, { items: covered.items + 1, bytes: covered.bytes + bytes.length });
    for (const needle of this.needles) if (bytes.includes(needle.bytes)) this.hits.push({ place, where, needle: needle.label });
  }

  covered(): PlaceCoverage[] {
    return [...this.coverage].map(([place, { items, bytes }]) => ({ place, items, bytes }));
  }
}
