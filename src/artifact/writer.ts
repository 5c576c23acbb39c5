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
import { bytesOf, type ByteStream, concat } from "../streams.ts";
import { compress, type Compression, compressionSuffix } from "./compression.ts";
import { jsonBytes } from "./json.ts";
import { formatManifest, payloadFileKey } from "./manifest.ts";
import { isPortablePayloadName, parseScriptName } from "./names.ts";
import type { HeaderInfo, TypeInfo } from "./schema.ts";
import { type SigningKey, signManifest } from "./signature.ts";
import { BLOCK, END_OF_ARCHIVE, tarHeader, tarOf, tarPadding } from "./tar_write.ts";
import { dirname } from "node:path";

export type FileSource =
  | { name: string; path: string }
  | { name: string; bytes: Uint8Array };

export interface PayloadSpec {
  /** `rootfs-image`, an Update Module name, or null for an empty (bootstrap) payload. */
  type: string | null;
  files: FileSource[];
  typeInfo: Omit<TypeInfo, "type">;
  /** The `type` written into type-info; mender-artifact 3.x writes "" for rootfs-image. */
  typeInfoType?: string | null;
  /** JSON object for `headers/0000/meta-data`; `{}` writes an empty file, as rootfs-image does. */
  metaData?: Record<string, unknown>;
  /** The meta-data file exactly as given, instead of `metaData` encoded here. */
  metaDataBytes?: Uint8Array;
  /** A provide to set to the sha256 of the first file (`rootfs-image.checksum`). */
  checksumProvide?: string;
}

export interface ArtifactSpec {
  name: string;
  group?: string;
  deviceTypes: string[];
  depends?: { artifact_name?: string[]; artifact_group?: string[] };
  payload: PayloadSpec;
  scripts?: { name: string; bytes: Uint8Array }[];
  compression: Compression;
  compressionLevel?: number;
  signingKey?: SigningKey;
}

export interface WriteProgress {
  phase: "hash" | "write";
  bytes: number;
  total: number;
}

export interface WriteOptions {
  onProgress?: (progress: WriteProgress) => void;
  /** Seconds since the epoch for the tar headers; defaults to now. */
  mtime?: number;
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
  for (const file of spec.payload.files) {
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

function headerInfo(spec: ArtifactSpec): HeaderInfo {
  return {
    payloads: [{ type: spec.payload.type }],
    artifact_provides: {
      artifact_name: spec.name,
      ...(spec.group ? { artifact_group: spec.group } : {}),
    },
    artifact_depends: {
      ...(spec.depends?.artifact_name?.length ? { artifact_name: spec.depends.artifact_name } : {}),
      device_type: spec.deviceTypes,
      ...(spec.depends?.artifact_group?.length
        ? { artifact_group: spec.depends.artifact_group }
        : {}),
    },
  };
}

function typeInfo(payload: PayloadSpec): TypeInfo {
  const info = payload.typeInfo;
  const depends = sorted(info.artifact_depends);
  const provides = sorted(info.artifact_provides);
  return {
    type: payload.typeInfoType !== undefined ? payload.typeInfoType : payload.type,
    ...(depends ? { artifact_depends: depends } : {}),
    ...(provides ? { artifact_provides: provides } : {}),
    ...(info.clears_artifact_provides?.length
      ? { clears_artifact_provides: info.clears_artifact_provides }
      : {}),
  };
}

function metaDataBytes(payload: PayloadSpec): Uint8Array | undefined {
  if (payload.type === null) return undefined;
  if (payload.metaDataBytes) return payload.metaDataBytes;
  if (payload.metaData === undefined) return undefined;
  return Object.keys(payload.metaData).length ? jsonBytes(payload.metaData) : new Uint8Array(0);
}

async function headerMember(spec: ArtifactSpec, mtime: number): Promise<Uint8Array> {
  const meta = metaDataBytes(spec.payload);
  const tar = tarOf([
    { name: "header-info", bytes: jsonBytes(headerInfo(spec)), mode: 0o600 },
    ...(spec.scripts ?? []).map((s) => ({
      name: `scripts/${s.name}`,
      bytes: s.bytes,
      mode: 0o644,
      mtime,
    })),
    { name: "headers/0000/type-info", bytes: jsonBytes(typeInfo(spec.payload)), mode: 0o600 },
    ...(meta ? [{ name: "headers/0000/meta-data", bytes: meta, mode: 0o600 }] : []),
  ]);
  return await collect(
    compress(new Blob([tar as BlobPart]).stream(), spec.compression, {
      level: spec.compressionLevel,
    }),
  );
}

async function collect(stream: ByteStream): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return concat(chunks);
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

/** Writes the artifact to `output` (replaced atomically); returns the manifest entries. */
export async function writeArtifact(
  spec: ArtifactSpec,
  output: string,
  options: WriteOptions = {},
): Promise<{ manifest: Map<string, string>; bytes: number }> {
  checkSpec(spec);
  const mtime = options.mtime ?? Math.floor(Date.now() / 1000);
  const total = (await Promise.all(
    spec.payload.files.map(async (f) =>
      "path" in f
        ? (await fs.stat(f.path).catch((e) => unreadable(f.path, e))).size
        : f.bytes.byteLength
    ),
  )).reduce((a, b) => a + b, 0);
  let hashed = 0;
  const files: HashedFile[] = [];
  for (const source of spec.payload.files) {
    files.push(
      await hashFile(
        source,
        (n) => options.onProgress?.({ phase: "hash", bytes: hashed += n, total }),
      ),
    );
  }
  const payload = spec.payload.checksumProvide && files[0]
    ? withProvide(spec.payload, spec.payload.checksumProvide, files[0].sha256)
    : spec.payload;

  const suffix = compressionSuffix(spec.compression);
  const version = bytesOf(`{"format":"mender","version":3}`);
  const header = await headerMember({ ...spec, payload }, mtime);
  const manifest = new Map<string, string>([
    ...files.map((f): [string, string] => [payloadFileKey(0, f.source.name), f.sha256]),
    [`header.tar${suffix}`, sha(header)],
    ["version", sha(version)],
  ]);
  const manifestBytes = formatManifest(manifest);

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
    await member(`header.tar${suffix}`, header, "root");
    if (payload.type !== null || files.length) {
      const headerAt = position;
      await put(new Uint8Array(BLOCK));
      let size = 0, written = 0;
      const body = compress(
        dataTar(files, mtime).pipeThrough(
          new TransformStream({
            transform(chunk, controller) {
              written += chunk.byteLength;
              options.onProgress?.({ phase: "write", bytes: written, total });
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
      await writeFully(
        handle,
        tarHeader({ name: `data/0000.tar${suffix}`, size, mode: 0o600, mtime, owner: "root" }),
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

function unreadable(path: string, error: unknown): never {
  fail("FILE_READ", `cannot read payload file ${path}: ${(error as Error).message}`);
}

function withProvide(payload: PayloadSpec, key: string, value: string): PayloadSpec {
  const artifact_provides = { ...payload.typeInfo.artifact_provides, [key]: value };
  return { ...payload, typeInfo: { ...payload.typeInfo, artifact_provides } };
}

/** Go's encoding/json writes map keys sorted; so do we, for the same bytes. */
function sorted<T>(record: Record<string, T> | undefined): Record<string, T> | undefined {
  if (!record || !Object.keys(record).length) return undefined;
  return Object.fromEntries(
    Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
  );
}

function sha(bytes: Uint8Array): string {
  return crypto().createHash("sha256").update(bytes).digest("hex");
}
