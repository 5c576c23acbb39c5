/** Pauses between attempts: doubling from a first delay up to a cap, and Retry-After. */

export interface Backoff {
  /** Pause before the first retry; it doubles with each failure in a row. */
  firstMs: number;
  /** Longest pause. */
  maxMs: number;
}

/** The pause before retry number `failures` (1-based) of a run of failures. */
export function backoffDelay(backoff: Backoff, failures: number): number {
  if (failures <= 0) return 0;
  return Math.min(backoff.maxMs, backoff.firstMs * 2 ** (failures - 1));
}

/** Seconds of a `Retry-After` header in its delta form; a date or junk gives undefined. */
export function retryAfterSeconds(header: string | null): number | undefined {
  if (header === null || !/^\s*\d{1,9}\s*$/.test(header)) return undefined;
  return Number(header);
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
