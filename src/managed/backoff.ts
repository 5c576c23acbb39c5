/**
 * Mender's retry schedule for polls, inventory and status reports: start at one minute, use
 * each interval three times, then double it, up to the longest interval
 * (RetryPollIntervalSeconds); after three tries at the longest one it gives up, unless
 * RetryPollCount sets the number of tries. As in Mender 5, a longest interval shorter than a
 * minute becomes the smallest one too (3.4 never waits less than a minute).
 */

export const SMALLEST_INTERVAL_MS = 60_000;
const TRIES_PER_INTERVAL = 3;

/**
 * How long to wait before try number `tried + 1` (`tried` failures so far, counted from 0),
 * or undefined when the tries are used up.
 */
export function backoffInterval(
  tried: number,
  maxIntervalMs: number,
  maxTries = 0,
  smallestMs = SMALLEST_INTERVAL_MS,
): number | undefined {
  if (maxTries > 0 && tried >= maxTries) return undefined;
  let interval = Math.min(smallestMs, maxIntervalMs);
  for (let count = TRIES_PER_INTERVAL; count <= tried; count += TRIES_PER_INTERVAL) {
    const next = Math.min(interval * 2, maxIntervalMs);
    if (maxTries <= 0 && next === interval) return undefined;
    interval = next;
  }
  return interval;
}

/** The schedule in seconds for a configuration, for logs and documentation. */
export function backoffSchedule(maxIntervalMs: number, maxTries = 0, limit = 50): number[] {
  const out: number[] = [];
  for (let tried = 0; tried < limit; tried++) {
    const interval = backoffInterval(tried, maxIntervalMs, maxTries);
    if (interval === undefined) break;
    out.push(interval / 1000);
  }
  return out;
}

/**
 * The daemon's schedule for its configuration. `smallestMs` stands in for Mender's minute only
 * in tests (OTA_TEST_BACKOFF_UNIT_MS), which run the same schedule in seconds.
 */
export function retrySchedule(
  config: { RetryPollIntervalSeconds: number; RetryPollCount: number },
  smallestMs = SMALLEST_INTERVAL_MS,
): (tried: number) => number | undefined {
  return (tried) =>
    backoffInterval(
      tried,
      config.RetryPollIntervalSeconds * 1000,
      config.RetryPollCount,
      smallestMs,
    );
}
