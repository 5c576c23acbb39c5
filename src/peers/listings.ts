/**
 * Asks peers what they offer. A peer is untrusted: its listing is size-capped, parsed with
 * the server's own schema, and its download URLs must stay on the same server.
 */
import { httpFetch } from "../platform.ts";
import { readAll } from "../streams.ts";
import { type Listing, listingSchema } from "../server/listing.ts";
import type { Discovered } from "./dns_sd.ts";

export interface ClientOptions {
  /** Sent as `Authorization: Bearer <token>`. */
  token?: string;
  /** PEM of a certificate to trust (a peer's own, self-signed one). */
  ca?: string;
  timeoutMs?: number;
}

export interface Peer {
  /** Where the peer was found: its mDNS instance, or the URL it was given as. */
  name: string;
  /** `http(s)://address:port`, no trailing slash. */
  base: string;
  listing?: Listing;
  /** Why the listing could not be had. */
  error?: string;
}

const MAX_LISTING = 8 * 1024 * 1024;

/** The base URLs of a discovered server, one per address (IPv6 in brackets). */
export function baseUrls(found: Discovered): string[] {
  const scheme = found.txt.tls === "1" ? "https" : "http";
  return found.addresses.map((address) =>
    `${scheme}://${address.includes(":") ? `[${address}]` : address}:${found.port}`
  );
}

export function authHeaders(token?: string): Record<string, string> {
  return token ? { authorization: `Bearer ${token}` } : {};
}

export async function fetchListing(base: string, options: ClientOptions = {}): Promise<Listing> {
  const response = await httpFetch({ ca: options.ca })(`${base}/artifacts`, {
    headers: { accept: "application/json", ...authHeaders(options.token) },
    signal: AbortSignal.timeout(options.timeoutMs ?? 5000),
  });
  if (!response.ok || !response.body) {
    await response.body?.cancel();
    throw new Error(`HTTP ${response.status}${response.status === 401 ? " (needs --token)" : ""}`);
  }
  const bytes = await readAll(response.body, MAX_LISTING, "the listing");
  const listing = listingSchema.parse(JSON.parse(new TextDecoder().decode(bytes)));
  listing.artifacts = listing.artifacts.filter((a) =>
    a.url.startsWith("/artifacts/") && !a.url.includes("..") && !a.url.includes("//")
  );
  return listing;
}

/** Asks every peer at once; a peer that does not answer is kept with its error. */
export function fetchListings(
  peers: { name: string; base: string }[],
  options: ClientOptions = {},
): Promise<Peer[]> {
  return Promise.all(peers.map(async (peer) => {
    try {
      return { ...peer, listing: await fetchListing(peer.base, options) };
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      return { ...peer, error: message.slice(0, 300) };
    }
  }));
}
