/**
 * xz (LZMA2) through liblzma compiled to WebAssembly, driven one output chunk per pull.
 *
 * Driving `lzma_code` ourselves, instead of a push-style transform, is what keeps memory
 * flat: a 16 KiB input block of an empty filesystem image can expand to gigabytes, and a
 * pull-based loop only produces the next chunk when the consumer asks for it.
 */
import { OtaError } from "../errors.ts";
import type { ByteStream } from "../streams.ts";

interface Liblzma {
  HEAPU8: Uint8Array;
  _malloc(size: number): number;
  _free(ptr: number): void;
  getValue(ptr: number, type: string): number;
  setValue(ptr: number, value: number, type: string): void;
  _lzma_easy_encoder(strm: number, preset: number, check: number): number;
  _lzma_stream_decoder(strm: number, memlimit: bigint, flags: number): number;
  _lzma_code(strm: number, action: number): number;
  _lzma_end(strm: number): void;
}

const LZMA_OK = 0;
const LZMA_STREAM_END = 1;
const LZMA_MEMLIMIT_ERROR = 6;
const LZMA_FORMAT_ERROR = 7;
const LZMA_DATA_ERROR = 9;
const LZMA_BUF_ERROR = 10;
const LZMA_RUN = 0;
const LZMA_FINISH = 3;
const LZMA_CHECK_CRC64 = 4;
const LZMA_CONCATENATED = 0x08;
const LZMA_IGNORE_CHECK = 0x10;
/** Offsets in the 32-bit `lzma_stream` struct. */
const NEXT_IN = 0, AVAIL_IN = 4, NEXT_OUT = 16, AVAIL_OUT = 20, STREAM_SIZE = 96;
const IN_SIZE = 64 * 1024;
const OUT_SIZE = 256 * 1024;

let instance: Promise<Liblzma> | undefined;
function liblzma(): Promise<Liblzma> {
  // Loaded on first use: most artifacts carry no xz, and the module and its WebAssembly
  // are the largest code in the binary.
  instance ??= (async () => {
    const [{ default: createLiblzma }, { liblzmaWasm }] = await Promise.all([
      import("node-liblzma/wasm/liblzma.js"),
      import("./liblzma_wasm.ts"),
    ]);
    return await (createLiblzma as (o: object) => Promise<Liblzma>)({ wasmBinary: liblzmaWasm() });
  })();
  return instance;
}

export interface XzDecompressOptions {
  /** Refuse streams whose decoder needs more memory than this (a dictionary-size bomb). */
  memlimit: number;
}

/**
 * The xz integrity check (CRC64 in what mender-artifact writes) is not verified: in an
 * artifact it only repeats what sha256 already proves (the header's compressed bytes are
 * checked against the manifest before they are decompressed, each payload file after), and
 * liblzma computes it without CPU help in WebAssembly, at a quarter of the decoding time.
 * The headers of the xz format itself (stream, block, index) are still checked.
 */
export function xzDecompress(input: ByteStream, options: XzDecompressOptions): ByteStream {
  return lzmaPump(
    input,
    (m, strm) =>
      m._lzma_stream_decoder(
        strm,
        BigInt(options.memlimit),
        LZMA_CONCATENATED | LZMA_IGNORE_CHECK,
      ),
    options.memlimit,
  );
}

export function xzCompress(input: ByteStream, preset = 6): ByteStream {
  return lzmaPump(input, (m, strm) => m._lzma_easy_encoder(strm, preset, LZMA_CHECK_CRC64), 0);
}

function lzmaError(code: number, memlimit: number): OtaError {
  switch (code) {
    case LZMA_MEMLIMIT_ERROR:
      return new OtaError(
        "XZ_MEMLIMIT",
        `xz data needs more than ${memlimit >> 20} MiB of memory to decompress; refusing it`,
      );
    case LZMA_FORMAT_ERROR:
      return new OtaError("XZ_CORRUPT", "xz data is not in the xz format");
    case LZMA_DATA_ERROR:
      return new OtaError("XZ_CORRUPT", "xz data is corrupt");
    case LZMA_BUF_ERROR:
      return new OtaError("XZ_CORRUPT", "xz data is truncated");
    default:
      return new OtaError("XZ_CORRUPT", `xz failed with liblzma error ${code}`);
  }
}

function lzmaPump(
  input: ByteStream,
  init: (m: Liblzma, strm: number) => number,
  memlimit: number,
): ByteStream {
  let m: Liblzma;
  let strm = 0, inBuf = 0, outBuf = 0;
  let pending: Uint8Array | undefined;
  let inputDone = false;
  const reader = input.getReader();

  const release = () => {
    if (!strm) return;
    m._lzma_end(strm);
    m._free(strm);
    m._free(inBuf);
    m._free(outBuf);
    strm = 0;
  };
  const refill = async () => {
    while (!pending?.byteLength && !inputDone) {
      const next = await reader.read();
      if (next.done) inputDone = true;
      else pending = next.value;
    }
    if (!pending?.byteLength) return;
    const n = Math.min(IN_SIZE, pending.byteLength);
    m.HEAPU8.set(pending.subarray(0, n), inBuf);
    m.setValue(strm + NEXT_IN, inBuf, "i32");
    m.setValue(strm + AVAIL_IN, n, "i32");
    pending = pending.subarray(n);
  };

  return new ReadableStream<Uint8Array>({
    async start() {
      m = await liblzma();
      strm = m._malloc(STREAM_SIZE);
      m.HEAPU8.fill(0, strm, strm + STREAM_SIZE);
      inBuf = m._malloc(IN_SIZE);
      outBuf = m._malloc(OUT_SIZE);
      const ret = init(m, strm);
      if (ret !== LZMA_OK) {
        release();
        throw lzmaError(ret, memlimit);
      }
    },
    async pull(controller) {
      try {
        while (true) {
          if (m.getValue(strm + AVAIL_IN, "i32") === 0) await refill();
          const finishing = inputDone && m.getValue(strm + AVAIL_IN, "i32") === 0;
          m.setValue(strm + NEXT_OUT, outBuf, "i32");
          m.setValue(strm + AVAIL_OUT, OUT_SIZE, "i32");
          const ret = m._lzma_code(strm, finishing ? LZMA_FINISH : LZMA_RUN);
          const produced = OUT_SIZE - m.getValue(strm + AVAIL_OUT, "i32");
          if (produced > 0) controller.enqueue(m.HEAPU8.slice(outBuf, outBuf + produced));
          if (ret === LZMA_STREAM_END) {
            release();
            controller.close();
            return;
          }
          if (ret !== LZMA_OK) throw lzmaError(ret, memlimit);
          if (produced > 0) return;
        }
      } catch (error) {
        release();
        await reader.cancel(error).catch(() => {});
        throw error;
      }
    },
    async cancel(reason) {
      release();
      await reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
}
