/**
 * `ota serve` put together: the catalog of a directory, the hono app, the runtime's server
 * (through platform.ts) and the mDNS announcement. It listens (and announces) only once the
 * first scan verified what the directory holds, so an artifact that is there is never
 * answered 404 for being not yet seen. Returned running; `close` undoes it all.
 */
import { hostname } from "node:os";
import type { VerifyKey } from "../artifact/signature.ts";
import { fail } from "../errors.ts";
import { instanceLabel } from "../peers/dns_sd.ts";
import { announce, type Announcement, localAddresses } from "../peers/mdns.ts";
import { serve } from "../platform.ts";
import { VERSION } from "../version.ts";
import { createApp } from "./app.ts";
import { openCatalog } from "./catalog.ts";

export interface ServerOptions {
  dir: string;
  host: string;
  port: number;
  tls?: { cert: string; key: string };
  token?: string;
  verifyKeys?: VerifyKey[];
  name?: string;
  maxTransfers?: number;
  rescanMs?: number;
  /** A file must be untouched this long before it is verified (tests shorten it). */
  quietMs?: number;
  /** Announce with mDNS (default true). */
  announce?: boolean;
  /** IPv4 address of the interface to announce on; also the only address announced. */
  mdnsInterface?: string;
  mdnsPort?: number;
  log?: (line: string) => void;
}

export interface RunningOtaServer {
  /** `http(s)://host:port` as reachable from this host. */
  url: string;
  port: number;
  close(): Promise<void>;
}

const wildcard = (host: string) => host === "0.0.0.0" || host === "::" || host === "";

export async function startServer(options: ServerOptions): Promise<RunningOtaServer> {
  const log = options.log ?? (() => {});
  const catalog = await openCatalog({
    dir: options.dir,
    verifyKeys: options.verifyKeys,
    intervalMs: options.rescanMs,
    quietMs: options.quietMs,
    log,
  });
  await catalog.ready();
  const host = hostname().split(".")[0] || "device";
  const name = options.name ?? `ota on ${host}`;
  let server: Awaited<ReturnType<typeof serve>> | undefined;
  const app = createApp({
    catalog,
    name,
    token: options.token,
    maxTransfers: options.maxTransfers,
    activeRequests: () => server?.activeRequests() ?? 0,
    log,
  });
  try {
    server = await serve(
      (request, info) => app.fetch(request, { remoteAddress: info.remoteAddress }),
      { hostname: options.host, port: options.port, tls: options.tls },
    );
  } catch (error) {
    const code = (error as { code?: string }).code ?? (error as Error).message;
    fail(
      "SERVE_LISTEN",
      `cannot listen on ${options.host}:${options.port} (${code}); pick another --port or --host`,
    );
  }
  catalog.start();
  const scheme = options.tls ? "https" : "http";
  const shownHost = wildcard(options.host) ? "127.0.0.1" : options.host;
  let announcement: Announcement | undefined;
  if (options.announce !== false) {
    // A specific --host is the one address to announce; else each interface its own.
    const addresses = !wildcard(options.host) ? [options.host] : undefined;
    announcement = announce({
      instance: name,
      host: `${instanceLabel(host)}.local`,
      port: server.port,
      addresses,
      txt: {
        path: "/artifacts",
        tls: options.tls ? "1" : "0",
        auth: options.token ? "1" : "0",
        version: VERSION,
      },
    }, {
      interfaceAddress: options.mdnsInterface,
      port: options.mdnsPort,
      onError: (error) => log(`mDNS: ${error.message}`),
    });
    log(
      `announcing ${scheme}://${
        (addresses ?? (options.mdnsInterface ? [options.mdnsInterface] : localAddresses())).join(
          ", ",
        )
      }:${server.port} as ${name} (mDNS)`,
    );
  }
  return {
    url: `${scheme}://${shownHost.includes(":") ? `[${shownHost}]` : shownHost}:${server.port}`,
    port: server.port,
    async close() {
      await announcement?.stop();
      await catalog.stop();
      await server!.close();
    },
  };
}
