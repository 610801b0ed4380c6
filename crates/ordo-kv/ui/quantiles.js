// Quantiles from histogram buckets, the way Prometheus' histogram_quantile
// estimates them: find the bucket holding the rank, interpolate linearly
// inside it. Buckets are per-bucket counts (not cumulative), +Inf last.

/** Per-bucket differences `now - then` (both from the same node). */
export function bucketDeltas(then, now) {
  return now.counts.map((count, i) => Math.max(0, count - (then.counts[i] ?? 0)));
}

/**
 * The `q` quantile (0..1) in seconds of `counts` over `bounds` (upper bounds
 * of the finite buckets); null when there is no observation. A rank in the
 * +Inf bucket answers the last finite bound (all we know is "above it").
 */
export function quantile(bounds, counts, q) {
  const total = counts.reduce((sum, count) => sum + count, 0);
  if (total === 0) return null;
  const rank = q * total;
  let below = 0;
  for (let i = 0; i < counts.length; i += 1) {
    const inBucket = counts[i];
    if (below + inBucket >= rank && inBucket > 0) {
      if (i >= bounds.length) return bounds[bounds.length - 1];
      const lower = i === 0 ? 0 : bounds[i - 1];
      const upper = bounds[i];
      return lower + (upper - lower) * ((rank - below) / inBucket);
    }
    below += inBucket;
  }
  return bounds[bounds.length - 1];
}
