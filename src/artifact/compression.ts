/**
 * The four compressions of Mender Artifacts, chosen only by a member's name suffix:
 * `.tar` none, `.tar.gz` gzip, `.tar.xz` xz (mender-artifact calls it lzma), `.tar.zst` zstd.
 *
 * Every decompressor here is pull-based: it produces output only as fast as the consumer
 * reads, so memory stays flat even for data that expands a thousandfold.
 */
import { once } from "node:events";
import type { Transform } from "node:stream";
import { zlib } from "../builtins.ts";
import { asOtaError, fail } from "../errors.ts";
import type { ByteStream } from "../streams.ts";
import { gzipBlocks } from "./gzip_blocks.ts";
import { xzCompress, xzDecompress } from "./xz.ts";
import { zstdWasmCompress, zstdWasmDecompress, zstdWindowTooLarge } from "./zstd_wasm.ts";

export const compressions = ["none", "gzip", "xz", "zstd"] as const;
export type Compression = typeof compressions[number];

const suffixes: Record<Compression, string> = { none: "", gzip: ".gz", xz: ".xz", zstd: ".zst" };

export function compressionSuffix(compression: Compression): string {
  return suffixes[compression];
}

/** Splits `header.tar.gz` into `header.tar` and `gzip`; undefined for unknown suffixes. */
export function splitCompressedName(
  name: string,
): { base: string; compression: Compression } | undefined {
  for (const compression of ["gzip", "xz", "zstd"] as const) {
    const suffix = suffixes[compression];
    if (name.endsWith(`.tar${suffix}`)) {
      return { base: name.slice(0, -suffix.length), compression };
    }
  }
  return name.endsWith(".tar") ? { base: name, compression: "none" } : undefined;
}

/** The names mender-artifact's `--compression` flag uses, mapped to ours. */
export function parseCompressionName(name: string): Compression {
  switch (name) {
    case "none":
      return "none";
    case "gzip":
    case "gz":
      return "gzip";
    case "lzma":
    case "xz":
      return "xz";
    case "zstd":
    case "zstd_fastest":
    case "zstd_fast":
    case "zstd_better":
    case "zstd_best":
      return "zstd";
    default:
      return fail(
        "BAD_COMPRESSION",
        `unknown compression "${name}"; use one of none, gzip, lzma (xz), zstd`,
      );
  }
}

export interface DecompressOptions {
  /** Memory the xz decoder may use; bigger dictionaries are refused. */
  xzMemlimit: number;
}

export function decompress(
  input: ByteStream,
  compression: Compression,
  options: DecompressOptions,
): ByteStream {
  switch (compression) {
    case "none":
      return input;
    // 256 KiB output chunks: a quarter of the per-chunk work of 64 KiB ones on the main
    // thread (measured: 10-15% less CPU there for a 256 MiB payload), same peak memory.
    case "gzip":
      return pumpNodeTransform(input, zlib().createGunzip({ chunkSize: 256 * 1024 }), "gzip");
    case "zstd":
      if (!nativeZstd()) return zstdWasmDecompress(input);
      return pumpNodeTransform(
        input,
        zlib().createZstdDecompress({ chunkSize: 256 * 1024 }),
        "zstd",
      );
    case "xz":
      return xzDecompress(input, { memlimit: options.xzMemlimit });
  }
}

export interface CompressOptions {
  /** 1 (fastest) .. 9 (smallest); each compression's own default when absent. */
  level?: number;
  /** gzip: independent blocks compressed in parallel (for large data; see gzip_blocks.ts). */
  blocks?: boolean;
}

export function compress(
  input: ByteStream,
  compression: Compression,
  options: CompressOptions = {},
): ByteStream {
  const level = options.level;
  switch (compression) {
    case "none":
      return input;
    case "gzip":
      if (options.blocks) return gzipBlocks(input, level ?? 6);
      return pumpNodeTransform(input, zlib().createGzip({ level: level ?? 6 }), "gzip");
    case "zstd": {
      if (!nativeZstd()) return zstdWasmCompress(input, zstdLevel(level));
      const params = { [zlib().constants.ZSTD_c_compressionLevel]: zstdLevel(level) };
      return pumpNodeTransform(input, zlib().createZstdCompress({ params }), "zstd");
    }
    case "xz":
      return xzCompress(input, level ?? 6);
  }
}

let forceZstdWasm = false;

/** For tests: zstd through the WebAssembly build even where node:zlib has it. */
export function useZstdWasm(force: boolean): void {
  forceZstdWasm = force;
}

/**
 * zstd comes from node:zlib where it has it (Bun, Deno, Node >= 22.15), else from zstd
 * compiled to WebAssembly (zstd_wasm.ts): Node 20, the armv7 executable.
 */
function nativeZstd(): boolean {
  return !forceZstdWasm && typeof zlib().createZstdDecompress === "function";
}

/** Maps the 1..9 scale onto zstd's 1..19; zstd's own default (3) when unset. */
function zstdLevel(level: number | undefined): number {
  return level === undefined ? 3 : Math.max(1, Math.min(19, Math.round(level * 19 / 9)));
}

/**
 * Runs a node:zlib transform as a pull-based web stream: output is paused whenever the
 * consumer is not reading, and input is fed only as zlib drains it.
 */
function pumpNodeTransform(
  input: ByteStream,
  transform: Transform,
  what: "gzip" | "zstd",
): ByteStream {
  const code = what === "gzip" ? "GZIP_CORRUPT" : "ZSTD_CORRUPT";
  const wrap = (error: unknown) =>
    // zstd's ZSTD_error_frameParameter_windowTooLarge, as its WebAssembly build reports it
    what === "zstd" && /too much memory/.test(String((error as Error)?.message))
      ? zstdWindowTooLarge()
      : asOtaError(error, code, `${what} data`);
  const reader = input.getReader();
  // zlib may still emit after the stream was cancelled or errored; enqueueing then throws
  // (uncaught, from an event handler), so everything after the first ending is dropped.
  let settled = false;
  return new ReadableStream<Uint8Array>({
    start(controller) {
      const settle = (end: () => void) => {
        if (settled) return;
        settled = true;
        end();
      };
      transform.on("data", (chunk: Uint8Array) => {
        if (settled) return;
        controller.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
        if ((controller.desiredSize ?? 0) <= 0) transform.pause();
      });
      transform.once("end", () => settle(() => controller.close()));
      transform.on("error", (error) => settle(() => controller.error(wrap(error))));
      transform.pause();
      (async () => {
        while (true) {
          const next = await reader.read();
          if (next.done) break;
          if (!transform.write(next.value)) await once(transform, "drain");
        }
        transform.end();
      })().catch((error) => {
        // A failure of the input (a truncated artifact) is not corrupt compressed data:
        // pass it on as it is.
        settle(() => controller.error(error));
        transform.destroy();
      });
    },
    pull() {
      transform.resume();
    },
    async cancel(reason) {
      settled = true;
      transform.destroy();
      await reader.cancel(reason).catch(() => {});
    },
  }, { highWaterMark: 2 });
}
