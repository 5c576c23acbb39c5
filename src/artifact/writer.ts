/**
 * Writes a Mender Artifact v3 the way mender-artifact does, byte layout included.
 *
 * The manifest, which comes first, holds the checksums of the payload files, so their
 * contents are hashed in a first pass. The second pass streams them through the inner tar
 * and the compressor straight into the output; the data member's tar header is reserved and
 * filled in once its compressed size is known. The result appears under its name only
 * when complete (written to a temporary file, synced, renamed).
 */
import { promises as fs } from "node:fs";
import { crypto } from "../builtins.ts";
import { collectEvery } from "../platform.ts";
import { fail } from "../errors.ts";
import { readFileInTurns, readFileStream, syncDir, writeFully } from "../files.ts";
import { bytesOf, type ByteStream } from "../streams.ts";
import { mergeAugmentMetaData, mergeAugmentTypeInfo } from "./augment.ts";
import { ADAPTIVE_KEY } from "./adaptive_index.ts";
import {
  adaptiveBody,
  type AdaptivePlan,
  type AdaptiveWriteOptions,
  adaptiveWriteOptions,
  imagePieces,
  planAdaptive,
} from "./adaptive_writer.ts";
import { type BlockSizes, fittingSizes, zeroMap, zerosAt } from "./adaptive_sizing.ts";
import { compress, compressionSuffix } from "./compression.ts";
import {
  type ArtifactSpec,
  augmentHeaderMember,
  type FileSource,
  headerCompression,
  headerMember,
  type PayloadSpec,
} from "./header_write.ts";
import { formatManifest, payloadFileKey } from "./manifest.ts";
import { isPortablePayloadName, parseScriptName } from "./names.ts";
import { signManifest } from "./signature.ts";
import { BLOCK, END_OF_ARCHIVE, tarHeader, tarPadding } from "./tar_write.ts";
import { dirname } from "node:path";

export type { ArtifactSpec, AugmentSpec, FileSource, PayloadSpec } from "./header_write.ts";

export interface WriteProgress {
  /** zeros: an adaptive image read for its blocks of zeros, to size its index. */
  phase: "zeros" | "hash" | "write";
  bytes: number;
  total: number;
}

export interface WriteOptions {
  onProgress?: (progress: WriteProgress) => void;
  /** Seconds since the epoch for the tar headers; defaults to now. */
  mtime?: number;
  /** What the writer chose that the user should know (one line). */
  onNotice?: (message: string) => void;
}

interface HashedFile {
  source: FileSource;
  size: number;
  sha256: string;
}

/** A payload file's bytes; `chunk` sets the read size (1 MiB blocks for the compressor). */
function openSource(source: FileSource, chunk?: number): ByteStream {
  return "path" in source
    ? readFileStream(source.path, 0, Infinity, chunk)
    : new Blob([source.bytes as BlobPart]).stream();
}

/** Bytes read between two garbage collections: each chunk read is garbage soon after. */
const COLLECT_EVERY = 32 * 1024 * 1024;

async function hashFile(source: FileSource, progress: (n: number) => void): Promise<HashedFile> {
  const hash = crypto().createHash("sha256");
  let size = 0;
  const chunks = "path" in source ? readFileInTurns(source.path) : openSource(source);
  for await (const chunk of chunks) {
    hash.update(chunk);
    size += chunk.byteLength;
    progress(chunk.byteLength);
  }
  return { source, size, sha256: hash.digest("hex") };
}

function checkSpec(spec: ArtifactSpec): void {
  if (!spec.name) fail("BAD_ARGUMENTS", "the artifact needs a name (-n)");
  if (!spec.deviceTypes.length) {
    fail("BAD_ARGUMENTS", "the artifact needs at least one device type (-t)");
  }
  const names = new Set<string>();
  const augment = spec.payload.augment;
  for (const file of [...spec.payload.files, ...augment?.files ?? []]) {
    if (!isPortablePayloadName(file.name)) {
      fail(
        "UNSAFE_NAME",
        `payload file name ${JSON.stringify(file.name)} may contain only letters, digits and _-.,`,
      );
    }
    if (names.has(file.name)) fail("BAD_ARGUMENTS", `payload file ${file.name} is given twice`);
    names.add(file.name);
  }
  if (spec.payload.type === null && spec.payload.files.length) {
    fail("BAD_ARGUMENTS", "an empty-payload artifact cannot carry files");
  }
  if (augment && (spec.payload.type === null || !augment.type)) {
    fail("BAD_ARGUMENTS", "an augment needs a payload and a type of its own (--augment-type)");
  }
  for (const script of spec.scripts ?? []) {
    const parsed = parseScriptName(script.name);
    if (!parsed || !parsed.state.startsWith("Artifact")) {
      fail(
        "BAD_ARGUMENTS",
        `state script ${
          JSON.stringify(script.name)
        } must be named <ArtifactState>_<Enter|Leave|Error>_NN[_text]; ` +
          "Idle, Sync and Download scripts belong on the device, not in an artifact",
      );
    }
  }
}

