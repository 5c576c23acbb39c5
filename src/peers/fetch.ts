/**
 * Fetches a chosen offer into a directory as a verified copy: downloaded into a hidden
 * `.NAME.part` beside the target (never listed by `ota serve`), checked (SHA-256 and the
 * whole artifact), then renamed into place, so a directory served by `ota serve` re-serves
 * it to the next devices only once it is complete and valid.
 */
import { promises as fs } from "node:fs";
import { basename, dirname, join } from "node:path";
import { verifyArtifact } from "../artifact/reader.ts";
import type { VerifyKey } from "../artifact/signature.ts";
import { fail, isOtaError } from "../errors.ts";
import { readFileStream, syncDir } from "../files.ts";
import type { Offer } from "./choose.ts";
import { downloadFromPeers, type DownloadOptions } from "./download.ts";
import { keepRefusal } from "./keep.ts";
import { peerSources, type SourceOptions } from "./sources.ts";

export interface FetchOptions extends DownloadOptions, SourceOptions {
  verifyKeys?: VerifyKey[];
  /** Refuse when the directory would then hold more than this many bytes of artifacts. */
  maxDirBytes?: number;
}

/** A name for a file coming from an untrusted listing: one plain path segment. */
export function safeFileName(name: string): string {
  const base = basename(name);
  // deno-lint-ignore no-control-regex
  if (!/^[^./\\\x00-\x1f][^/\\\x00-\x1f]{0,200}$/.test(base) || base !== name) {
    fail(
      "PEER_BAD_NAME",
      `a peer offers the file name ${JSON.stringify(name.slice(0, 80))}; refused`,
    );
  }
  return base.toLowerCase().endsWith(".mender") ? base : `${base}.mender`;
}

/** Downloads `offer` to `target` (a file path); returns the URLs that delivered it. */
export async function fetchOffer(
  offer: Offer,
  target: string,
  options: FetchOptions = {},
): Promise<{ path: string; peers: string[] }> {
  const dir = dirname(target);
  const refusal = await keepRefusal({
    dir,
    file: basename(target),
    size: offer.size,
    maxDirBytes: options.maxDirBytes,
  });
  if (refusal) {
    fail("PEER_DISK_LIMIT", `cannot fetch ${offer.file} (${offer.size} bytes): ${refusal}`);
  }
  const part = join(dir, `.${basename(target)}.part`);
  const sources = peerSources(offer.urls, options);
  try {
    for (;;) {
      const { peers } = await downloadFromPeers(offer, sources, part, options);
      try {
        await verifyArtifact(readFileStream(part), { verifyKeys: options.verifyKeys });
      } catch (error) {
        if (!isOtaError(error) || error.code === "SIGNATURE_MISSING") throw error;
        // Same SHA-256 as listed but not a valid artifact: the listing itself lied.
        for (const url of peers) sources.corrupt(url, `its artifact is invalid: ${error.message}`);
        if (!sources.current()) throw error;
        continue;
      }
      await fs.rename(part, target);
      await syncDir(dir);
      return { path: target, peers };
    }
  } finally {
    await fs.rm(part, { force: true });
  }
}
