/**
 * Reads one file of the served directory completely: the artifact is verified (manifest,
 * header, every payload checksum, the signature when keys are given) and the whole file is
 * hashed for its ETag. Only a file that passes is ever offered for download.
 */
import { createHash } from "node:crypto";
import { verifyArtifact } from "../artifact/reader.ts";
import type { VerifyKey } from "../artifact/signature.ts";
import { artifactDepends } from "../device/provides.ts";
import { asOtaError } from "../errors.ts";
import { readFileStream } from "../files.ts";
import { mergeRecords } from "../records.ts";
import type { ArtifactMeta, ListedFile } from "./listing.ts";

/**
 * Which file, in which state: what was verified, compared again before and while it is
 * served. The ctime catches a rewrite in place that kept size and mtime (`touch -r`), and
 * any write or rename, since no one can set it back.
 */
export interface FileStamp {
  dev: number;
  ino: number;
  size: number;
  mtimeMs: number;
  ctimeMs: number;
}

export function stampOf(
  stat: { dev: number; ino: number; size: number; mtimeMs: number; ctimeMs: number },
): FileStamp {
  return {
    dev: stat.dev,
    ino: stat.ino,
    size: stat.size,
    mtimeMs: stat.mtimeMs,
    ctimeMs: stat.ctimeMs,
  };
}

/**
 * When the file last changed, at the latest. Deno reports ctime in whole seconds (Bun to the
 * nanosecond): a ctime on a whole second may stand for any moment of that second.
 */
export function lastChange(stamp: FileStamp): number {
  const ctime = stamp.ctimeMs % 1000 === 0 ? stamp.ctimeMs + 999 : stamp.ctimeMs;
  return Math.max(stamp.mtimeMs, ctime);
}

export function sameStamp(a: FileStamp, b: FileStamp): boolean {
  return a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.mtimeMs === b.mtimeMs &&
    a.ctimeMs === b.ctimeMs;
}

export async function sha256OfFile(path: string, size: number): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of readFileStream(path, 0, size)) hash.update(chunk);
  return hash.digest("hex");
}

/** Verifies `path` and describes it for the listing; never throws for a bad file. */
export async function inspectFile(
  path: string,
  file: string,
  stamp: FileStamp,
  verifyKeys: VerifyKey[],
): Promise<ListedFile> {
  const base = {
    file,
    url: `/artifacts/${encodeURIComponent(file)}`,
    size: stamp.size,
    modified: new Date(stamp.mtimeMs).toISOString(),
  };
  let artifact: ArtifactMeta | undefined;
  let error: { code: string; message: string } | undefined;
  try {
    const info = await verifyArtifact(readFileStream(path, 0, stamp.size), {
      verifyKeys: verifyKeys.length ? verifyKeys : undefined,
    });
    const header = info.header;
    const provides = mergeRecords(...header.payloads.map((p) => p.typeInfo.artifact_provides));
    provides.artifact_name = header.info.artifact_provides.artifact_name;
    const group = header.info.artifact_provides.artifact_group;
    if (group) provides.artifact_group = group;
    artifact = {
      name: header.info.artifact_provides.artifact_name,
      group: group ?? null,
      deviceTypes: header.info.artifact_depends.device_type,
      provides,
      depends: artifactDepends(header),
      clearsProvides: header.payloads.flatMap((p) => p.typeInfo.clears_artifact_provides ?? []),
      payloadTypes: header.payloads.map((p) => p.type),
      signed: info.signed,
      signatureVerified: info.signatureVerified,
      compression: info.compression,
    };
  } catch (caught) {
    const failure = asOtaError(caught, "ARTIFACT_CORRUPT", "the file could not be read");
    error = { code: failure.code, message: failure.message.slice(0, 1000) };
  }
  const sha256 = await sha256OfFile(path, stamp.size);
  return artifact
    ? { ...base, sha256, valid: true, artifact }
    : { ...base, sha256, valid: false, error };
}
