/** Nearest-rank quantile (q in 0..1) of unsorted values; NaN when there are none. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

/**
 * 95% bootstrap interval of the median: resamples the values with replacement (a fixed-seed
 * generator, so a rerun on the same figures prints the same interval).
 */
export function medianInterval(values: readonly number[], resamples = 2000): [number, number] {
  if (values.length === 0) return [NaN, NaN];
  let seed = 0x2545f491;
  const next = () => { seed ^= seed << 13; seed ^= seed >>> 17; seed ^= seed << 5; return (seed >>> 0) / 2 ** 32; };
  const medians: number[] = [];
  for (let r = 0; r < resamples; r++) {
    medians.push(quantile(Array.from(values, () => values[Math.floor(next() * values.length)]), 0.5));
  }
  return [quantile(medians, 0.025), quantile(medians, 0.975)];
}
