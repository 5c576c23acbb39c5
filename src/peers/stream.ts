/**
 * One offer as a byte stream from the peers that hold it: a broken transfer resumes with
 * `Range: bytes=N-` and `If-Range: "<sha256>"` (an ota server's ETag) on the same peer or the
 * next; a peer whose answer does not fit (length, Content-Range, ETag) is dropped at once.
 * At the end the SHA-256 of everything delivered is checked: on a mismatch the stream errors
 * instead of closing, and the peers that contributed are dropped for the next attempt.
 */
import { createHash } from "node:crypto";
import { fail, OtaError } from "../errors.ts";
import { httpFetch } from "../platform.ts";
import type { ByteStream } from "../streams.ts";
import { authHeaders, type ClientOptions } from "./listings.ts";
import type { PeerSources } from "./sources.ts";

export interface PeerTarget {
  sha256: string;
  size: number;
}

export interface PeerStreamOptions extends ClientOptions {
  /** A transfer that delivers nothing for this long is given up on (then resumed). */
  idleTimeoutMs?: number;
  /** Each time a transfer breaks or a peer is dropped. */
  onEvent?: (message: string) => void;
  /** Pause before the first retry; it doubles with each one, up to 5 s. */
  retryDelayMs?: number;
  /** Called with the URLs that delivered bytes, once all arrived and matched. */
  onComplete?: (peers: string[]) => void;
  /**
   * When every peer is busy: URLs of peers found since (the same file, by SHA-256). Devices
   * that finished re-serve the update, so waiting for the seed is rarely needed.
   */
  refresh?: () => Promise<string[]>;
}

class Corrupt extends Error {}

/** A 206's Content-Range must be exactly what was asked: `bytes <have>-<size-1>/<size>`. */
function rangeMatches(header: string | null, have: number, size: number): boolean {
  const match = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(header ?? "");
  return !!match && Number(match[1]) === have && Number(match[2]) === size - 1 &&
    Number(match[3]) === size;
}

