/**
 * What `ota install --from-peer` and `--keep-for-peers` call: find the peers, choose the one
 * artifact that fits this device (its real identity from the device store), and stream it
 * from every peer holding it, with resume; optionally keep a verified copy to serve on.
 * The installer verifies the artifact as it reads, as from any other source.
 */
import type { VerifyKey } from "../artifact/signature.ts";
import type { DeviceIdentity } from "../device/provides.ts";
import type { TransferLimits } from "../http/limits.ts";
import type { ByteStream } from "../streams.ts";
import { chooseOffer, collectOffers } from "./choose.ts";
import { safeFileName } from "./fetch.ts";
import { type FindOptions, findPeers } from "./find.ts";
import { keepWhileStreaming } from "./keep.ts";
import { peerSources } from "./sources.ts";
import { peerRanged, peerStream } from "./stream.ts";
import type { ArtifactRanges } from "../adaptive/ranged_source.ts";
import { fail } from "../errors.ts";

/** The installer's source shape (src/update/source.ts), restated to keep peers below update. */
export interface StreamSource {
  stream: ByteStream;
  size?: number;
  name: string;
  ranges?: ArtifactRanges;
}

export interface PeerInstallOptions extends FindOptions {
  /** Artifact or file name; default: the one fitting artifact not installed yet. */
  name?: string;
  log?: (message: string) => void;
  /** Idle timeout and minimum rate of each transfer (mender.conf's). */
  limits?: TransferLimits;
  /** Read the head by byte ranges, so that an adaptive artifact's pieces can be fetched alone. */
  adaptive?: boolean;
}

export async function openPeerSource(
  device: DeviceIdentity,
  options: PeerInstallOptions = {},
): Promise<StreamSource & { file: string }> {
  const log = options.log ?? (() => {});
  const peers = await findPeers(options);
  if (!peers.some((p) => p.listing)) {
    fail(
      "PEER_NONE",
      `no ota server answered${
        peers.length ? ` (${peers.map((p) => `${p.base}: ${p.error}`).join("; ")})` : ""
      }; check that one runs ('ota serve DIR') on this network, or give --peer URL`,
    );
  }
  const offer = chooseOffer(collectOffers(peers, device), device, options.name);
  log(
    `Peers offer ${offer.artifact.name} (${offer.size} bytes) from ${offer.urls.length} peer(s)`,
  );
  const sources = peerSources(offer.urls);
  const name = `${offer.artifact.name} from peers (${offer.urls.join(", ")})`;
  const streamOptions = {
    ...options,
    onEvent: log,
    refresh: () => sameFileElsewhere(offer.sha256, device, options),
  };
  const file = safeFileName(offer.file);
  if (options.adaptive) return { ...await peerRanged(offer, sources, name, streamOptions), file };
  return { stream: peerStream(offer, sources, streamOptions), size: offer.size, name, file };
}

/** URLs of peers (found again now) that hold the file with this SHA-256. */
export async function sameFileElsewhere(
  sha256: string,
  device: DeviceIdentity,
  options: FindOptions,
): Promise<string[]> {
  const peers = await findPeers({
    ...options,
    discoverMs: Math.min(options.discoverMs ?? 1000, 1000),
  });
  return collectOffers(peers, device).filter((o) => o.sha256 === sha256).flatMap((o) => o.urls);
}

export interface KeepForPeers {
  dir: string;
  maxDirBytes?: number;
  verifyKeys?: VerifyKey[];
  log?: (message: string) => void;
}

/** Wraps an installer source so a verified copy lands in `keep.dir` (see keep.ts). */
export async function keepSource(
  source: StreamSource & { file?: string },
  keep: KeepForPeers,
): Promise<StreamSource> {
  const fromName = source.name.split(/[/?#]/).filter(Boolean).pop() ?? "artifact";
  const file = source.file ?? safeFileName(decodeURIComponent(fromName).replace(/[^\w.+-]/g, "_"));
  // a kept copy needs every byte: the artifact is read whole, never in pieces
  source.ranges?.release();
  return {
    stream: await keepWhileStreaming(source.stream, { ...keep, file, size: source.size }),
    size: source.size,
    name: source.name,
  };
}
