/**
 * The one place that looks at which runtime runs ota (Deno from source, Bun in the compiled
 * binary, Node for dist/ota.js and the armv7 executable). Everything else uses Web APIs and
 * `node:` built-ins only.
 */
import { realpathSync } from "node:fs";
import process from "node:process";
import { crypto } from "./builtins.ts";

// deno-lint-ignore no-explicit-any
const g = globalThis as any;

export const runtime: "bun" | "deno" | "node" = g.Bun ? "bun" : g.Deno ? "deno" : "node";

/**
 * The file that runs this very ota, for scripts that exec it (module shims): the compiled
 * binary, or under Node the bundle itself (dist/ota.js, run by its `#!/usr/bin/env node`
 * line). Undefined when a runtime runs the source.
 */
export function ownExecutable(): string | undefined {
  const path = process.execPath;
  if (!/\/(deno|bun|node)$/.test(path)) return path;
  const script = process.argv[1];
  if (runtime === "node" && script?.endsWith(".js")) return realpathSync(script);
  return undefined;
}

export interface HttpClientOptions {
  /** PEM certificate(s) to trust in addition to the system store. */
  ca?: string;
  /** Skip TLS certificate verification (Mender's SkipVerify). */
  insecure?: boolean;
  /** Proxy URL for this request, already chosen from HTTPS_PROXY / NO_PROXY. */
  proxy?: string;
  /** PEM client certificate and its key, for servers that want mutual TLS. */
  cert?: string;
  key?: string;
}

/**
 * A `fetch` that honours a trusted CA, SkipVerify and an explicit proxy. Bun and Deno take
 * these as different, non-standard options, Node's global fetch not at all (there a small
 * fetch over node:https does it); this is where that difference lives.
 */
export function httpFetch(options: HttpClientOptions): typeof fetch {
  if (runtime === "bun") {
    const extra = {
      ...(options.ca || options.insecure || options.cert
        ? {
          tls: {
            ca: options.ca,
            rejectUnauthorized: !options.insecure,
            ...(options.cert ? { cert: options.cert, key: options.key } : {}),
          },
        }
        : {}),
      ...(options.proxy ? { proxy: options.proxy } : {}),
    };
    return (input, init) => fetch(input, { ...init, ...extra } as unknown as RequestInit);
  }
  if (runtime === "deno" && (options.ca || options.proxy || options.insecure || options.cert)) {
    if (options.insecure) {
      throw new Error(
        "SkipVerify needs the compiled ota binary; under Deno run with --unsafely-ignore-certificate-errors",
      );
    }
    const client = g.Deno.createHttpClient({
      ...(options.ca ? { caCerts: [options.ca] } : {}),
      ...(options.proxy ? { proxy: { url: options.proxy } } : {}),
      ...(options.cert ? { cert: options.cert, key: options.key } : {}),
    });
    return (input, init) => fetch(input, { ...init, client } as unknown as RequestInit);
  }
  if (runtime === "node" && (options.ca || options.proxy || options.insecure || options.cert)) {
    // node:https is loaded only by the commands that fetch with these options.
    const loaded = import("./platform/node_fetch.ts").then((m) => m.nodeFetch(options));
    return async (input, init) => (await loaded)(input, init);
  }
  return fetch;
}

// ---- HTTP server (`ota serve`) ----

export interface ConnectionInfo {
  remoteAddress: string;
}

export type Handler = (request: Request, info: ConnectionInfo) => Response | Promise<Response>;

export interface ServeOptions {
  hostname: string;
  /** 0 picks a free port; the chosen one is in the result. */
  port: number;
  /** PEM text of the certificate chain and its key. */
  tls?: { cert: string; key: string };
  /** A connection that sends or receives nothing for this long is closed. */
  idleTimeoutSeconds?: number;
}

export interface RunningServer {
  hostname: string;
  port: number;
  /** Requests being handled or whose response body is still being sent. */
  activeRequests(): number;
  /** Stops accepting, ends open connections. */
  close(): Promise<void>;
}

/**
 * Serves `handler`: with `Deno.serve` under Deno, with node:http elsewhere (the compiled
 * binary: Bun.serve would send a streamed body chunked, without its Content-Length). Under
 * both a response body is the handler's stream, sent under the Content-Length it set; a
 * stream that errors breaks the connection off.
 */
export async function serve(handler: Handler, options: ServeOptions): Promise<RunningServer> {
  if (runtime === "deno") return serveDeno(handler, options);
  // node:http and node:https are loaded only by the commands that serve.
  const { serveNode } = await import("./node_http.ts");
  return await serveNode((request, remoteAddress) => handler(request, { remoteAddress }), {
    ...options,
    idleTimeoutSeconds: options.idleTimeoutSeconds ?? 30,
  });
}

/** `body`, lowering the count of active requests once it ended, failed or was cancelled. */
function countedBody(
  body: ReadableStream<Uint8Array>,
  done: () => void,
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let counted = true;
  const end = () => {
    if (counted) done();
    counted = false;
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done: finished, value } = await reader.read();
        if (finished) {
          end();
          controller.close();
        } else controller.enqueue(value);
      } catch (error) {
        end();
        controller.error(error);
      }
    },
    cancel(reason) {
      end();
      return reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
}

function serveDeno(handler: Handler, options: ServeOptions): RunningServer {
  let active = 0;
  const server = g.Deno.serve({
    hostname: options.hostname,
    port: options.port,
    cert: options.tls?.cert,
    key: options.tls?.key,
    onListen: () => {},
  }, async (request: Request, info: { remoteAddr: { hostname: string } }) => {
    active++;
    let response: Response;
    try {
      response = await handler(request, { remoteAddress: info.remoteAddr.hostname });
    } catch (error) {
      active--;
      throw error;
    }
    if (!response.body) {
      active--;
      return response;
    }
    const body = countedBody(response.body, () => active--);
    return new Response(body, { status: response.status, headers: response.headers });
  });
  return {
    hostname: server.addr.hostname,
    port: server.addr.port,
    activeRequests: () => active,
    close: async () => {
      await server.shutdown();
    },
  };
}

// ---- memory ----

/**
 * The SHA-256 of `bytes` written into `out` (32 bytes): for hashing many small blocks. Bun
 * writes it in place; the others hash into a new buffer, which their collectors take in
 * their stride (Bun lets such buffers pile up by the tens of MiB).
 */
export function sha256Into(bytes: Uint8Array, out: Uint8Array): Uint8Array {
  if (runtime === "bun") return g.Bun.SHA256.hash(bytes, out);
  // Node 20.11 (the armv7 build) has no crypto.hash
  const c = crypto();
  out.set(
    typeof c.hash === "function"
      ? c.hash("sha256", bytes, "buffer")
      : c.createHash("sha256").update(bytes).digest(),
  );
  return out;
}

/**
 * A byte counter that asks for a full garbage collection (Bun; elsewhere nothing) every
 * `every` bytes. A long stream drops a chunk every few hundred KiB, and Bun's collector,
 * sized by the host's RAM, lets tens of MiB of them pile up before it runs.
 */
export function collectEvery(every: number): (bytes: number) => void {
  let since = 0;
  return (bytes) => {
    since += bytes;
    if (since < every) return;
    since = 0;
    if (runtime === "bun") g.Bun.gc(true);
  };
}