export function peerStream(
  target: PeerTarget,
  sources: PeerSources,
  options: PeerStreamOptions = {},
): ByteStream {
  const etag = `"${target.sha256}"`;
  const idle = options.idleTimeoutMs ?? 30_000;
  const event = options.onEvent ?? (() => {});
  const request = httpFetch({ ca: options.ca });
  const hash = createHash("sha256");
  const contributors = new Set<string>();
  let have = 0;
  let retries = 0;
  let current: {
    url: string;
    reader: ReadableStreamDefaultReader<Uint8Array>;
    controller: AbortController;
  } | undefined;

  /** Opens a response from the next usable peer at byte `have`. */
  async function open(): Promise<void> {
    for (;;) {
      const url = sources.current();
      if (!url) {
        fail(
          "PEER_DOWNLOAD_FAILED",
          `no peer could deliver the artifact (${sources.history().slice(-4).join("; ")})`,
        );
      }
      if (retries > 0) {
        const delay = (options.retryDelayMs ?? 500) * 2 ** (retries - 1);
        await new Promise((r) => setTimeout(r, Math.min(5000, delay)));
      }
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(), idle);
      try {
        const headers: Record<string, string> = authHeaders(options.token);
        if (have > 0) Object.assign(headers, { range: `bytes=${have}-`, "if-range": etag });
        const response = await request(url, { headers, signal: controller.signal });
        const tag = response.headers.get("etag");
        if (response.status === 503) {
          await response.body?.cancel();
          await busy(url, Number(response.headers.get("retry-after")) || 2);
          continue;
        }
        const ok = (have === 0 && response.status === 200) || (have > 0 && response.status === 206);
        if (!ok || !response.body) {
          await response.body?.cancel();
          // A 200 to a resume means the peer holds other bytes now (If-Range failed).
          if (response.status === 200) throw new Corrupt("it no longer holds the same file");
          throw new Error(`HTTP ${response.status}`);
        }
        if (tag !== null && tag !== etag) {
          await response.body.cancel();
          throw new Corrupt(`its ETag ${tag} is not ${etag}`);
        }
        if (
          response.status === 200 && Number(response.headers.get("content-length")) !== target.size
        ) {
          await response.body.cancel();
          throw new Corrupt(
            `it sends ${response.headers.get("content-length")} bytes, not ${target.size}`,
          );
        }
        if (
          response.status === 206 &&
          !rangeMatches(response.headers.get("content-range"), have, target.size)
        ) {
          await response.body.cancel();
          throw new Corrupt(
            `it answered ${response.headers.get("content-range")} for bytes ${have}-`,
          );
        }
        current = { url, reader: response.body.getReader(), controller };
        return;
      } catch (error) {
        note(url, error, controller);
      } finally {
        clearTimeout(timer);
      }
    }
  }

  let busyInRow = 0;
  let busyRounds = 0;
  /** A busy peer: try the next; when all were busy, look for new peers, then wait. */
  async function busy(url: string, retryAfter: number): Promise<void> {
    sources.busy(url);
    busyInRow++;
    if (busyInRow < sources.remaining().length) return;
    busyInRow = 0;
    if (++busyRounds > 300) {
      fail("PEER_BUSY", "every peer stayed busy for about ten minutes; try again later");
    }
    const before = sources.remaining().length;
    if (options.refresh) sources.add(await options.refresh().catch(() => []));
    if (sources.remaining().length > before) {
      event(`found ${sources.remaining().length - before} more peer(s) with the file`);
      return;
    }
    event(`all peers are busy; trying again in ${Math.min(5, retryAfter)} s`);
    await new Promise((r) => setTimeout(r, Math.min(5, retryAfter) * 1000));
  }

  function note(url: string, error: unknown, controller: AbortController): void {
    if (error instanceof Corrupt) {
      sources.corrupt(url, error.message);
      event(`dropped ${url}: ${error.message}`);
      return;
    }
    if (error instanceof OtaError) throw error;
    const reason = controller.signal.aborted
      ? `nothing received for ${idle / 1000} s`
      : error instanceof Error
      ? error.message
      : String(error);
    sources.failed(url, reason);
    retries++;
    event(`${url}: ${reason}; resuming at byte ${have}`);
  }

  /** The next chunk from the current peer, or undefined when that transfer broke. */
  async function read(): Promise<Uint8Array | null | undefined> {
    const { url, reader, controller } = current!;
    const timer = setTimeout(() => controller.abort(), idle);
    try {
      const { done, value } = await reader.read();
      if (done) {
        if (have < target.size) {
          throw new Error(`the transfer ended at byte ${have} of ${target.size}`);
        }
        return null;
      }
      if (have + value.byteLength > target.size) {
        throw new Corrupt("it sends more bytes than the file has");
      }
      contributors.add(url);
      retries = 0;
      return value;
    } catch (error) {
      current = undefined;
      await reader.cancel().catch(() => {});
      note(url, error, controller);
      return undefined;
    } finally {
      clearTimeout(timer);
    }
  }

  return new ReadableStream<Uint8Array>({
    async pull(stream) {
      for (;;) {
        if (have === target.size && !current) break;
        if (!current) await open();
        const chunk = await read();
        if (chunk === undefined) continue;
        if (chunk === null) break;
        hash.update(chunk);
        have += chunk.byteLength;
        stream.enqueue(chunk);
        return;
      }
      current = undefined;
      const digest = hash.digest("hex");
      if (digest !== target.sha256) {
        for (const url of contributors) {
          sources.corrupt(url, `delivered a file whose SHA-256 is ${digest}`);
        }
        fail(
          "PEER_CHECKSUM",
          `the artifact from ${
            [...contributors].join(", ")
          } has SHA-256 ${digest}, not the ${target.sha256} listed; those peers are dropped`,
        );
      }
      options.onComplete?.([...contributors]);
      stream.close();
    },
    async cancel(reason) {
      await current?.reader.cancel(reason).catch(() => {});
      current = undefined;
    },
  }, { highWaterMark: 0 });
}
