/**
 * Multicast DNS (RFC 6762) for peers, on `multicast-dns`: a server answers queries for
 * `_ota._tcp.local` and announces itself on start and when it stops; a browser asks and
 * collects answers for a moment. Both can be pinned to one interface (by its IPv4 address).
 * The instance name carries the host name and port, so it is unique without probing.
 */
import { networkInterfaces } from "node:os";
import createMdns from "multicast-dns";
import {
  collectServices,
  type Discovered,
  instanceLabel,
  type Record,
  SERVICE,
  serviceRecords,
} from "./dns_sd.ts";
import type { Announced } from "./dns_sd.ts";

interface Packet {
  id?: number;
  type?: string;
  questions?: { name: string; type: string }[];
  answers?: Record[];
  additionals?: Record[];
  authorities?: Record[];
}
interface RemoteInfo {
  address: string;
  port: number;
}
interface Mdns {
  on(event: "query" | "response", listener: (packet: Packet, rinfo: RemoteInfo) => void): void;
  on(event: "error" | "warning", listener: (error: Error) => void): void;
  query(packet: Packet, callback?: (error?: Error | null) => void): void;
  respond(packet: Packet, rinfo?: RemoteInfo, callback?: (error?: Error | null) => void): void;
  destroy(callback?: () => void): void;
}

export interface MdnsOptions {
  /** IPv4 address of the interface to use; default: all interfaces. */
  interfaceAddress?: string;
  /** Port; 5353 except in tests. */
  port?: number;
  onError?: (error: Error) => void;
}

function open(options: MdnsOptions): Mdns {
  const mdns = (createMdns as unknown as (o: object) => Mdns)({
    interface: options.interfaceAddress,
    // Bound to the wildcard: a socket bound to the interface's address would not see
    // packets sent to the multicast group.
    bind: "0.0.0.0",
    port: options.port ?? 5353,
    reuseAddr: true,
  });
  const onError = options.onError ?? (() => {});
  mdns.on("error", onError);
  mdns.on("warning", onError);
  return mdns;
}

/** The IPv4 addresses of this host's interfaces that peers could reach. */
export function localAddresses(): string[] {
  return Object.values(networkInterfaces()).flat()
    .filter((a) => a && !a.internal && a.family === "IPv4")
    .map((a) => a!.address);
}

export interface Announcement {
  stop(): Promise<void>;
}

/**
 * The interfaces to use: the one asked for, else every IPv4 interface. Each gets its own
 * socket with its multicast interface set, which also works on hosts without a default
 * route (where sending to 224.0.0.251 would otherwise fail with ENETUNREACH).
 */
function interfaces(options: MdnsOptions): (string | undefined)[] {
  if (options.interfaceAddress) return [options.interfaceAddress];
  const all = localAddresses();
  return all.length ? all : [undefined];
}

function respondOn(
  service: Announced,
  options: MdnsOptions,
): Announcement {
  const mdns = open(options);
  const records = serviceRecords(service);
  const fqdn = `${service.instance}.${SERVICE}`;
  const asked = (q: { name: string; type: string }) =>
    (q.name === SERVICE && (q.type === "PTR" || q.type === "ANY")) ||
    (q.name === fqdn && ["SRV", "TXT", "ANY"].includes(q.type)) ||
    (q.name === service.host && ["A", "AAAA", "ANY"].includes(q.type));
  mdns.on("query", (query, rinfo) => {
    const questions = (query.questions ?? []).filter(asked);
    if (!questions.length) return;
    if (rinfo.port !== (options.port ?? 5353)) {
      // A legacy one-shot resolver (dig, nslookup): answer it directly, echoing its id.
      mdns.respond({ id: query.id, questions, ...records }, rinfo);
    } else mdns.respond(records);
  });
  const send = () => mdns.respond(records);
  send();
  const again = setTimeout(send, 1000);
  return {
    stop: () =>
      new Promise<void>((resolve) => {
        clearTimeout(again);
        const bye = serviceRecords(service, 0);
        mdns.respond(bye, undefined, () => mdns.destroy(() => resolve()));
      }),
  };
}

/**
 * Answers queries for the service until stopped; announces on start, says goodbye at stop.
 * Without explicit `addresses`, each interface announces its own address.
 */
export function announce(
  service: Omit<Announced, "addresses"> & { addresses?: string[] },
  options: MdnsOptions = {},
): Announcement {
  const parts = interfaces(options).map((address) => {
    const addresses = service.addresses ?? (address ? [address] : localAddresses());
    // The address and port make the instance unique on the link without probing.
    const instance = instanceLabel(`${service.instance} ${addresses[0] ?? ""}:${service.port}`);
    return respondOn({ ...service, instance, addresses }, {
      ...options,
      interfaceAddress: address,
    });
  });
  return { stop: async () => void await Promise.all(parts.map((p) => p.stop())) };
}

export interface BrowseOptions extends MdnsOptions {
  /** How long to listen for answers. */
  timeoutMs?: number;
}

/** Asks for `_ota._tcp.local` on every interface (twice, in case a packet is lost). */
export function browse(options: BrowseOptions = {}): Promise<Discovered[]> {
  const found = new Map<string, Discovered>();
  const sockets = interfaces(options).map((address) => {
    const mdns = open({ ...options, interfaceAddress: address });
    mdns.on("response", (packet, rinfo) => {
      const records = [
        ...(packet.answers ?? []),
        ...(packet.additionals ?? []),
        ...(packet.authorities ?? []),
      ];
      collectServices(found, records, rinfo.address);
    });
    return mdns;
  });
  const ask = () => {
    for (const mdns of sockets) mdns.query({ questions: [{ name: SERVICE, type: "PTR" }] });
  };
  ask();
  const timeout = options.timeoutMs ?? 2000;
  const again = setTimeout(ask, Math.min(1000, timeout / 3));
  return new Promise((resolve) => {
    setTimeout(async () => {
      clearTimeout(again);
      await Promise.all(sockets.map((mdns) => new Promise<void>((r) => mdns.destroy(() => r()))));
      resolve([...found.values()]);
    }, timeout);
  });
}
