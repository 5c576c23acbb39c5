/**
 * Which pieces of the new image come from where: a block of zeros is written as zeros, a
 * block the running slot holds is copied from it, and a piece with any other block is
 * fetched, its compressed bytes being the smallest unit the artifact can be read in. Fetched
 * pieces that lie close together in the artifact share one request (the few pieces between
 * them come along and are used as they are); the tail of the payload (the end of its tar
 * and of the artifact) is fetched last, to check that nothing follows the image.
 */
import {
  type AdaptiveIndex,
  blockCount,
  hashOrdinal,
  isZeroBlock,
  pieceCount,
  pieceStart,
} from "../artifact/adaptive_index.ts";
import type { SlotScan } from "./scan.ts";

/** Where block i comes from: an offset in the running slot, ZERO, or FETCH. */
export const ZERO = -1;
export const FETCH = -2;

/** A request: units `[first, last]` (pieces; unit `pieces` is the tail), bytes `[start, end)`. */
export interface Span {
  first: number;
  last: number;
  start: number;
  end: number;
}

export interface Plan {
  /** Per hashed block: 1 + the block of the running slot it is copied from, or 0 (fetched). */
  sources: Uint32Array;
  /** Per hashed block copied: the CRC-32 its source had when it was hashed. */
  crcs: Uint32Array;
  /** Per piece: 1 when fetched. */
  fetched: Uint8Array;
  /** Requests in artifact order; the last one ends with the tail. */
  spans: Span[];
  /** Bytes of the image that need no fetch (copied or zeros). */
  reused: number;
  /** Bytes to fetch, compressed as stored. */
  fetchBytes: number;
}

/** Gaps of this many artifact bytes or fewer between fetched pieces are fetched too. */
export const MAX_GAP = 32 * 1024;

/** Requests at most: beyond, pieces are fetched with more of what lies between them. */
export const MAX_REQUESTS = 8192;

/** The requests the fetched pieces take with gaps up to `maxGap` merged. */
function requests(fetched: Uint8Array, unitStart: (u: number) => number, maxGap: number) {
  let count = 0;
  let end = -Infinity;
  for (let p = 0; p <= fetched.length; p++) {
    if (p < fetched.length && !fetched[p]) continue;
    if (unitStart(p) - end > maxGap) count++;
    end = unitStart(p + 1 <= fetched.length ? p + 1 : p);
  }
  return count;
}

/** Where block `i` comes from: its offset in the running slot, ZERO or FETCH. */
export function sourceOf(index: AdaptiveIndex, plan: Plan, i: number): number {
  if (isZeroBlock(index, i)) return ZERO;
  const source = plan.sources[hashOrdinal(index, i)]!;
  return source === 0 ? FETCH : (source - 1) * index.blockSize;
}

/**
 * The plan for an image of `index` over the running slot's blocks (it takes over the scan's
 * arrays). `dataOffset` and `fileSize` place the payload member in the artifact.
 */
export function makePlan(
  index: AdaptiveIndex,
  scan: SlotScan,
  dataOffset: number,
  fileSize: number,
  maxGap = MAX_GAP,
): Plan {
  const { found: sources, crcs } = scan;
  // a repeated block comes from where its first occurrence was found
  for (let k = 0; k < sources.length; k++) {
    const first = scan.table.find(index.hashes, k * index.hashBytes);
    if (first !== k) {
      sources[k] = sources[first]!;
      crcs[k] = crcs[first]!;
    }
  }
  const blocks = blockCount(index);
  const pieces = pieceCount(index);
  const perPiece = index.pieceSize / index.blockSize;
  const fetched = new Uint8Array(pieces);
  for (let p = 0, k = 0; p < pieces; p++) {
    for (let i = p * perPiece; i < Math.min(blocks, (p + 1) * perPiece); i++) {
      if (isZeroBlock(index, i)) continue;
      if (sources[k++] === 0) fetched[p] = 1;
    }
  }
  const unitStart = (u: number) => dataOffset + pieceStart(index, u); // u <= pieces
  // pieces far apart in many requests: the gap grows until they are few (memory and time)
  while (requests(fetched, unitStart, maxGap) > MAX_REQUESTS) maxGap *= 2;
  const spans: Span[] = [];
  for (let p = 0; p <= pieces; p++) {
    if (p < pieces && !fetched[p]) continue;
    const end = p < pieces ? unitStart(p + 1) : fileSize;
    const last = spans.at(-1);
    if (last && unitStart(p) - last.end <= maxGap) {
      fetched.fill(1, last.last + 1, p);
      last.last = p;
      last.end = end;
    } else spans.push({ first: p, last: p, start: unitStart(p), end });
  }
  let reused = 0;
  for (let p = 0; p < pieces; p++) {
    if (fetched[p]) continue;
    reused += Math.min(index.pieceSize, index.size - p * index.pieceSize);
  }
  const fetchBytes = spans.reduce((n, s) => n + s.end - s.start, 0);
  return { sources, crcs, fetched, spans, reused, fetchBytes };
}
