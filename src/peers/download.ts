/**
 * Downloads one offer from the peers that hold it into a file (see stream.ts for resume and
 * checks). When the finished file's SHA-256 is wrong, the peers that delivered it are
 * dropped and the download starts over from the peers left.
 */
import { promises as fs } from "node:fs";
import { isOtaError } from "../errors.ts";
import { writeFully } from "../files.ts";
import type { PeerSources } from "./sources.ts";
import { peerStream, type PeerStreamOptions, type PeerTarget } from "./stream.ts";

export interface DownloadOptions extends PeerStreamOptions {
  /** Bytes written so far, for progress. */
  onProgress?: (bytes: number) => void;
}

export async function downloadFromPeers(
  target: PeerTarget,
  sources: PeerSources,
  path: string,
  options: DownloadOptions = {},
): Promise<{ peers: string[] }> {
  for (;;) {
    let peers: string[] = [];
    const handle = await fs.open(path, "w");
    try {
      let offset = 0;
      const stream = peerStream(target, sources, { ...options, onComplete: (p) => peers = p });
      for await (const chunk of stream) {
        await writeFully(handle, chunk, offset);
        offset += chunk.byteLength;
        options.onProgress?.(offset);
      }
      return { peers };
    } catch (error) {
      if (!isOtaError(error, "PEER_CHECKSUM") || !sources.current()) throw error;
      options.onEvent?.(`${error.message}; starting over`);
    } finally {
      await handle.close();
    }
  }
}
