/**
 * mulberry32: a tiny seeded PRNG, uniform in [0, 1): the same seed, the same sequence. One copy
 * for the tests (chaos runner, fold) and the benches (kill points by seed); plain JS so that
 * both plain node and the TypeScript tests import it.
 */
export function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
