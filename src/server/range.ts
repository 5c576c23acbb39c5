/**
 * The `Range` request header (RFC 9110 §14), reduced to what an artifact download needs: one
 * byte range, or the whole file. Several ranges in one request are refused with 416 rather
 * than answered with a multipart body: no update client asks for them, and a list of many
 * small ranges is a classic way to make a server work hard for nothing.
 */

export type RangeRequest =
  /** No usable Range: send the whole file with 200. */
  | { kind: "full" }
  /** One range, `start` inclusive, `end` exclusive, within the file. */
  | { kind: "partial"; start: number; end: number }
  /** A valid range that lies past the end of the file: 416. */
  | { kind: "unsatisfiable" }
  /** More than one range: 416 (see above). */
  | { kind: "multiple" };

/** Longer headers are not a single range of a file we could hold; they are ignored. */
const MAX_RANGE_HEADER = 200;
const spec = /^(\d{0,16})-(\d{0,16})$/;

/**
 * Interprets a Range header against a file of `size` bytes. A header in another unit or
 * with broken syntax is ignored, as RFC 9110 allows, and the whole file is sent: a client
 * that resumes checks for 206 and never appends a 200 body.
 */
export function parseRange(header: string | null | undefined, size: number): RangeRequest {
  if (header === null || header === undefined) return { kind: "full" };
  if (header.length > MAX_RANGE_HEADER) {
    return header.includes(",") ? { kind: "multiple" } : { kind: "full" };
  }
  const match = /^\s*bytes\s*=\s*(.*)$/i.exec(header);
  if (!match) return { kind: "full" };
  // (.*) always takes part in a match
  const parts = match[1]!.split(",").map((part) => part.trim()).filter((part) => part !== "");
  if (parts.length === 0) return { kind: "full" };
  if (parts.length > 1) {
    return parts.every((part) => spec.test(part)) ? { kind: "multiple" } : { kind: "full" };
  }
  const one = spec.exec(parts[0]!); // exactly one part here
  if (!one || (one[1] === "" && one[2] === "")) return { kind: "full" };
  if (one[1] === "") {
    // Suffix range: the last N bytes.
    const length = Number(one[2]);
    if (length === 0 || size === 0) return { kind: "unsatisfiable" };
    return { kind: "partial", start: Math.max(0, size - length), end: size };
  }
  const start = Number(one[1]);
  const last = one[2] === "" ? Infinity : Number(one[2]);
  if (last < start) return { kind: "full" };
  if (start >= size) return { kind: "unsatisfiable" };
  return { kind: "partial", start, end: Math.min(size, last + 1) };
}
