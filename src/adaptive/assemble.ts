/**
 * The new image, assembled in order as one stream: runs of pieces the running slot holds are
 * copied from it, zeros are made, the other pieces come from the artifact by byte range.
 * Every block is checked against the signed index as it passes: a copied block that no
 * longer matches (the running slot changed since it was hashed) is fetched instead; a
 * fetched piece that does not match drops the origin that sent it and is asked of another.
 * The stream closes only after the whole image matched the manifest's checksum, the one a
 * full download is held to; otherwise it errors, as a payload file's stream does.
 */
import { createHash } from "node:crypto";
import { promises as fs } from "node:fs";
import { type AdaptiveIndex, pieceCount, pieceSpan } from "../artifact/adaptive_index.ts";
import { OtaError } from "../errors.ts";
import { collectEvery } from "../platform.ts";
import type { ByteStream } from "../streams.ts";
import { checkLead, checkTail, decodePiece } from "./pieces.ts";
import { FETCH, type Plan, type Span, ZERO } from "./plan.ts";
import { fingerprint } from "./scan.ts";
import type { ArtifactRanges, PayloadLayout, RangedBody } from "./ranged_source.ts";

export interface AssembleOptions {
  index: AdaptiveIndex;
  plan: Plan;
  layout: PayloadLayout;
  ranges: ArtifactRanges;
  /** A readable path of the running slot. */
  activePath: string;
  /** The image's SHA-256 from the manifest. */
  sha256: string;
  onEvent?: (message: string) => void;
}

export interface AssembleStats {
  copied: number;
  zeros: number;
  /** Pieces fetched alone because the running slot no longer held them. */
  repaired: number;
  /** Pieces asked of another origin after a mismatch. */
  refetched: number;
}

/** Tries per piece before the adaptive install gives up. */
const TRIES = 4;
/** Pieces the running slot may have lost before a full download is cheaper. */
const MAX_REPAIRS = 64;
/** Bytes copied from the running slot per chunk of the stream. */
const RUN = 1024 * 1024;

/** Reads the units (pieces, then the tail) of one request in order, with re-asks. */
class SpanReader {
  #body?: RangedBody;
  #reader?: ReadableStreamDefaultReader<Uint8Array>;
  #opening?: Promise<void>;
  #buffer: Uint8Array = new Uint8Array(0);

  constructor(readonly span: Span, readonly o: AssembleOptions, readonly stats: AssembleStats) {}

  #start(unit: number): number {
    return this.o.layout.offset + this.o.index.pieceOffsets[unit]!; // unit <= pieces
  }

  async #open(unit: number): Promise<void> {
    await this.#drop();
    this.#body = await this.o.ranges.open({ start: this.#start(unit), end: this.span.end });
    this.#reader = this.#body.stream.getReader();
  }

  /** Sends the request now, to be read later: it is under way while other pieces are copied. */
  prefetch(): void {
    this.#opening ??= this.#open(this.span.first);
    this.#opening.catch(() => {}); // awaited, and reported, when the request is read
  }

  /** The stored bytes of `unit`, read from the current request. */
  async #unit(unit: number): Promise<Uint8Array> {
    if (this.#opening) {
      const opening = this.#opening;
      this.#opening = undefined;
      await opening;
    }
    if (!this.#reader) await this.#open(unit);
    const end = unit < pieceCount(this.o.index) ? this.#start(unit + 1) : this.span.end;
    const length = end - this.#start(unit);
    const chunks: Uint8Array[] = [this.#buffer];
    let have = this.#buffer.byteLength;
    while (have < length) {
      const next = await this.#reader!.read(); // opened above
      if (next.done) throw new OtaError("ADAPTIVE_MISMATCH", "a range ended early");
      chunks.push(next.value);
      have += next.value.byteLength;
    }
    const all = chunks.length === 1 ? chunks[0]! : concatAll(chunks, have);
    this.#buffer = all.subarray(length);
    return all.subarray(0, length);
  }

  /** Reads `unit` and checks it with `decode`; blames and re-asks on a mismatch. */
  async read<T>(unit: number, decode: (stored: Uint8Array) => T): Promise<T> {
    for (let attempt = 1;; attempt++) {
      try {
        return decode(await this.#unit(unit));
      } catch (error) {
        if (!(error instanceof OtaError) || error.code !== "ADAPTIVE_MISMATCH") throw error;
        const culprits = this.#body?.contributors() ?? [];
        const another = culprits.length > 0 &&
          culprits.map((url) => this.o.ranges.blame(url, error.message)).every(Boolean);
        if (!another || attempt >= TRIES) throw error;
        this.o.onEvent?.(`${culprits.join(", ")}: ${error.message}; asking another peer`);
        this.stats.refetched++;
        await this.#open(unit);
        this.#buffer = new Uint8Array(0);
      }
    }
  }

  async #drop(): Promise<void> {
    const reader = this.#reader;
    this.#reader = undefined;
    this.#buffer = new Uint8Array(0);
    await reader?.cancel().catch(() => {});
  }

  async close(): Promise<void> {
    const opening = this.#opening;
    this.#opening = undefined;
    await opening?.catch(() => {});
    await this.#drop();
  }
}

function concatAll(chunks: Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.byteLength;
  }
  return out;
}

class Assembly {
  readonly stats: AssembleStats = { copied: 0, zeros: 0, repaired: 0, refetched: 0 };
  #next = 0;
  #reader?: SpanReader;

  /** The next request, sent ahead: one is read while the one after it is under way. */
  #upcoming?: SpanReader;

  constructor(readonly o: AssembleOptions, readonly slot: fs.FileHandle) {
    this.#sendNext();
  }

