/**
 * Writes an unpacked artifact back the way mender-artifact 3.9 repacks one after `modify`,
 * `cp`, `install` or `rm`: the header rebuilt from what was read (the payload written as a
 * module image, so a rootfs-image's type-info says "rootfs-image"; meta-data re-encoded by
 * Go's rules and left out when empty; the rootfs checksum provide recomputed when present),
 * the compression kept unless another is asked for, signed only when a key is given.
 */
import type { Compression } from "./compression.ts";
import { goJson } from "./go_json.ts";
import type { TypeInfo } from "./schema.ts";
import type { SigningKey } from "./signature.ts";
import type { UnpackedArtifact } from "./unpack.ts";
import { type FileSource, writeArtifact } from "./writer.ts";

/** The fields mender-artifact's `modify` can change, and the rest it carries over. */
export interface RepackArgs {
  name: string;
  group?: string;
  deviceTypes: string[];
  dependsNames?: string[];
  dependsGroups?: string[];
  type: string;
  provides?: Record<string, string>;
  depends?: TypeInfo["artifact_depends"];
  clears?: string[];
  metaData?: Record<string, unknown>;
  scripts: { name: string; bytes: Uint8Array }[];
  files: FileSource[];
  compression: Compression;
}

export function repackArgs(unpacked: UnpackedArtifact): RepackArgs {
  const { info, payloads, scripts } = unpacked.header;
  const payload = payloads[0]!;
  return {
    name: info.artifact_provides.artifact_name,
    group: info.artifact_provides.artifact_group,
    deviceTypes: [...info.artifact_depends.device_type],
    dependsNames: info.artifact_depends.artifact_name,
    dependsGroups: info.artifact_depends.artifact_group,
    type: payload.type ?? "",
    provides: payload.typeInfo.artifact_provides,
    depends: payload.typeInfo.artifact_depends,
    clears: payload.typeInfo.clears_artifact_provides,
    metaData: payload.metaData,
    scripts: scripts.map((s) => ({ name: s.name, bytes: s.bytes })),
    files: unpacked.files.map((f) => ({ name: f.name, path: f.path })),
    compression: unpacked.compression,
  };
}

/** mender-artifact refreshes the checksum provide of a rootfs-image only when it has one. */
function checksumKey(args: RepackArgs): string | undefined {
  if (args.type !== "rootfs-image" || !args.provides) return undefined;
  if ("rootfs_image_checksum" in args.provides) return "rootfs_image_checksum";
  if ("rootfs-image.checksum" in args.provides) return "rootfs-image.checksum";
  return undefined;
}

export async function writeRepacked(
  args: RepackArgs,
  output: string,
  signingKey?: SigningKey,
): Promise<void> {
  const meta = args.metaData && Object.keys(args.metaData).length ? args.metaData : undefined;
  await writeArtifact({
    name: args.name,
    group: args.group,
    deviceTypes: args.deviceTypes,
    depends: { artifact_name: args.dependsNames, artifact_group: args.dependsGroups },
    payload: {
      type: args.type,
      typeInfoType: args.type,
      files: args.files,
      typeInfo: {
        artifact_provides: args.provides,
        artifact_depends: args.depends,
        clears_artifact_provides: args.clears,
      },
      metaData: meta,
      metaDataBytes: meta ? new TextEncoder().encode(goJson(meta)) : undefined,
      checksumProvide: checksumKey(args),
    },
    scripts: args.scripts,
    compression: args.compression,
    signingKey,
  }, output);
}
