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
import {
  type AdaptiveIndex,
  hashOrdinal,
  isZeroBlock,
  pieceCount,
  pieceSpan,
  pieceStart,
} from "../artifact/adaptive_index.ts";
import { fingerprint } from "../artifact/block_hash.ts";
import { OtaError } from "../errors.ts";
import { collectEvery } from "../platform.ts";
import type { ByteStream } from "../streams.ts";
import { checkLead, checkTail, decodePiece } from "./pieces.ts";
import type { Plan, Span } from "./plan.ts";
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
/**
 * Bytes of new buffers (fetched chunks, decompressed pieces) between collections: each MiB
 * more is a MiB more at peak, each collection a few ms.
 */
const COLLECT = 4 * 1024 * 1024;
/** Node 20 (the armv7 build) cannot take a buffer back: a new one per run there. */
const canTransfer = typeof ArrayBuffer.prototype.transfer === "function";

/**
 * One buffer for chunk after chunk. Each time it is taken back from the chunk last handed
 * out, which is detached (reads as empty) from then on: a consumer that held on to a chunk
 * could never see it change after it was hashed.
 */
class ReusedBuffer {
  #buffer?: ArrayBuffer;

  constructor(readonly least: number) {}

  /** `length` bytes (what they held is undefined). */
  take(length: number): Uint8Array {
    if (!canTransfer || !this.#buffer || this.#buffer.byteLength < length) {
      this.#buffer = new ArrayBuffer(Math.max(this.least, length));
    } else this.#buffer = this.#buffer.transfer();
    return new Uint8Array(this.#buffer, 0, length);
  }
}

/** Reads the units (pieces, then the tail) of one request in order, with re-asks. */
class SpanReader {
  #body?: RangedBody;
  #reader?: ReadableStreamDefaultReader<Uint8Array>;
  #opening?: Promise<void>;
  /** What the last chunk of the response held past the unit read. */
  #rest: Uint8Array = new Uint8Array(0);

  constructor(readonly span: Span, readonly o: AssembleOptions, readonly shared: Shared) {}

  #start(unit: number): number {
    return this.o.layout.offset + pieceStart(this.o.index, unit); // unit <= pieces
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
    const out = this.shared.stored.take(end - this.#start(unit));
    for (let have = 0; have < out.byteLength;) {
      if (this.#rest.byteLength === 0) {
        const next = await this.#reader!.read(); // opened above
        if (next.done) throw new OtaError("ADAPTIVE_MISMATCH", "a range ended early");
        this.#rest = next.value;
        this.shared.collect(next.value.byteLength); // each chunk is a new buffer
      }
      const n = Math.min(out.byteLength - have, this.#rest.byteLength);
      out.set(this.#rest.subarray(0, n), have);
      this.#rest = this.#rest.subarray(n);
      have += n;
    }
    return out;
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
        this.shared.stats.refetched++;
        await this.#open(unit);
      }
    }
  }

  async #drop(): Promise<void> {
    const reader = this.#reader;
    this.#reader = undefined;
    this.#rest = new Uint8Array(0);
    await reader?.cancel().catch(() => {});
  }

  async close(): Promise<void> {
    const opening = this.#opening;
    this.#opening = undefined;
    await opening?.catch(() => {});
    await this.#drop();
  }
}

/** What the readers of one assembly share. */
interface Shared {
  stats: AssembleStats;
  /** The stored bytes of a unit, one after the other. */
  stored: ReusedBuffer;
  /** Counts bytes of new buffers, and collects them as they add up. */
  collect: (bytes: number) => void;
}

class Assembly implements Shared {
  readonly stats: AssembleStats = { copied: 0, zeros: 0, repaired: 0, refetched: 0 };
  readonly stored = new ReusedBuffer(65536);
  readonly collect = collectEvery(COLLECT);
  /** What runs of copied pieces are read into, one run after the other. */
  readonly #run: ReusedBuffer;
  #next = 0;
  #reader?: SpanReader;

