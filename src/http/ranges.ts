/**
 * Several byte ranges of one file, read with as few requests as sense allows: ranges that
 * overlap or lie closer than `maxGap` bytes share one request (the gap is read and
 * dropped), each request is a resumable body (resumable.ts) and all of them are held to the
 * validators of the first, so every piece comes from the same file. Servers are asked for one
 * range per request: ota serve, like many servers, refuses multipart range requests.
 */
import { type BodyOptions, openBody } from "./resumable.ts";

/** Bytes `[start, end)`. */
export interface ByteRange {
  start: number;
  end: number;
}

/** Sorts and merges ranges that overlap, touch, or lie at most `maxGap` bytes apart. */
export function coalesceRanges(ranges: ByteRange[], maxGap = 0): ByteRange[] {
  for (const r of ranges) {
    if (!Number.isSafeInteger(r.start) || !Number.isSafeInteger(r.end) || r.start < 0) {
      throw new RangeError(`invalid byte range [${r.start}, ${r.end})`);
    }
  }
  const sorted = ranges.filter((r) => r.end > r.start).sort((a, b) => a.start - b.start);
  const merged: ByteRange[] = [];
  for (const range of sorted) {
    const last = merged.at(-1);
    if (last && range.start <= last.end + maxGap) last.end = Math.max(last.end, range.end);
    else merged.push({ ...range });
  }
  return merged;
}

/** A piece of the bytes asked for: `bytes` lie at `offset` in the file. */
export interface RangePiece {
  offset: number;
  bytes: Uint8Array;
}

/**
 * Yields the bytes of `ranges` (their union, in file order) in pieces. Resumes, retries and
 * refusals are those of one body; a file that changes between requests is refused
 * (SOURCE_CHANGED) because each request carries the first one's ETag in If-Range.
 */
export async function* readRanges(
  options: BodyOptions,
  ranges: ByteRange[],
  { maxGap = 64 * 1024 }: { maxGap?: number } = {},
): AsyncGenerator<RangePiece> {
  const wanted = coalesceRanges(ranges);
  let validators = options.validators;
  let next = 0; // the first wanted range not yet passed
  for (const span of coalesceRanges(wanted, maxGap)) {
    const body = await openBody({ ...options, validators }, span);
    validators = body.validators;
    let position = span.start;
    for await (const chunk of body.stream) {
      const chunkEnd = position + chunk.byteLength;
      for (let i = next; i < wanted.length && wanted[i]!.start < chunkEnd; i++) {
        const want = wanted[i]!;
        const from = Math.max(want.start, position);
        const to = Math.min(want.end, chunkEnd);
        if (to > from) {
          yield { offset: from, bytes: chunk.subarray(from - position, to - position) };
        }
        if (want.end <= chunkEnd) next = i + 1;
      }
      position = chunkEnd;
    }
  }
}
