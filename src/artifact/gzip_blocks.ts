/**
 * gzip in independent 1 MiB blocks, compressed at once on the runtime's thread pool (zlib's
 * asynchronous calls run there) and written in order, each a whole gzip member. Members one
 * after the other are one gzip stream (RFC 1952, 2.2): gunzip, Go's gzip reader (which
 * mender-artifact and the Mender client use) and ota read them as one. A block loses only
 * the matches that would reach into the block before it (a fraction of a percent).
 *
 * A block whose samples do not compress (already compressed files, random data) is stored
 * as it is instead of searched for matches that are not there: searching is what makes
 * deflate slow on such data (5 to 9 s of CPU per GiB), storing costs a copy, and the stored
 * block is the same size or smaller.
 */
import { asOtaError } from "../errors.ts";
import { zlib } from "../builtins.ts";
import { unfilledBytes } from "../files.ts";
import type { Transform } from "node:stream";
import type { ByteStream } from "../streams.ts";

const BLOCK = 1024 * 1024;
/** Chunks at least this large are compressed as they come; smaller ones are gathered. */
const MIN_BLOCK = 256 * 1024;
/**
 * Sixteen samples of 4 KiB, 64 KiB apart, compressed together at level 1: a stretch that
 * compresses and is longer than 68 KiB has one of them in it. Sixteen samples that shrink by
 * less than 3 % together are taken for data that does not compress; one sample of zeros
 * among them is enough to have the block deflated.
 */
const SAMPLE = 4 * 1024;
const SAMPLES = 16;
const STORE_ABOVE = 0.97;

type Make = (options: object) => Transform;

/**
 * One asynchronous zlib call (it runs on the thread pool). Its output buffer holds the whole
 * result (deflate grows data by a few bytes per 16 KiB at most), so it comes back as one
 * chunk: with zlib's 16 KiB default a 1 MiB block took 64 trips between the pool and the
 * main thread, and zlib's own one-shot call copies even a single chunk to join it.
 */
function call(make: Make, input: Uint8Array, options: object): Promise<Uint8Array[]> {
  const chunkSize = Math.max(64 * 1024, input.byteLength + (input.byteLength >> 10) + 1024);
  return new Promise((resolve, reject) => {
    const transform = make({ ...options, chunkSize });
    const out: Uint8Array[] = [];
    transform.on("data", (chunk: Uint8Array) => out.push(chunk));
    transform.once("end", () => resolve(out));
    transform.once("error", reject);
    transform.end(input);
  });
}

function samples(block: Uint8Array): Uint8Array {
  const out = new Uint8Array(SAMPLE * SAMPLES);
  for (let i = 0; i < SAMPLES; i++) {
    const at = Math.floor((i * (block.byteLength - SAMPLE)) / (SAMPLES - 1));
    out.set(block.subarray(at, at + SAMPLE), i * SAMPLE);
  }
  return out;
}

/** One block as a gzip member, in pieces: stored when its samples do not compress. */
export async function gzipBlock(block: Uint8Array, level: number): Promise<Uint8Array[]> {
  const z = zlib();
  if (level > 0 && block.byteLength >= SAMPLE * SAMPLES) {
    const probe = samples(block);
    const packed = (await call(z.createDeflateRaw, probe, { level: 1 }))
      .reduce((n, piece) => n + piece.byteLength, 0);
    if (packed > STORE_ABOVE * probe.byteLength) {
      return await call(z.createGzip, block, { level: 0 });
    }
  }
  return await call(z.createGzip, block, { level });
}

/** How many blocks are compressed at once: one more than the cores, so none waits. */
function parallelism(): number {
  const cores = (globalThis.navigator as { hardwareConcurrency?: number } | undefined)
    ?.hardwareConcurrency ?? 2;
  return Math.max(2, Math.min(8, cores + 1));
}

/** `input` as a gzip stream of independent members, compressed in parallel. */
export function gzipBlocks(input: ByteStream, level = 6, parallel = parallelism()): ByteStream {
  const reader = input.getReader();
  const jobs: Promise<Uint8Array[]>[] = [];
  let block: Uint8Array | undefined;
  let filled = 0;
  let ended = false;
  let members = 0;
  let pending: Uint8Array | undefined;

  const submit = (bytes: Uint8Array) => {
    const job = gzipBlock(bytes, level);
    job.catch(() => {}); // awaited in order below
    jobs.push(job);
    members++;
  };
  const submitGathered = () => {
    if (block && filled) submit(block.subarray(0, filled));
    block = undefined;
    filled = 0;
  };
  /** Reads input until `parallel` blocks are being compressed or the input ends. */
  const feed = async () => {
    while (!ended && jobs.length < parallel) {
      if (!pending?.byteLength) {
        const next = await reader.read();
        if (next.done) {
          ended = true;
          submitGathered();
          if (!members) submit(new Uint8Array(0)); // an empty input is one empty member
          break;
        }
        pending = next.value;
      }
      if (pending.byteLength >= MIN_BLOCK) {
        // A large chunk (a file's, read for this) is a block of its own, not copied; what
        // was gathered before it (a tar header) goes first.
        submitGathered();
        const n = Math.min(pending.byteLength, BLOCK);
        submit(pending.subarray(0, n));
        pending = pending.subarray(n);
        continue;
      }
      block ??= unfilledBytes(BLOCK);
      const n = Math.min(pending.byteLength, BLOCK - filled);
      block.set(pending.subarray(0, n), filled);
      filled += n;
      pending = pending.subarray(n);
      if (filled === BLOCK) submitGathered();
    }
  };

  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        await feed();
        const job = jobs.shift();
        if (!job) return controller.close();
        for (const piece of await job) controller.enqueue(piece);
      } catch (error) {
        await reader.cancel(error).catch(() => {});
        throw asOtaError(error, "GZIP_CORRUPT", "gzip data");
      }
    },
    cancel: (reason) => reader.cancel(reason),
  }, { highWaterMark: 0 });
}
