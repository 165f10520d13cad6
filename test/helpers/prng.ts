/**
 * mulberry32: a small seeded PRNG returning numbers in [0, 1), so randomized tests fail the same way
 * every run and benchmarks work on the same input every run. Not for anything that needs real randomness.
 */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}