/** The uncompressed data tar: each file's header, body and padding, then the end marker. */
function dataTar(files: HashedFile[], mtime: number): ByteStream {
  let index = 0;
  let current: { file: HashedFile; reader: ReadableStreamDefaultReader<Uint8Array> } | undefined;
  let seen = 0;
  const collect = collectEvery(COLLECT_EVERY);
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (current) {
        const next = await current.reader.read();
        if (!next.done) {
          seen += next.value.byteLength;
          collect(next.value.byteLength);
          controller.enqueue(next.value);
          return;
        }
        const { file } = current;
        if (seen !== file.size) {
          fail("INPUT_CHANGED", `${file.source.name} changed size while the artifact was written`);
        }
        current = undefined;
        controller.enqueue(tarPadding(file.size));
        return;
      }
      const file = files[index++];
      if (!file) {
        controller.enqueue(END_OF_ARCHIVE);
        controller.close();
        return;
      }
      controller.enqueue(
        tarHeader({ name: file.source.name, size: file.size, mtime, owner: "root" }),
      );
      current = { file, reader: openSource(file.source, 1024 * 1024).getReader() };
      seen = 0;
    },
    async cancel(reason) {
      await current?.reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
}

async function hashAll(
  sources: FileSource[],
  onProgress: WriteOptions["onProgress"],
): Promise<HashedFile[]> {
  const total = (await Promise.all(
    sources.map(async (f) =>
      "path" in f
        ? (await fs.stat(f.path).catch((e) => unreadable(f.path, e))).size
        : f.bytes.byteLength
    ),
  )).reduce((a, b) => a + b, 0);
  let hashed = 0;
  const files: HashedFile[] = [];
  for (const source of sources) {
    files.push(
      await hashFile(source, (n) => onProgress?.({ phase: "hash", bytes: hashed += n, total })),
    );
  }
  return files;
}

const entry = (f: HashedFile): [string, string] => [payloadFileKey(0, f.source.name), f.sha256];

/** Writes the artifact to `output` (replaced atomically); returns the manifest entries. */
export async function writeArtifact(
  spec: ArtifactSpec,
  output: string,
  options: WriteOptions = {},
): Promise<{ manifest: Map<string, string>; bytes: number }> {
  checkSpec(spec);
  const mtime = options.mtime ?? Math.floor(Date.now() / 1000);
  const augment = spec.payload.augment;
  const adaptive = spec.payload.adaptive && await planned(spec, mtime, options);
  const all = adaptive
    ? [adaptive.file]
    : await hashAll([...spec.payload.files, ...augment?.files ?? []], options.onProgress);
  const files = all.slice(0, spec.payload.files.length);
  const augmentFiles = all.slice(spec.payload.files.length);
  const total = all.reduce((sum, f) => sum + f.size, 0);
  let payload = spec.payload.checksumProvide && files[0]
    ? withProvide(spec.payload, spec.payload.checksumProvide, files[0].sha256)
    : spec.payload;
  if (adaptive) {
    payload = {
      ...payload,
      metaData: { ...payload.metaData, [ADAPTIVE_KEY]: adaptive.plan.index },
    };
  }
  if (augment) {
    // what ota reads it may write: an augment adds to the signed header, never changes it
    mergeAugmentTypeInfo(payload.typeInfo, augment.typeInfo);
    if (augment.metaData) mergeAugmentMetaData(payload.metaData, augment.metaData);
  }

  const suffix = compressionSuffix(headerCompression(spec));
  const version = bytesOf(`{"format":"mender","version":3}`);
  const header = await headerMember(spec, payload, mtime);
  const manifest = new Map<string, string>([
    ...files.map(entry),
    [`header.tar${suffix}`, sha(header)],
    ["version", sha(version)],
  ]);
  const manifestBytes = formatManifest(manifest);
  // mender-artifact: the augment's files, then its header; signed by nothing
  const augmentHeader = augment ? await augmentHeaderMember(spec, augment) : undefined;
  const augmentManifest = augmentHeader
    ? formatManifest([...augmentFiles.map(entry), [
      `header-augment.tar${suffix}`,
      sha(augmentHeader),
    ]])
    : undefined;

  const temp = `${output}.tmp-${process.pid}`;
  const handle = await fs.open(temp, "w", 0o644).catch((error) =>
    fail("FILE_WRITE", `cannot create ${output}: ${(error as Error).message}`)
  );
  try {
    let position = 0;
    const put = async (bytes: Uint8Array) => {
      await writeFully(handle, bytes, position);
      position += bytes.byteLength;
    };
    const member = async (name: string, bytes: Uint8Array, owner?: string) => {
      await put(
        tarHeader({ name, size: bytes.byteLength, mode: 0o600, mtime: owner ? mtime : 0, owner }),
      );
      await put(bytes);
      await put(tarPadding(bytes.byteLength));
    };
    await member("version", version);
    await member("manifest", manifestBytes);
    if (spec.signingKey) await member("manifest.sig", signManifest(manifestBytes, spec.signingKey));
    if (augmentManifest) await member("manifest-augment", augmentManifest);
    await member(`header.tar${suffix}`, header, "root");
    if (augmentHeader) await member(`header-augment.tar${suffix}`, augmentHeader, "root");
    if (payload.type !== null || files.length) {
      const headerAt = position;
      await put(new Uint8Array(BLOCK));
      let size = 0, written = 0;
      const onWritten = (n: number) =>
        options.onProgress?.({ phase: "write", bytes: written += n, total });
      const body = adaptive
        ? adaptiveBody(
          adaptive.file.source.name,
          imagePieces(adaptive.file.source, adaptive.options.pieceSize),
          adaptive.plan,
          adaptive.options,
          onWritten,
        )
        : compress(
          dataTar(all, mtime).pipeThrough(
            new TransformStream({
              transform(chunk, controller) {
                onWritten(chunk.byteLength);
                controller.enqueue(chunk);
              },
            }),
          ),
          spec.compression,
          { level: spec.compressionLevel, blocks: true },
        );
      for await (const chunk of body) {
        await put(chunk);
        size += chunk.byteLength;
      }
      await put(tarPadding(size));
      const data = `data/0000.tar${compressionSuffix(spec.compression)}`;
      await writeFully(
        handle,
        tarHeader({ name: data, size, mode: 0o600, mtime, owner: "root" }),
        headerAt,
      );
    }
    await put(END_OF_ARCHIVE);
    await handle.sync();
    await handle.close();
    await fs.rename(temp, output);
    await syncDir(dirname(output));
    return { manifest, bytes: position };
  } catch (error) {
    await handle.close().catch(() => {});
    await fs.rm(temp, { force: true });
    throw error;
  }
}

