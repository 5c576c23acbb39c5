/**
 * zstd through zstd's own C library compiled to WebAssembly (scripts/zstd_wasm.ts), for the
 * runtimes whose node:zlib has none. Like xz.ts it is driven one output buffer per pull: each
 * pull runs ZSTD_decompressStream (or ZSTD_compressStream2) into a fixed buffer, again while
 * that buffer comes back full, and feeds the next piece of input only once zstd has flushed
 * what it could from the last; a small block that expands to gigabytes never piles up.
 *
 * Each stream gets its own instance and memory, dropped when the stream ends, so what one
 * stream grew is not held by the process afterwards. The memory's maximum bounds what zstd may
 * allocate: a window of 2^27 bytes (128 MiB) and the buffers around it.
 */
import { OtaError } from "../errors.ts";
import type { ByteStream } from "../streams.ts";
import { zstdWasmBinary } from "./zstd_wasm_binary.ts";

interface ZstdExports {
  malloc(size: number): number;
  ZSTD_isError(result: number): number;
  ZSTD_getErrorCode(result: number): number;
  ZSTD_getErrorName(result: number): number;
  ZSTD_createDStream(): number;
  ZSTD_DCtx_setParameter(dctx: number, param: number, value: number): number;
  ZSTD_decompressStream(dctx: number, output: number, input: number): number;
  ZSTD_createCCtx(): number;
  ZSTD_CCtx_setParameter(cctx: number, param: number, value: number): number;
  ZSTD_compressStream2(cctx: number, output: number, input: number, end: number): number;
}

/**
 * The largest window accepted: zstd's own default limit (ZSTD_WINDOWLOG_LIMIT_DEFAULT), which
 * `zstd -d` applies unless given --long or --memory, and node:zlib applies too, so the native
 * path and this one refuse the same frames. ota writes windows of at most 8 MiB (level 19).
 */
export const ZSTD_WINDOW_LOG_MAX = 27;
const PAGE = 64 * 1024;
/** As linked (scripts/zstd_wasm.ts, --initial-memory): the stack, the data, a first heap. */
const INITIAL_PAGES = 16;
/** The window, zstd's context and buffers around it (8 MiB); level 19 needs about 90 MiB. */
const MAXIMUM_PAGES = ((1 << ZSTD_WINDOW_LOG_MAX) + 8 * 1024 * 1024) / PAGE;
const IN_SIZE = 128 * 1024;
const OUT_SIZE = 256 * 1024;

const ZSTD_d_windowLogMax = 100;
const ZSTD_c_compressionLevel = 100;
const ZSTD_e_continue = 0;
const ZSTD_e_end = 2;
const ZSTD_error_frameParameter_windowTooLarge = 16;

export function zstdWindowTooLarge(): OtaError {
  return new OtaError(
    "ZSTD_WINDOW_TOO_LARGE",
    `zstd data needs a window larger than ${
      (1 << ZSTD_WINDOW_LOG_MAX) >> 20
    } MiB to decompress (written with zstd --long=28 or more); refusing it`,
  );
}

let compiled: WebAssembly.Module | undefined;

/**
 * One instance with its own memory, and the two buffer descriptors zstd reads and updates:
 * ZSTD_inBuffer { src, size, pos } and ZSTD_outBuffer { dst, size, pos }, 32-bit words.
 */
class Zstd {
  readonly x: ZstdExports;
  readonly #memory: WebAssembly.Memory;
  readonly inBuffer: number;
  readonly outBuffer: number;
  readonly input: number;
  readonly output: number;
  #bytes: Uint8Array;
  #words: Uint32Array;

