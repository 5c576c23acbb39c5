/**
 * The tar library (modern-tar) throws plain Errors without a code. A truncated archive is
 * the one failure ota reports differently (ARTIFACT_TRUNCATED: fetch it again, rather than
 * "corrupt"), and the library says so only in its wording. This is the one place that reads
 * it; the bad-input tests with cut-off artifacts fail if a new release words it otherwise.
 */
export function isTarTruncation(error: unknown): boolean {
  const message = error instanceof Error ? error.message : String(error);
  return /truncat|unexpected end/i.test(message);
}