  #sendNext(): void {
    const span = this.o.plan.spans[this.#next++];
    this.#upcoming = span && new SpanReader(span, this.o, this.stats);
    this.#upcoming?.prefetch();
  }

  /** The reader of the request holding `unit` (requests are taken in order). */
  async #readerFor(unit: number): Promise<SpanReader> {
    while (!this.#reader || unit > this.#reader.span.last) {
      await this.#reader?.close();
      if (!this.#upcoming) throw new OtaError("INTERNAL", `no request covers piece ${unit}`);
      this.#reader = this.#upcoming;
      this.#sendNext();
    }
    return this.#reader;
  }

  async fetched(p: number): Promise<Uint8Array> {
    return await (await this.#readerFor(p)).read(p, (s) => decodePiece(this.o.index, p, s));
  }

  /**
   * Pieces `[from, to)`, none of them fetched: copied and made. Each copied block must still
   * have the CRC-32 it had when its SHA-256 was found in the index (the running slot may
   * have changed since); the image's SHA-256 is checked at the end all the same.
   */
  async local(from: number, to: number): Promise<Uint8Array> {
    const { index, plan } = this.o;
    const start = pieceSpan(index, from).start;
    const out = new Uint8Array(pieceSpan(index, to - 1).end - start);
    const first = start / index.blockSize;
    const blocks = Math.ceil(out.byteLength / index.blockSize);
    for (let i = 0; i < blocks;) {
      const source = plan.sources[first + i]!;
      if (source === ZERO) {
        this.stats.zeros += Math.min(index.blockSize, out.byteLength - i * index.blockSize);
        i++;
        continue;
      }
      if (source === FETCH) throw new OtaError("INTERNAL", "a fetched block in a copied piece");
      let n = 1; // blocks that lie one after the other in the running slot too
      while (i + n < blocks && plan.sources[first + i + n] === source + n * index.blockSize) n++;
      const at = i * index.blockSize;
      const length = Math.min(n * index.blockSize, out.byteLength - at);
      await this.slot.read(out, at, length, source);
      this.stats.copied += length;
      i += n;
    }
    for (let p = from; p < to; p++) {
      const span = pieceSpan(index, p);
      for (let at = span.start; at < span.end; at += index.blockSize) {
        const block = out.subarray(at - start, Math.min(span.end, at + index.blockSize) - start);
        const b = at / index.blockSize;
        if (plan.sources[b] === ZERO || fingerprint(block) === plan.crcs[b]) continue;
        out.set(await this.repair(p), span.start - start);
        break;
      }
    }
    return out;
  }

  /** A piece the running slot no longer holds: fetched alone. */
  async repair(p: number): Promise<Uint8Array> {
    if (++this.stats.repaired > MAX_REPAIRS) {
      throw new OtaError(
        "ADAPTIVE_MISMATCH",
        `the running slot no longer holds more than ${MAX_REPAIRS} of the pieces it held`,
      );
    }
    const offsets = this.o.index.pieceOffsets;
    const start = this.o.layout.offset + offsets[p]!;
    const span: Span = { first: p, last: p, start, end: this.o.layout.offset + offsets[p + 1]! };
    const reader = new SpanReader(span, this.o, this.stats);
    try {
      return await reader.read(p, (s) => decodePiece(this.o.index, p, s));
    } finally {
      await reader.close();
    }
  }

  async tail(): Promise<void> {
    const unit = pieceCount(this.o.index);
    await (await this.#readerFor(unit)).read(unit, (s) => checkTail(this.o.index, s));
  }

  async close(): Promise<void> {
    await this.#reader?.close();
    await this.#upcoming?.close();
  }
}

async function* pieces(o: AssembleOptions, assembly: Assembly): AsyncGenerator<Uint8Array> {
  const whole = createHash("sha256");
  // every run and piece is a new buffer: collected as the payload reader's are (payload.ts)
  const collect = collectEvery(32 * 1024 * 1024);
  const count = pieceCount(o.index);
  for (let p = 0; p < count;) {
    let bytes: Uint8Array;
    if (o.plan.fetched[p]) bytes = await assembly.fetched(p++);
    else {
      let to = p + 1;
      while (to < count && !o.plan.fetched[to] && (to - p) * o.index.pieceSize < RUN) to++;
      bytes = await assembly.local(p, to);
      p = to;
    }
    whole.update(bytes);
    collect(bytes.byteLength);
    yield bytes;
  }
  await assembly.tail();
  const digest = whole.digest("hex");
  if (digest !== o.sha256) {
    throw new OtaError(
      "ADAPTIVE_MISMATCH",
      `the assembled image has SHA-256 ${digest}, not the manifest's ${o.sha256}`,
    );
  }
}

/** The image as a stream (see the top of the file), and what it took once it ended. */
export async function assembleImage(
  o: AssembleOptions,
): Promise<{ stream: ByteStream; stats: AssembleStats }> {
  const leadRange = {
    start: o.layout.offset,
    end: o.layout.offset + o.index.pieceOffsets[0]!, // there is always a first offset
  };
  const stored = o.ranges.cached(leadRange) ??
    new Uint8Array(await new Response((await o.ranges.open(leadRange)).stream).arrayBuffer());
  checkLead(o.index, stored);
  const slot = await fs.open(o.activePath, "r");
  const assembly = new Assembly(o, slot);
  const generator = pieces(o, assembly);
  const release = async () => {
    await assembly.close();
    await slot.close().catch(() => {});
  };
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const next = await generator.next();
        if (next.done) {
          await release();
          controller.close();
        } else controller.enqueue(next.value);
      } catch (error) {
        await release();
        throw error;
      }
    },
    async cancel() {
      await generator.return(undefined);
      await release();
    },
  }, { highWaterMark: 0 });
  return { stream, stats: assembly.stats };
}