  /** The next request, sent ahead: one is read while the one after it is under way. */
  #upcoming?: SpanReader;

  constructor(readonly o: AssembleOptions, readonly slot: fs.FileHandle) {
    this.#run = new ReusedBuffer(Math.max(RUN, o.index.pieceSize));
    this.#sendNext();
  }

  #sendNext(): void {
    const span = this.o.plan.spans[this.#next++];
    this.#upcoming = span && new SpanReader(span, this.o, this);
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

  /** Piece `p` from the artifact: a new buffer when decompressed, else the stored bytes. */
  async fetched(p: number): Promise<Uint8Array> {
    const piece = await (await this.#readerFor(p)).read(p, (s) => decodePiece(this.o.index, p, s));
    if (this.o.index.compression !== "none") this.collect(piece.byteLength);
    return piece;
  }

  /**
   * Pieces `[from, to)`, none of them fetched: copied and made. Each copied block must still
   * have the CRC-32 it had when its SHA-256 was found in the index (the running slot may
   * have changed since); the image's SHA-256 is checked at the end all the same.
   */
  async local(from: number, to: number): Promise<Uint8Array> {
    const { index, plan } = this.o;
    const size = index.blockSize;
    const start = pieceSpan(index, from).start;
    const out = this.#run.take(pieceSpan(index, to - 1).end - start);
    const first = start / size;
    const blocks = Math.ceil(out.byteLength / size);
    for (let i = 0, k = hashOrdinal(index, first); i < blocks;) {
      if (isZeroBlock(index, first + i)) {
        const at = i * size;
        out.fill(0, at, at + size);
        this.stats.zeros += Math.min(size, out.byteLength - at);
        i++;
        continue;
      }
      const source = plan.sources[k]!;
      if (source === 0) throw new OtaError("INTERNAL", "a fetched block in a copied piece");
      let n = 1; // blocks that lie one after the other in the running slot too
      while (
        i + n < blocks && !isZeroBlock(index, first + i + n) && plan.sources[k + n] === source + n
      ) n++;
      const at = i * size;
      const length = Math.min(n * size, out.byteLength - at);
      await this.slot.read(out, at, length, (source - 1) * size);
      this.stats.copied += length;
      i += n;
      k += n;
    }
    for (let p = from; p < to; p++) {
      const span = pieceSpan(index, p);
      for (let at = span.start, k = hashOrdinal(index, at / size); at < span.end; at += size) {
        const b = at / size;
        if (isZeroBlock(index, b)) continue;
        const block = out.subarray(at - start, Math.min(span.end, at + size) - start);
        if (fingerprint(block) === plan.crcs[k++]) continue;
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
    const at = (u: number) => this.o.layout.offset + pieceStart(this.o.index, u);
    const span: Span = { first: p, last: p, start: at(p), end: at(p + 1) };
    const reader = new SpanReader(span, this.o, this);
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
  const count = pieceCount(o.index);
  for (let p = 0; p < count;) {
    let bytes: Uint8Array;
    if (o.plan.fetched[p]) {
      bytes = await assembly.fetched(p++);
    } else {
      let to = p + 1;
      while (to < count && !o.plan.fetched[to] && (to - p) * o.index.pieceSize < RUN) to++;
      bytes = await assembly.local(p, to);
      p = to;
    }
    whole.update(bytes);
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

/**
 * The image as a stream (see the top of the file), and what it took once it ended. A chunk
 * of copied blocks is good until the next chunk is read (its memory is reused and the chunk
 * detached): the partition writer copies each one before it reads on.
 */
export async function assembleImage(
  o: AssembleOptions,
): Promise<{ stream: ByteStream; stats: AssembleStats }> {
  const leadRange = {
    start: o.layout.offset,
    end: o.layout.offset + pieceStart(o.index, 0),
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
