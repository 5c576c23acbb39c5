/**
 * An artifact taken apart into a temporary directory, for editing: every payload file is
 * written there only once it verified, with the verified header beside it. Disposing of
 * the result removes the directory.
 */
import { promises as fs } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fail } from "../errors.ts";
import { readFileStream, writeFully } from "../files.ts";
import type { ByteStream } from "../streams.ts";
import type { Compression } from "./compression.ts";
import type { ArtifactHeader } from "./header.ts";
import type { ReadLimits } from "./limits.ts";
import { openArtifact } from "./reader.ts";

/** Streams a verified payload file to `dir/name`; a mismatch leaves no file behind. */
export async function saveVerified(
  dir: string,
  name: string,
  stream: ByteStream,
): Promise<string> {
  const target = join(dir, name);
  const partial = join(dir, `.${name}.part`);
  const handle = await fs.open(partial, "w", 0o644);
  try {
    let position = 0;
    for await (const chunk of stream) {
      await writeFully(handle, chunk, position);
      position += chunk.byteLength;
    }
    await handle.close();
    await fs.rename(partial, target);
    return target;
  } catch (error) {
    await handle.close().catch(() => {});
    await fs.rm(partial, { force: true });
    throw error;
  }
}

export interface UnpackedArtifact extends AsyncDisposable {
  /** The temporary directory; payload files are in `files/`. */
  dir: string;
  version: number;
  compression: Compression;
  signed: boolean;
  header: ArtifactHeader;
  /** The payload's files in order, each saved under `files/`. */
  files: { name: string; path: string }[];
}

/** Verifies `path` completely and unpacks its one payload; refuses what cannot be rewritten. */
export async function unpackArtifact(
  path: string,
  limits?: Partial<ReadLimits>,
): Promise<UnpackedArtifact> {
  const artifact = await openArtifact(readFileStream(path), { limits });
  const dir = await fs.mkdtemp(join(tmpdir(), "ota-artifact-"));
  const dispose = () => fs.rm(dir, { recursive: true, force: true });
  try {
    if (artifact.augmented) {
      fail("NOT_SUPPORTED", "augmented artifacts cannot be modified (nor by mender-artifact)");
    }
    if (artifact.header.payloads[0]?.type == null) {
      fail("NOT_SUPPORTED", "an empty-payload (bootstrap) artifact has nothing to modify");
    }
    await fs.mkdir(join(dir, "files"));
    const files: UnpackedArtifact["files"] = [];
    for await (const payload of artifact.payloads()) {
      for await (const file of payload.files()) {
        files.push({
          name: file.name,
          path: await saveVerified(join(dir, "files"), file.name, file.stream),
        });
      }
    }
    await artifact.finish();
    return {
      dir,
      version: artifact.version,
      compression: artifact.compression,
      signed: artifact.signed,
      header: artifact.header,
      files,
      [Symbol.asyncDispose]: dispose,
    };
  } catch (error) {
    await artifact.cancel(error);
    await dispose();
    throw error;
  }
}
