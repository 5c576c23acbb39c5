/**
 * Which artifact to take from which peers. Offers are grouped by the file's SHA-256, so
 * every peer holding the same bytes is a source for the same download. Whether an offer
 * fits uses the same rules as install (`incompatibilities`) on the metadata the peer
 * listed; the install engine checks the real, verified header again before installing.
 */
import type { ArtifactHeader } from "../artifact/header.ts";
import { type DeviceIdentity, incompatibilities } from "../device/provides.ts";
import { fail } from "../errors.ts";
import type { ArtifactMeta } from "../server/listing.ts";
import type { Peer } from "./listings.ts";

export interface Offer {
  sha256: string;
  size: number;
  /** The file name on the first peer that offers it. */
  file: string;
  artifact: ArtifactMeta;
  /** Full download URLs, one per peer holding these bytes. */
  urls: string[];
  /** Empty when it fits this device. */
  reasons: string[];
}

/**
 * The part of a header that `incompatibilities` reads, rebuilt from listed metadata: the
 * device types, and the merged depends as if one payload carried them all.
 */
function headerOf(meta: ArtifactMeta): ArtifactHeader {
  return {
    info: {
      artifact_provides: { artifact_name: meta.name },
      artifact_depends: { device_type: meta.deviceTypes },
    },
    payloads: [{ typeInfo: { artifact_depends: meta.depends } }],
  } as unknown as ArtifactHeader;
}

export function fitReasons(meta: ArtifactMeta, device: DeviceIdentity): string[] {
  return incompatibilities(headerOf(meta), device);
}

/** Every valid artifact the peers offer, one offer per distinct file content. */
export function collectOffers(peers: Peer[], device: DeviceIdentity): Offer[] {
  const offers = new Map<string, Offer>();
  for (const peer of peers) {
    for (const entry of peer.listing?.artifacts ?? []) {
      if (!entry.valid || !entry.artifact) continue;
      const url = new URL(entry.url, `${peer.base}/`).href;
      const known = offers.get(entry.sha256);
      if (known) {
        if (known.size === entry.size && !known.urls.includes(url)) known.urls.push(url);
        continue;
      }
      offers.set(entry.sha256, {
        sha256: entry.sha256,
        size: entry.size,
        file: entry.file,
        artifact: entry.artifact,
        urls: [url],
        reasons: fitReasons(entry.artifact, device),
      });
    }
  }
  return [...offers.values()].sort((a, b) => a.artifact.name.localeCompare(b.artifact.name));
}

/**
 * The one fitting offer to install: the one named (artifact name or file name), or the only
 * fitting one not already installed. Several candidates is an error that names them.
 */
export function chooseOffer(offers: Offer[], device: DeviceIdentity, name?: string): Offer {
  const named = name
    ? offers.filter((o) => o.artifact.name === name || o.file === name)
    : offers.filter((o) => o.artifact.name !== device.provides.artifact_name);
  const fitting = named.filter((o) => o.reasons.length === 0);
  if (fitting.length === 0) {
    const why = named[0]
      ? `: ${named[0].artifact.name} does not fit (${named[0].reasons.join("; ")})`
      : name
      ? `: none is called ${name}`
      : "";
    fail(
      "PEER_NO_ARTIFACT",
      `no peer offers ${
        name ? "that" : "a new"
      } artifact for device type ${device.deviceType}${why}; run 'ota peers' to see what is offered`,
    );
  }
  if (fitting.length > 1) {
    const names = [...new Set(fitting.map((o) => o.artifact.name))];
    const detail = names.length > 1
      ? names.join(", ")
      : `${names[0]} (different files: ${fitting.map((o) => o.sha256.slice(0, 12)).join(", ")})`;
    fail("PEER_AMBIGUOUS", `several artifacts fit: ${detail}; name one, by artifact or file name`);
  }
  return fitting[0]!; // exactly one, checked above
}