  constructor() {
    compiled ??= new WebAssembly.Module(zstdWasmBinary() as BufferSource);
    this.#memory = new WebAssembly.Memory({ initial: INITIAL_PAGES, maximum: MAXIMUM_PAGES });
    const instance = new WebAssembly.Instance(compiled, { env: { memory: this.#memory } });
    this.x = instance.exports as unknown as ZstdExports;
    this.#bytes = new Uint8Array(this.#memory.buffer);
    this.#words = new Uint32Array(this.#memory.buffer);
    this.inBuffer = this.alloc(12);
    this.outBuffer = this.alloc(12);
    this.input = this.alloc(IN_SIZE);
    this.output = this.alloc(OUT_SIZE);
    this.setInput(new Uint8Array(0));
  }

  alloc(size: number): number {
    const pointer = this.x.malloc(size);
    if (!pointer) throw this.error(0, "out of WebAssembly memory");
    return pointer;
  }

  /** The memory's views, renewed after it grew (growing detaches the old buffer). */
  bytes(): Uint8Array {
    if (this.#bytes.buffer !== this.#memory.buffer) {
      this.#bytes = new Uint8Array(this.#memory.buffer);
    }
    return this.#bytes;
  }

  words(): Uint32Array {
    if (this.#words.buffer !== this.#memory.buffer) {
      this.#words = new Uint32Array(this.#memory.buffer);
    }
    return this.#words;
  }

  /** Copies `chunk` into the input buffer and points ZSTD_inBuffer at it. */
  setInput(chunk: Uint8Array): void {
    this.bytes().set(chunk, this.input);
    const w = this.words(), i = this.inBuffer >> 2;
    w[i] = this.input;
    w[i + 1] = chunk.byteLength;
    w[i + 2] = 0;
  }

  inputLeft(): number {
    const w = this.words(), i = this.inBuffer >> 2;
    return w[i + 1]! - w[i + 2]!;
  }

  resetOutput(): void {
    const w = this.words(), o = this.outBuffer >> 2;
    w[o] = this.output;
    w[o + 1] = OUT_SIZE;
    w[o + 2] = 0;
  }

  /** A copy of what the last call wrote into the output buffer. */
  takeOutput(): Uint8Array {
    const produced = this.words()[(this.outBuffer >> 2) + 2]!;
    return this.bytes().slice(this.output, this.output + produced);
  }

  /** Throws zstd's error if `result` is one; otherwise returns it. */
  check(result: number): number {
    if (!this.x.ZSTD_isError(result)) return result;
    if (this.x.ZSTD_getErrorCode(result) === ZSTD_error_frameParameter_windowTooLarge) {
      throw zstdWindowTooLarge();
    }
    throw this.error(result);
  }

  error(result: number, detail = this.errorName(result)): OtaError {
    return new OtaError("ZSTD_CORRUPT", `zstd data: ${detail}`);
  }

  errorName(result: number): string {
    const bytes = this.bytes(), start = this.x.ZSTD_getErrorName(result);
    const end = bytes.indexOf(0, start);
    return new TextDecoder().decode(bytes.subarray(start, end < 0 ? start : end));
  }
}

/** Reads the input in pieces of at most IN_SIZE bytes. */
function pieces(input: ByteStream) {
  const reader = input.getReader();
  let pending: Uint8Array | undefined;
  return {
    async next(): Promise<Uint8Array | undefined> {
      while (!pending?.byteLength) {
        const next = await reader.read();
        if (next.done) return undefined;
        pending = next.value;
      }
      const piece = pending.subarray(0, IN_SIZE);
      pending = pending.subarray(piece.byteLength);
      return piece;
    },
    cancel: (reason: unknown) => reader.cancel(reason).catch(() => {}),
  };
}

/**
 * Decompresses every frame of the input, one after the other, as `zstd -d` does (skippable
 * frames are skipped). Input that ends inside a frame is an error; empty input is no frames
 * and no output, as node:zlib has it.
 */
export function zstdWasmDecompress(input: ByteStream): ByteStream {
  const source = pieces(input);
  let z: Zstd | undefined;
  let dctx = 0;
  let outputFull = false;
  let inFrame = false;
  return new ReadableStream<Uint8Array>({
    start() {
      z = new Zstd();
      dctx = z.x.ZSTD_createDStream();
      if (!dctx) throw z.error(0, "out of WebAssembly memory");
      z.check(z.x.ZSTD_DCtx_setParameter(dctx, ZSTD_d_windowLogMax, ZSTD_WINDOW_LOG_MAX));
    },
    async pull(controller) {
      try {
        while (z) {
          // zstd has flushed all it can from the input it has: time for more
          if (!outputFull && z.inputLeft() === 0) {
            const piece = await source.next();
            if (!piece) {
              z = undefined;
              if (inFrame) {
                throw new OtaError("ZSTD_CORRUPT", "zstd data is truncated: a frame ends early");
              }
              controller.close();
              return;
            }
            z.setInput(piece);
          }
          const before = z.inputLeft();
          z.resetOutput();
          const hint = z.check(z.x.ZSTD_decompressStream(dctx, z.outBuffer, z.inBuffer));
          const output = z.takeOutput();
          outputFull = output.byteLength === OUT_SIZE;
          // 0: a frame ended and is flushed. A call that took and gave nothing (after a full
          // buffer that happened to end the frame) says nothing about frames.
          if (output.byteLength > 0 || z.inputLeft() !== before) inFrame = hint !== 0;
          if (output.byteLength > 0) {
            controller.enqueue(output);
            return;
          }
        }
      } catch (error) {
        z = undefined;
        await source.cancel(error);
        throw error;
      }
    },
    async cancel(reason) {
      z = undefined;
      await source.cancel(reason);
    },
  }, { highWaterMark: 0 });
}

/** One zstd frame at `level` (1..19), no checksum (node:zlib's defaults). */
export function zstdWasmCompress(input: ByteStream, level: number): ByteStream {
  const source = pieces(input);
  let z: Zstd | undefined;
  let cctx = 0;
  let ending = false;
  return new ReadableStream<Uint8Array>({
    start() {
      z = new Zstd();
      cctx = z.x.ZSTD_createCCtx();
      if (!cctx) throw z.error(0, "out of WebAssembly memory");
      z.check(z.x.ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level));
    },
    async pull(controller) {
      try {
        while (z) {
          if (!ending && z.inputLeft() === 0) {
            const piece = await source.next();
            if (piece) z.setInput(piece);
            else ending = true;
          }
          z.resetOutput();
          const mode = ending ? ZSTD_e_end : ZSTD_e_continue;
          const left = z.check(z.x.ZSTD_compressStream2(cctx, z.outBuffer, z.inBuffer, mode));
          const output = z.takeOutput();
          if (output.byteLength > 0) controller.enqueue(output);
          if (ending && left === 0) {
            z = undefined;
            controller.close();
            return;
          }
          if (output.byteLength > 0) return;
        }
      } catch (error) {
        z = undefined;
        await source.cancel(error);
        throw error;
      }
    },
    async cancel(reason) {
      z = undefined;
      await source.cancel(reason);
    },
  }, { highWaterMark: 0 });
}
