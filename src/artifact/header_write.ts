/**
 * What an artifact to write is made of (the specs), and its header members as
 * mender-artifact 3.9 writes them: `header.tar*` and, for an augmented payload,
 * `header-augment.tar*` (awriter's writeHeader with `augmented`): the same header-info with
 * the augment's payload type, a type-info with the augment's type, depends and provides,
 * and its meta-data when there is any; never scripts.
 */
import { fail } from "../errors.ts";
import { type ByteStream, concat } from "../streams.ts";
import { compress, type Compression } from "./compression.ts";
import { goJson } from "./go_json.ts";
import { jsonBytes } from "./json.ts";
import { defaultLimits } from "./limits.ts";
import type { HeaderInfo, TypeInfo } from "./schema.ts";
import type { SigningKey } from "./signature.ts";
import { tarOf } from "./tar_write.ts";

export type FileSource =
  | { name: string; path: string }
  | { name: string; bytes: Uint8Array };

/** What an augment adds after signing (mender-artifact's --augment-* options). */
export interface AugmentSpec {
  /** The Update Module that installs the augmented payload (--augment-type). */
  type: string;
  /** Payload files listed in manifest-augment, not in the signed manifest (--augment-file). */
  files: FileSource[];
  typeInfo: Pick<TypeInfo, "artifact_provides" | "artifact_depends">;
  /** JSON object for the augment's meta-data (--augment-meta-data); left out when empty. */
  metaData?: Record<string, unknown>;
}

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
  /** An unsigned augment of this payload (delta updates). */
  augment?: AugmentSpec;
  /** Write the one file as an adaptive payload, its block index in meta-data (adaptive_writer.ts). */
  adaptive?: { blockSize: number; pieceSize: number; maxIndexBytes?: number };
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

function headerInfo(spec: ArtifactSpec, type: string | null): HeaderInfo {
  return {
    payloads: [{ type }],
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

/** Go's encoding/json writes map keys sorted; so do we, for the same bytes. */
function sorted<T>(record: Record<string, T> | undefined): Record<string, T> | undefined {
  if (!record || !Object.keys(record).length) return undefined;
  return Object.fromEntries(
    Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
  );
}

/** type-info in Go's field order: type, artifact_depends, artifact_provides, clears. */
function typeInfo(type: string | null, info: Omit<TypeInfo, "type">): TypeInfo {
  const depends = sorted(info.artifact_depends);
  const provides = sorted(info.artifact_provides);
  return {
    type,
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

async function collect(stream: ByteStream): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return concat(chunks);
}

/**
 * The header's compression: an adaptive payload's header carries its block index, so it is
 * gzipped even when the payload is not (mender-artifact 3.9 and Mender 3.4 read them apart).
 */
export function headerCompression(spec: ArtifactSpec): Compression {
  return spec.payload.adaptive && spec.compression === "none" ? "gzip" : spec.compression;
}

function compressed(spec: ArtifactSpec, tar: Uint8Array): Promise<Uint8Array> {
  if (tar.byteLength > defaultLimits.headerBytes) {
    fail(
      "LIMIT_EXCEEDED",
      `the header would be ${tar.byteLength} bytes, more than readers take (${defaultLimits.headerBytes}); ` +
        "for an adaptive image, a smaller --adaptive-max-index leaves room for the rest",
    );
  }
  const stream = new Blob([tar as BlobPart]).stream();
  return collect(compress(stream, headerCompression(spec), { level: spec.compressionLevel }));
}

/** `header.tar*`: header-info, the scripts, type-info and meta-data of the payload. */
export function headerMember(
  spec: ArtifactSpec,
  payload: PayloadSpec,
  mtime: number,
): Promise<Uint8Array> {
  const meta = metaDataBytes(payload);
  const type = payload.typeInfoType !== undefined ? payload.typeInfoType : payload.type;
  return compressed(
    spec,
    tarOf([
      { name: "header-info", bytes: jsonBytes(headerInfo(spec, payload.type)), mode: 0o600 },
      ...(spec.scripts ?? []).map((s) => ({
        name: `scripts/${s.name}`,
        bytes: s.bytes,
        mode: 0o644,
        mtime,
      })),
      {
        name: "headers/0000/type-info",
        bytes: jsonBytes(typeInfo(type, payload.typeInfo)),
        mode: 0o600,
      },
      ...(meta ? [{ name: "headers/0000/meta-data", bytes: meta, mode: 0o600 }] : []),
    ]),
  );
}

/** `header-augment.tar*`, for a payload with an augment. */
export function augmentHeaderMember(spec: ArtifactSpec, augment: AugmentSpec): Promise<Uint8Array> {
  // Go re-encodes it: keys sorted, its escapes
  const meta = augment.metaData && Object.keys(augment.metaData).length
    ? new TextEncoder().encode(goJson(augment.metaData))
    : undefined;
  return compressed(
    spec,
    tarOf([
      { name: "header-info", bytes: jsonBytes(headerInfo(spec, augment.type)), mode: 0o600 },
      {
        name: "headers/0000/type-info",
        bytes: jsonBytes(typeInfo(augment.type, augment.typeInfo)),
        mode: 0o600,
      },
      ...(meta ? [{ name: "headers/0000/meta-data", bytes: meta, mode: 0o600 }] : []),
    ]),
  );
}
