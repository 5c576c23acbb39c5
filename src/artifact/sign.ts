/**
 * Signs an existing artifact: verify it completely first (a signature vouches for the bytes,
 * so a corrupt artifact is never signed), then copy its members with a new `manifest.sig`
 * right after the manifest.
 */
import { promises as fs } from "node:fs";
import { dirname } from "node:path";
import { createTarDecoder } from "modern-tar";
import { fail } from "../errors.ts";
import { readFileStream, syncDir, writeFully } from "../files.ts";
import { drain, readAll } from "../streams.ts";
import { verifyArtifact } from "./reader.ts";
import { type SigningKey, signManifest } from "./signature.ts";
import { END_OF_ARCHIVE, tarHeader, tarPadding } from "./tar_write.ts";
import { defaultLimits } from "./limits.ts";

export interface SignOptions {
  /** Replace an existing signature. */
  force?: boolean;
}

export async function signArtifact(
  input: string,
  output: string,
  key: SigningKey,
  options: SignOptions = {},
): Promise<void> {
  const verified = await verifyArtifact(readFileStream(input));
  if (verified.signed && !options.force) {
    fail("ARTIFACT_SIGNED", `${input} is already signed; use -f to replace its signature`);
  }
  const temp = `${output}.tmp-${process.pid}`;
  const handle = await fs.open(temp, "w", 0o644);
  try {
    let position = 0;
    const put = async (bytes: Uint8Array) => {
      await writeFully(handle, bytes, position);
      position += bytes.byteLength;
    };
    const entries = readFileStream(input).pipeThrough(createTarDecoder({ strict: true }));
    for await (const { header, body } of entries) {
      if (header.name === "manifest.sig") {
        // Read to its end, never cancelled: modern-tar's decoder keeps one controller for
        // the body being filled, and a late cancel of a finished body clears the next
        // member's, so that member is skipped and its reader waits forever.
        await drain(body);
        continue;
      }
      const mtime = header.mtime ? Math.floor(header.mtime.getTime() / 1000) : 0;
      await put(
        tarHeader({
          name: header.name,
          size: header.size,
          mode: header.mode,
          mtime,
          owner: header.uname,
        }),
      );
      if (header.name === "manifest") {
        const manifest = await readAll(body, defaultLimits.manifestBytes, "manifest");
        await put(manifest);
        await put(tarPadding(manifest.byteLength));
        const sig = signManifest(manifest, key);
        await put(tarHeader({ name: "manifest.sig", size: sig.byteLength, mode: 0o600 }));
        await put(sig);
        await put(tarPadding(sig.byteLength));
        continue;
      }
      for await (const chunk of body) await put(chunk);
      await put(tarPadding(header.size));
    }
    await put(END_OF_ARCHIVE);
    await handle.sync();
    await handle.close();
    await fs.rename(temp, output);
    await syncDir(dirname(output));
  } catch (error) {
    await handle.close().catch(() => {});
    await fs.rm(temp, { force: true });
    throw error;
  }
}
