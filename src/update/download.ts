/**
 * The Download state's work: the artifact's scripts are stored (the commit after a reboot
 * runs them), then the payload streams from the source through verification into the
 * handler, which keeps it inactive; the artifact is read to its end, so every checksum and
 * the signature are checked before ArtifactInstall may act on it.
 */
import type { PayloadFile } from "../artifact/payload.ts";
import type { Artifact } from "../artifact/reader.ts";
import { fail } from "../errors.ts";
import type { HandlerContext, PayloadHandler } from "../handlers/handler.ts";
import type { Progress } from "../progress.ts";
import { type ArtifactRanges, releasedOnRead } from "../adaptive/ranged_source.ts";
import { storeArtifactScripts } from "./scripts.ts";

/** An artifact being read, with its progress; `close` ends both, once. */
export interface Reading {
  artifact: Artifact;
  /** Byte ranges of the same artifact, when its source serves them. */
  ranges?: ArtifactRanges;
  close(error?: unknown): Promise<void>;
}

export function reading(artifact: Artifact, progress: Progress, ranges?: ArtifactRanges): Reading {
  let open = true;
  ranges?.watch(progress);
  return {
    artifact,
    ranges,
    async close(error) {
      if (!open) return;
      open = false;
      progress.done();
      if (error !== undefined) await artifact.cancel(error);
    },
  };
}

export async function downloadArtifact(
  source: Reading | undefined,
  handler: PayloadHandler,
  ctx: HandlerContext,
  dataDir: string,
): Promise<void> {
  if (!source) fail("INTERNAL", "only the process that began the update can download it");
  const { artifact, ranges } = source;
  try {
    await storeArtifactScripts(dataDir, artifact.header.scripts);
    const payloads = artifact.payloads();
    const first = await payloads.next();
    const files: AsyncIterable<PayloadFile> = first.done
      ? (async function* () {})()
      : first.value.files();
    await handler.download(ranges ? releasedOnRead(files, ranges) : files, {
      ...ctx,
      header: artifact.header,
      payload: artifact.header.payloads[0]!,
      headerInfoBytes: artifact.header.infoBytes,
      manifest: artifact.manifest,
      ranges,
    });
    await payloads.return(undefined);
    if (ranges?.finished) await artifact.cancel(); // assembled from pieces: the rest is not read
    else {
      ranges?.release();
      await artifact.finish();
    }
  } catch (error) {
    await source.close(error);
    throw error;
  }
  await source.close();
}
