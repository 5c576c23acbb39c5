/**
 * Conditional requests (RFC 9110 §13): `If-None-Match` for a cache or a client that already
 * has the file, `If-Range` so a resumed download only continues the same bytes. The ETag is
 * the file's SHA-256, so every peer serving the same artifact gives the same ETag, and a
 * download begun on one peer can be resumed on another.
 */

export function etagFor(sha256: string): string {
  return `"${sha256}"`;
}

/** The entity tags of an `If-None-Match` / `If-Match` list; `*` stays `*`. */
function tags(header: string): string[] {
  return header.split(",").map((tag) => tag.trim().replace(/^W\//, "")).filter(Boolean);
}

/** True when `If-None-Match` matches (weak comparison): answer 304. */
export function notModified(ifNoneMatch: string | null, etag: string): boolean {
  if (!ifNoneMatch) return false;
  const list = tags(ifNoneMatch);
  return list.includes("*") || list.includes(etag);
}

/**
 * True when a Range may be honoured under `If-Range`: no If-Range, the same strong ETag,
 * or exactly the Last-Modified date. Anything else means "the file changed, send it all".
 */
export function rangeStillValid(
  ifRange: string | null,
  etag: string,
  lastModified: string,
): boolean {
  if (ifRange === null) return true;
  const value = ifRange.trim();
  if (value.startsWith('"')) return value === etag;
  if (value.startsWith("W/")) return false;
  return value === lastModified;
}
