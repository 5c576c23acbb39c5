/**
 * Downloads one offer from the peers that hold it, into a file, resuming with
 * `Range: bytes=N-` and `If-Range: "<sha256>"` (the ETag of an ota server), on the same peer
 * or the next one when a transfer breaks. The whole file's SHA-256 is checked at the end;
 * on a mismatch every peer that contributed bytes is dropped and the download starts over
 * from the peers left.
 */
import { createHash, type Hash } from "node:crypto";
import { promises as fs } from "node:fs";
import { fail } from "../errors.ts";
import { writeFully } from "../files.ts";
import { httpFetch } from "../platform.ts";
import { authHeaders, type ClientOptions } from "./listings.ts";
import type { PeerSources } from "./sources.ts";

export interface DownloadTarget {
  sha256: string;
  size: number;
}

export interface DownloadOptions extends ClientOptions {
  /** A transfer that delivers nothing for this long is given up on (then resumed). */
  idleTimeoutMs?: number;
  /** Bytes written so far, for progress. */
  onProgress?: (bytes: number) => void;
  /** Each time a transfer breaks or a peer is dropped. */
  onEvent?: (message: string) => void;
  /** Pause before retrying, grows with each retry up to 5 s. */
  retryDelayMs?: number;
}

class Corrupt extends Error {}

/** Checks a 206's Content-Range against what was asked: `bytes <have>-<size-1>/<size>`. */
function rangeMatches(header: string | null, have: number, size: number): boolean {
  const match = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(header ?? "");
  return !!match && Number(match[1]) === have && Number(match[2]) === size - 1 &&
    Number(match[3]) === size;
}

export async function downloadFromPeers(
  target: DownloadTarget,
  sources: PeerSources,
  path: string,
  options: DownloadOptions = {},
): Promise<{ peers: string[] }> {
  const etag = `"${target.sha256}"`;
  const idle = options.idleTimeoutMs ?? 30_000;
  const event = options.onEvent ?? (() => {});
  const request = httpFetch({ ca: options.ca });
  const handle = await fs.open(path, "w");
  let have = 0;
  let hash: Hash = createHash("sha256");
  const contributors = new Set<string>();
  let retries = 0;
  try {
    for (;;) {
      if (have === target.size) {
        const digest = hash.digest("hex");
        if (digest === target.sha256) return { peers: [...contributors] };
        for (const url of contributors) {
          sources.corrupt(url, `the file's SHA-256 is ${digest}, not ${target.sha256}`);
        }
        event(`checksum mismatch; starting over from the peers left`);
        have = 0;
        hash = createHash("sha256");
        contributors.clear();
        await handle.truncate(0);
      }
      const url = sources.current();
      if (!url) {
        fail(
          "PEER_DOWNLOAD_FAILED",
          `no peer could deliver the artifact (${sources.history().slice(-4).join("; ")})`,
        );
      }
      if (retries > 0) {
        await new Promise((r) =>
          setTimeout(r, Math.min(5000, (options.retryDelayMs ?? 300) * retries))
        );
      }
      const controller = new AbortController();
      let timer = setTimeout(() => controller.abort(), idle);
      try {
        const headers: Record<string, string> = authHeaders(options.token);
        if (have > 0) Object.assign(headers, { range: `bytes=${have}-`, "if-range": etag });
        const response = await request(url, { headers, signal: controller.signal });
        const tag = response.headers.get("etag");
        if (response.status === 200) {
          if (Number(response.headers.get("content-length")) !== target.size) {
            throw new Corrupt(
              `it sends ${response.headers.get("content-length")} bytes, not ${target.size}`,
            );
          }
          if (have > 0) {
            // The peer ignored the range: take the whole file from it again.
            have = 0;
            hash = createHash("sha256");
            contributors.clear();
            await handle.truncate(0);
          }
        } else if (response.status === 206) {
          if (!rangeMatches(response.headers.get("content-range"), have, target.size)) {
            throw new Corrupt(
              `it answered range ${response.headers.get("content-range")} for ${have}-`,
            );
          }
        } else {
          await response.body?.cancel();
          throw new Error(`HTTP ${response.status}`);
        }
        if (tag !== null && tag !== etag) throw new Corrupt(`its ETag ${tag} is not ${etag}`);
        contributors.add(url);
        for await (const chunk of response.body!) {
          clearTimeout(timer);
          timer = setTimeout(() => controller.abort(), idle);
          if (have + chunk.byteLength > target.size) {
            throw new Corrupt("it sends more bytes than the file has");
          }
          await writeFully(handle, chunk, have);
          hash.update(chunk);
          have += chunk.byteLength;
          options.onProgress?.(have);
        }
        if (have < target.size) {
          throw new Error(`the transfer ended at ${have} of ${target.size} bytes`);
        }
        retries = 0;
      } catch (error) {
        if (error instanceof Corrupt) {
          sources.corrupt(url, error.message);
          event(`dropped ${url}: ${error.message}`);
          continue;
        }
        const reason = controller.signal.aborted
          ? `nothing received for ${idle / 1000} s`
          : error instanceof Error
          ? error.message
          : String(error);
        sources.failed(url, reason);
        retries++;
        event(`${url}: ${reason}; resuming at byte ${have}`);
      } finally {
        clearTimeout(timer);
      }
    }
  } finally {
    await handle.close();
  }
}
