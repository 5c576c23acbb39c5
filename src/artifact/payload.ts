/**
 * One `data/NNNN.tar*` member: decompressed and untarred lazily, each file handed out as a
 * stream that is hashed while it passes and errors, instead of closing, on a mismatch.
 */
import { crypto } from "../builtins.ts";
import { asOtaError, fail, OtaError } from "../errors.ts";
import { collectEvery } from "../platform.ts";
import { byteLimit, type ByteStream, drain } from "../streams.ts";
import { type Compression, decompress } from "./compression.ts";
import type { ReadLimits } from "./limits.ts";
import { type Manifest, payloadFileKey } from "./manifest.ts";
import { requireSafeBaseName } from "./names.ts";
import {
  readTar,
  requirePlainFile,
  type TarEntry,
  TarFormatError,
  type TarHeader,
} from "./tar_read.ts";

export interface PayloadFile {
  /** Base name, as listed in the manifest under `data/NNNN/`. */
  name: string;
  /** Size in bytes, from the payload tar. */
  size: number;
  /** The expected sha256 from the (verified) manifest. */
  sha256: string;
  /** Modification time from the payload tar, in seconds since the epoch. */
  mtime?: number;
  /** Listed in manifest-augment: checksummed, but not covered by the signature. */
  augmented?: true;
  /**
   * The file's bytes. The stream closes only after the checksum matched; on a mismatch it
   * errors with CHECKSUM_MISMATCH, so a consumer never commits unverified bytes.
   */
  stream: ByteStream;
}

export interface PayloadContext {
  index: number;
  /** The payload's type from the header; null for an empty payload, which carries no files. */
  type: string | null;
  compression: Compression;
  manifest: Manifest;
  /** The manifest-augment's lines, which `manifest` includes. */
  augmented?: Manifest;
  limits: ReadLimits;
  /** Manifest keys of the files seen so far, shared across payloads. */
  seen: Set<string>;
}

/**
 * Payload bytes between two garbage collections: often enough to keep the peak flat (a
 * 4 GiB zstd bomb 90 -> 80 MiB), rare enough to cost no measurable time. xz needs it more
 * often: each of its output chunks is a copy out of liblzma's WebAssembly memory, and at
 * 32 MiB a 1 GiB xz install peaked at 120 MiB, at 8 MiB 92 MiB (4 % more CPU time).
 */
function collectionPeriod(compression: Compression): number {
  return (compression === "xz" ? 8 : 32) * 1024 * 1024;
}

function tarError(error: unknown, index: number): OtaError {
  // Errors that already carry a code (corrupt gzip, xz or zstd data, a limit) keep it.
  if (error instanceof OtaError) return error;
  if (error instanceof TarFormatError && error.truncated) {
    return new OtaError(
      "ARTIFACT_TRUNCATED",
      `payload ${index} ends early: the artifact is truncated`,
    );
  }
  return asOtaError(error, "PAYLOAD_INVALID", `payload ${index} is corrupt`);
}

export async function* payloadFiles(
  body: ByteStream,
  ctx: PayloadContext,
): AsyncGenerator<PayloadFile> {
  const { index, limits } = ctx;
  const inflated = decompress(body, ctx.compression, limits)
    .pipeThrough(byteLimit(
      limits.payloadBytes + limits.entries * 1024 + 10240,
      () =>
        new OtaError(
          "LIMIT_EXCEEDED",
          `payload ${index} expands beyond the limit of ${limits.payloadBytes} bytes`,
        ),
    ));
  const entries = readTar(inflated);
  let count = 0;
  try {
    while (true) {
      let next: TarEntry | undefined;
      try {
        next = await entries.next();
      } catch (error) {
        throw tarError(error, index);
      }
      if (!next) return;
      const { header, body: fileBody } = next;
      if (++count > limits.entries) {
        fail("LIMIT_EXCEEDED", `payload ${index} has more than ${limits.entries} files`);
      }
      const file = checkEntry(header, ctx);
      const stream = verifiedFile(fileBody, file, index, collectionPeriod(ctx.compression));
      yield { ...file, stream };
      // Whatever the consumer did not read is still read and verified.
      if (!stream.locked) {
        await drain(stream).catch((error) => Promise.reject(tarError(error, index)));
      }
    }
  } finally {
    await entries.cancel();
  }
}

/**
 * A file's bytes, hashed while they pass. At the end the stream errors instead of closing
 * when the checksum does not match, and a failure underneath (a truncated artifact, corrupt
 * compressed data) reaches the consumer as an OtaError with its code, never as a bare error
 * of the tar or zlib layer.
 */
function verifiedFile(
  body: ByteStream,
  file: Omit<PayloadFile, "stream">,
  index: number,
  period: number,
): ByteStream {
  const reader = body.getReader();
  const hash = crypto().createHash("sha256");
  const collect = collectEvery(period);
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      let next: ReadableStreamReadResult<Uint8Array>;
      try {
        next = await reader.read();
      } catch (error) {
        throw tarError(error, index);
      }
      if (!next.done) {
        hash.update(next.value);
        controller.enqueue(next.value);
        collect(next.value.byteLength);
        return;
      }
      const actual = hash.digest("hex");
      if (actual !== file.sha256) {
        throw new OtaError(
          "CHECKSUM_MISMATCH",
          `payload file ${file.name} does not match its checksum (expected ${file.sha256}, got ${actual}); ` +
            "the artifact is corrupt or was tampered with",
        );
      }
      controller.close();
    },
    cancel: (reason) => reader.cancel(reason),
  }, { highWaterMark: 0 });
}

function checkEntry(
  header: TarHeader,
  ctx: PayloadContext,
): Omit<PayloadFile, "stream"> {
  const name = header.name;
  requirePlainFile(header, `payload ${ctx.index}`);
  if (ctx.type === null) {
    fail(
      "ARTIFACT_STRUCTURE",
      `payload ${ctx.index} is empty, yet its data holds ${JSON.stringify(name.slice(0, 200))}`,
    );
  }
  requireSafeBaseName(name, `payload file`, ctx.limits.nameLength);
  const key = payloadFileKey(ctx.index, name);
  const sha256 = ctx.manifest.get(key);
  if (!sha256) fail("MANIFEST_MISMATCH", `payload file ${name} is not listed in the manifest`);
  if (ctx.seen.has(key)) fail("ARTIFACT_STRUCTURE", `payload file ${name} appears twice`);
  ctx.seen.add(key);
  if (header.size > ctx.limits.payloadBytes) {
    fail(
      "LIMIT_EXCEEDED",
      `payload file ${name} is ${header.size} bytes, over the limit of ${ctx.limits.payloadBytes}`,
    );
  }
  const file = { name, size: header.size, sha256, mtime: header.mtime };
  return ctx.augmented?.has(key) ? { ...file, augmented: true } : file;
}
