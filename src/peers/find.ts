/**
 * Finds peers: servers announced with mDNS, plus any given by URL, each asked for its
 * listing. A server announced with several addresses is reached on the first that answers.
 */
import type { Discovered } from "./dns_sd.ts";
import { baseUrls, type ClientOptions, fetchListing, type Peer } from "./listings.ts";
import { browse } from "./mdns.ts";

export interface FindOptions extends ClientOptions {
  /** Servers to ask besides (or instead of) those discovered, as `http(s)://host:port`. */
  urls?: string[];
  /** Listen for mDNS answers this long; 0 skips discovery. */
  discoverMs?: number;
  /** IPv4 address of the interface to discover on. */
  interfaceAddress?: string;
  /** mDNS port (tests). */
  mdnsPort?: number;
}

async function firstAnswering(name: string, bases: string[], options: ClientOptions) {
  let error = "no address";
  for (const base of bases) {
    try {
      return { name, base, listing: await fetchListing(base, options) };
    } catch (caught) {
      error = caught instanceof Error ? caught.message : String(caught);
    }
  }
  return { name, base: bases[0] ?? "", error: error.slice(0, 300) };
}

export async function findPeers(options: FindOptions = {}): Promise<Peer[]> {
  const discovered: Discovered[] = options.discoverMs === 0 ? [] : await browse({
    timeoutMs: options.discoverMs ?? 2000,
    interfaceAddress: options.interfaceAddress,
    port: options.mdnsPort,
  });
  const given = (options.urls ?? []).map((url) => url.replace(/\/+$/, ""));
  const fromMdns = discovered
    .map((found) => ({
      name: found.instance,
      bases: baseUrls(found).filter((b) => !given.includes(b)),
    }))
    .filter((p) => p.bases.length);
  return await Promise.all([
    ...given.map((base) => firstAnswering(base, [base], options)),
    ...fromMdns.map((p) => firstAnswering(p.name, p.bases, options)),
  ]);
}
