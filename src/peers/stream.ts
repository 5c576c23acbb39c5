/**
 * One offer as a byte stream from the peers that hold it: the resumable body of src/http
 * with the listing's SHA-256 as the ETag it must carry and its size, the peers as origins.
 * A broken transfer resumes on the same peer or the next; a peer whose answer does not fit
 * (length, range, ETag) is dropped at once; a busy one (503) is passed over. At the
 * end the SHA-256 of everything delivered is checked: on a mismatch the stream errors
 * instead of closing, and the peers that contributed are dropped for the next attempt.
 */
import { openRanged, type RangedSource } from "../adaptive/ranged_source.ts";
import { crypto } from "../builtins.ts";
import { fail, OtaError } from "../errors.ts";
import { sleep } from "../http/backoff.ts";
import { DEFAULT_LIMITS, type TransferLimits } from "../http/limits.ts";
import type { Origins } from "../http/origins.ts";
import { type BodyOptions, openBody } from "../http/resumable.ts";
import { httpFetch } from "../platform.ts";
import type { ByteStream } from "../streams.ts";
import { authHeaders, type ClientOptions } from "./listings.ts";
import type { PeerSources } from "./sources.ts";

export interface PeerTarget {
  sha256: string;
  size: number;
}

export interface PeerStreamOptions extends ClientOptions {
  /** Idle timeout and minimum rate of each transfer (default: those of mender.conf's). */
  limits?: TransferLimits;
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

/** The peers holding the file, as origins of a resumable body. */
function peerOrigins(sources: PeerSources, options: PeerStreamOptions): Origins {
  const event = options.onEvent ?? (() => {});
  let busyInRow = 0;
  let busyRounds = 0;
  return {
    next: () => sources.current(),
    failed: (url, cause) => sources.failed(url, cause.message),
    refused(url, cause) {
      sources.corrupt(url, cause.message);
      event(`dropped ${url}: ${cause.message}`);
    },
    /** A busy peer: try the next; when all were busy, look for new peers, then wait. */
    async busy(url, retryAfter) {
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
      const wait = Math.min(5, retryAfter || 2);
      event(`all peers are busy; trying again in ${wait} s`);
      await sleep(wait * 1000);
    },
    exhausted: () =>
      new OtaError(
        "PEER_DOWNLOAD_FAILED",
        `no peer could deliver the artifact (${sources.history().slice(-4).join("; ")})`,
      ),
  };
}

/**
 * The same offer with its head fetched by byte ranges and its pieces open to the installer
 * (adaptive updates, src/adaptive): a peer whose pieces do not match the signed index is
 * dropped and the piece asked of the next; read whole, its SHA-256 is checked as above.
 */
export async function peerRanged(
  target: PeerTarget,
  sources: PeerSources,
  name: string,
  options: PeerStreamOptions = {},
): Promise<RangedSource> {
  return await openRanged({
    ...peerBody(target, sources, options),
    name,
    blame(url, reason) {
      sources.corrupt(url, reason);
      options.onEvent?.(`dropped ${url}: ${reason}`);
      return sources.remaining().length > 0;
    },
    onWhole: (digest, peers) => checkWhole(target, sources, digest, peers, options),
  });
}

/** How the peers' copy of `target` is fetched, as one stream or by ranges. */
function peerBody(
  target: PeerTarget,
  sources: PeerSources,
  options: PeerStreamOptions,
): BodyOptions {
  return {
    fetch: httpFetch({ ca: options.ca }),
    origins: peerOrigins(sources, options),
    headers: authHeaders(options.token),
    validators: { etag: `"${target.sha256}"`, size: target.size },
    limits: options.limits ?? DEFAULT_LIMITS,
    backoff: { firstMs: options.retryDelayMs ?? 500, maxMs: 5000 },
    onEvent: options.onEvent,
  };
}

/** The whole file's SHA-256 against the listing's: on a mismatch its peers are dropped. */
function checkWhole(
  target: PeerTarget,
  sources: PeerSources,
  digest: string,
  peers: string[],
  options: PeerStreamOptions,
): void {
  if (digest !== target.sha256) {
    for (const url of peers) {
      sources.corrupt(url, `delivered a file whose SHA-256 is ${digest}`);
    }
    fail(
      "PEER_CHECKSUM",
      `the artifact from ${
        peers.join(", ")
      } has SHA-256 ${digest}, not the ${target.sha256} listed; those peers are dropped`,
    );
  }
  options.onComplete?.(peers);
}

export function peerStream(
  target: PeerTarget,
  sources: PeerSources,
  options: PeerStreamOptions = {},
): ByteStream {
  const hash = crypto().createHash("sha256");
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  let contributors: () => string[] = () => [];
  return new ReadableStream<Uint8Array>({
    async pull(stream) {
      if (!reader) {
        const body = await openBody(peerBody(target, sources, options));
        reader = body.stream.getReader();
        contributors = body.contributors;
      }
      const { done, value } = await reader.read();
      if (!done) {
        hash.update(value);
        stream.enqueue(value);
        return;
      }
      checkWhole(target, sources, hash.digest("hex"), contributors(), options);
      stream.close();
    },
    async cancel(reason) {
      await reader?.cancel(reason).catch(() => {});
    },
  }, { highWaterMark: 0 });
}
