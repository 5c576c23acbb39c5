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
  blockHash,
  pieceCount,
} from "../artifact/adaptive_index.ts";
import { hashKey, type SlotScan, zeroKey } from "./scan.ts";

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
  /** Per block: its source in the running slot, ZERO or FETCH. */
  sources: Float64Array;
  /** Per block copied: the CRC-32 its source had when it was hashed. */
  crcs: Uint32Array;
  /** Per piece: fetched. */
  fetched: boolean[];
  /** Requests in artifact order; the last one ends with the tail. */
  spans: Span[];
  /** Bytes of the image that need no fetch (copied or zeros). */
  reused: number;
  /** Bytes to fetch, compressed as stored. */
  fetchBytes: number;
}

/** Gaps of this many artifact bytes or fewer between fetched pieces are fetched too. */
export const MAX_GAP = 32 * 1024;

/**
 * The plan for an image of `index` over the running slot's blocks. `dataOffset` and
 * `fileSize` place the payload member in the artifact.
 */
export function makePlan(
  index: AdaptiveIndex,
  scan: SlotScan,
  dataOffset: number,
  fileSize: number,
  maxGap = MAX_GAP,
): Plan {
  const blocks = blockCount(index);
  const zero = zeroKey(index.blockSize);
  const sources = new Float64Array(blocks);
  const crcs = new Uint32Array(blocks);
  for (let i = 0; i < blocks; i++) {
    const key = hashKey(blockHash(index, i));
    // a short last block is never a whole block of zeros
    const short = i === blocks - 1 && index.size % index.blockSize !== 0;
    const found = key === zero && !short ? undefined : scan.found.get(key);
    sources[i] = key === zero && !short ? ZERO : found?.offset ?? FETCH;
    crcs[i] = found?.crc ?? 0;
  }
  const pieces = pieceCount(index);
  const perPiece = index.pieceSize / index.blockSize;
  const fetched = Array.from({ length: pieces }, (_, p) => {
    for (let i = p * perPiece; i < Math.min(blocks, (p + 1) * perPiece); i++) {
      if (sources[i] === FETCH) return true;
    }
    return false;
  });
  const unitStart = (u: number) => dataOffset + index.pieceOffsets[u]!; // u <= pieces
  const spans: Span[] = [];
  for (let p = 0; p <= pieces; p++) {
    if (p < pieces && !fetched[p]) continue;
    const end = p < pieces ? unitStart(p + 1) : fileSize;
    const last = spans.at(-1);
    if (last && unitStart(p) - last.end <= maxGap) {
      for (let q = last.last + 1; q < p; q++) fetched[q] = true;
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