/** The first pass over an adaptive payload's one image: its hashes, index and pieces. */
async function planned(
  spec: ArtifactSpec,
  mtime: number,
  options: WriteOptions,
): Promise<{ file: HashedFile; plan: AdaptivePlan; options: AdaptiveWriteOptions }> {
  const requested = adaptiveWriteOptions(spec.payload.adaptive!, spec, mtime); // adaptive only
  const source = spec.payload.files[0]!; // exactly one, checked by adaptiveWriteOptions
  const total = "path" in source
    ? (await fs.stat(source.path).catch((e) => unreadable(source.path, e))).size
    : source.bytes.byteLength;
  const progress = (phase: WriteProgress["phase"]) => {
    let bytes = 0;
    return (n: number) => options.onProgress?.({ phase, bytes: bytes += n, total });
  };
  const sizes = await blockSizes(source, total, requested, progress("zeros"));
  if (sizes.blockSize !== requested.blockSize) {
    options.onNotice?.(
      `the adaptive index of ${source.name} at ${requested.blockSize}-byte blocks would take ` +
        `more than ${requested.maxIndexBytes} bytes: written with ${sizes.blockSize}-byte ` +
        `blocks, so what moved by other than a multiple of ${sizes.blockSize} bytes since the ` +
        `running image (ext4 moves files by 4 KiB blocks) is fetched, not copied`,
    );
  }
  const adaptive = { ...requested, ...sizes };
  const pieces = imagePieces(source, adaptive.pieceSize);
  const plan = await planAdaptive(source.name, pieces, adaptive, progress("hash"));
  if (JSON.stringify(plan.index).length > requested.maxIndexBytes) {
    fail("INPUT_CHANGED", `${source.name} changed while the artifact was written; write it again`);
  }
  return { file: { source, size: plan.size, sha256: plan.sha256 }, plan, options: adaptive };
}

/**
 * The requested block and piece sizes, or larger ones when the index would not fit: the
 * image is then read once for its blocks of zeros (which the index holds as bits).
 */
async function blockSizes(
  source: FileSource,
  total: number,
  requested: AdaptiveWriteOptions,
  onBytes: (n: number) => void,
): Promise<BlockSizes> {
  const { compression, maxIndexBytes } = requested;
  const worst = fittingSizes(total, requested, compression, maxIndexBytes);
  if (worst?.blockSize === requested.blockSize) return worst;
  const chunks = imagePieces(source, Math.max(requested.blockSize, 1 << 20));
  const map = await zeroMap(chunks, requested.blockSize, onBytes);
  const sizes = fittingSizes(
    total,
    requested,
    compression,
    maxIndexBytes,
    (blockSize) => zerosAt(map, blockSize / requested.blockSize),
  );
  if (!sizes) {
    fail(
      "LIMIT_EXCEEDED",
      `${source.name} (${total} bytes) is too large for an adaptive index even at 1 MiB blocks`,
    );
  }
  return sizes;
}

function unreadable(path: string, error: unknown): never {
  fail("FILE_READ", `cannot read payload file ${path}: ${(error as Error).message}`);
}

function withProvide(payload: PayloadSpec, key: string, value: string): PayloadSpec {
  const artifact_provides = { ...payload.typeInfo.artifact_provides, [key]: value };
  return { ...payload, typeInfo: { ...payload.typeInfo, artifact_provides } };
}

function sha(bytes: Uint8Array): string {
  return crypto().createHash("sha256").update(bytes).digest("hex");
}
