/**
 * DNS-SD (RFC 6763) records for `_ota._tcp.local`: what a server announces, and how a
 * browser turns the answers it hears back into servers with addresses. Pure functions over
 * the record objects of `dns-packet`, so they are tested without a network.
 */

export const SERVICE = "_ota._tcp.local";

export interface Record {
  name: string;
  type: string;
  ttl?: number;
  class?: string;
  flush?: boolean;
  // deno-lint-ignore no-explicit-any
  data?: any;
}

export interface Announced {
  /** The instance label, unique on the link (e.g. `ota on laptop-1234`). */
  instance: string;
  /** The host name, ending in `.local`. */
  host: string;
  port: number;
  addresses: string[];
  /** Small key=value facts: `path`, `tls`, `auth`, `version`. */
  txt: { [key: string]: string };
}

export interface Discovered {
  instance: string;
  host: string;
  port: number;
  addresses: string[];
  txt: { [key: string]: string };
}

/** Instance labels are one DNS label: no dots, at most 63 bytes. */
export function instanceLabel(text: string): string {
  let label = text.replace(/\./g, "-");
  while (new TextEncoder().encode(label).length > 63) label = label.slice(0, -1);
  return label;
}

export function instanceName(instance: string): string {
  return `${instance}.${SERVICE}`;
}

/** The answer to a PTR query for the service, with SRV, TXT and addresses alongside. */
export function serviceRecords(service: Announced, ttl = 120): {
  answers: Record[];
  additionals: Record[];
} {
  const fqdn = instanceName(service.instance);
  return {
    answers: [{ name: SERVICE, type: "PTR", ttl: ttl && 4500, data: fqdn }],
    additionals: [
      {
        name: fqdn,
        type: "SRV",
        ttl,
        flush: true,
        data: { port: service.port, target: service.host },
      },
      {
        name: fqdn,
        type: "TXT",
        ttl: ttl && 4500,
        flush: true,
        data: Object.entries(service.txt).map(([k, v]) => `${k}=${v}`),
      },
      ...service.addresses.map((address) => ({
        name: service.host,
        type: address.includes(":") ? "AAAA" : "A",
        ttl,
        flush: true,
        data: address,
      })),
    ],
  };
}

function txtOf(data: unknown): { [key: string]: string } {
  const out: { [key: string]: string } = {};
  const items = Array.isArray(data) ? data : [data];
  for (const item of items) {
    const text = typeof item === "string" ? item : new TextDecoder().decode(item as Uint8Array);
    const at = text.indexOf("=");
    if (at > 0 && at < 64) out[text.slice(0, at).toLowerCase()] = text.slice(at + 1, at + 256);
  }
  return out;
}

/**
 * Collects the services found in a set of response records. `source` is the address the
 * response came from: used when a server announced no address records.
 */
export function collectServices(
  found: Map<string, Discovered>,
  records: Record[],
  source: string,
): void {
  const pointers = records.filter((r) => r.type === "PTR" && r.name === SERVICE);
  for (const ptr of pointers) {
    const fqdn = String(ptr.data);
    if (!fqdn.endsWith(`.${SERVICE}`) || ptr.ttl === 0) {
      if (ptr.ttl === 0) found.delete(fqdn);
      continue;
    }
    const srv = records.find((r) => r.type === "SRV" && r.name === fqdn);
    if (!srv?.data?.port) continue;
    const host = String(srv.data.target);
    const txt = records.find((r) => r.type === "TXT" && r.name === fqdn);
    const addresses = records
      .filter((r) => (r.type === "A" || r.type === "AAAA") && r.name === host)
      .map((r) => String(r.data));
    const entry = found.get(fqdn) ?? {
      instance: fqdn.slice(0, -SERVICE.length - 1),
      host,
      port: Number(srv.data.port),
      addresses: [],
      txt: {},
    };
    entry.port = Number(srv.data.port);
    entry.host = host;
    if (txt) entry.txt = txtOf(txt.data);
    for (const address of addresses.length ? addresses : [source]) {
      if (!entry.addresses.includes(address)) entry.addresses.push(address);
    }
    found.set(fqdn, entry);
  }
}
