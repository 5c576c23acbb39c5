/**
 * The one place that looks at which runtime runs ota (Deno from source, Bun in the compiled
 * binary). Everything else uses Web APIs and `node:` built-ins only.
 */
import { readFileStream } from "./files.ts";

// deno-lint-ignore no-explicit-any
const g = globalThis as any;

export const runtime: "bun" | "deno" | "node" = g.Bun ? "bun" : g.Deno ? "deno" : "node";

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
 * A `fetch` that honours a trusted CA, SkipVerify and an explicit proxy. The two runtimes
 * take these as different, non-standard options; this is where that difference lives.
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
  return fetch;
}

// ---- HTTP server (`ota serve`) ----

interface BunServer {
  hostname?: string;
  port?: number;
  pendingRequests: number;
  requestIP(request: Request): { address: string } | null;
  stop(closeActiveConnections?: boolean): Promise<void> | void;
}

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
  /** A connection that sends or receives nothing for this long is closed (Bun: at most 255). */
  idleTimeoutSeconds?: number;
  /** Request bodies larger than this are refused by the server itself. */
  maxRequestBodyBytes?: number;
}

export interface RunningServer {
  hostname: string;
  port: number;
  /** Requests being handled or whose response body is still being sent. */
  activeRequests(): number;
  /** Stops accepting, ends open connections. */
  close(): Promise<void>;
}

/** Deno-side requests in flight, counted until their file body is sent or abandoned. */
let denoActive = 0;
/** Responses whose body lowers `denoActive` itself when it ends. */
const selfCounting = new WeakSet<Response>();

/** Serves `handler` with the runtime's own server call: `Bun.serve` or `Deno.serve`. */
export function serve(handler: Handler, options: ServeOptions): Promise<RunningServer> {
  if (runtime === "bun") return Promise.resolve(serveBun(handler, options));
  if (runtime === "deno") return Promise.resolve(serveDeno(handler, options));
  throw new Error("serving HTTP needs the ota binary (Bun) or Deno");
}

function serveBun(handler: Handler, options: ServeOptions): RunningServer {
  const server: BunServer = g.Bun.serve({
    hostname: options.hostname,
    port: options.port,
    idleTimeout: Math.min(255, options.idleTimeoutSeconds ?? 30),
    maxRequestBodySize: options.maxRequestBodyBytes ?? 64 * 1024,
    tls: options.tls,
    development: false,
    fetch: (request: Request, srv: BunServer) =>
      handler(request, { remoteAddress: srv.requestIP(request)?.address ?? "" }),
  });
  return {
    hostname: server.hostname ?? options.hostname,
    port: server.port ?? options.port,
    // Bun counts a request until its body (a sendfile of a file slice too) is fully sent.
    activeRequests: () => server.pendingRequests,
    close: async () => {
      await server.stop(true);
    },
  };
}

function serveDeno(handler: Handler, options: ServeOptions): RunningServer {
  const server = g.Deno.serve({
    hostname: options.hostname,
    port: options.port,
    cert: options.tls?.cert,
    key: options.tls?.key,
    onListen: () => {},
  }, async (request: Request, info: { remoteAddr: { hostname: string } }) => {
    denoActive++;
    try {
      const response = await handler(request, { remoteAddress: info.remoteAddr.hostname });
      if (!selfCounting.has(response)) denoActive--;
      return response;
    } catch (error) {
      denoActive--;
      throw error;
    }
  });
  return {
    hostname: server.addr.hostname,
    port: server.addr.port,
    activeRequests: () => denoActive,
    close: async () => {
      await server.shutdown();
    },
  };
}

export interface FileResponseOptions {
  /** First byte, inclusive. */
  start: number;
  /** End, exclusive. */
  end: number;
  status: number;
  headers: Headers;
  /** HEAD: the same headers, no body. */
  headOnly?: boolean;
}

/**
 * A response carrying bytes `[start, end)` of a file with an exact Content-Length. Under Bun
 * it is a slice of `Bun.file`, sent with sendfile: a streamed body would lose its
 * Content-Length there (Bun sends streams chunked).
 */
export function fileResponse(path: string, options: FileResponseOptions): Response {
  const { start, end, status, headers } = options;
  headers.set("content-length", String(end - start));
  if (options.headOnly) return new Response(null, { status, headers });
  if (runtime === "bun") {
    return new Response(g.Bun.file(path).slice(start, end), { status, headers });
  }
  let counted = runtime === "deno";
  const done = () => {
    if (counted) denoActive--;
    counted = false;
  };
  const reader = readFileStream(path, start, end - start).getReader();
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done: finished, value } = await reader.read();
        if (finished) {
          done();
          controller.close();
        } else controller.enqueue(value);
      } catch (error) {
        done();
        controller.error(error);
      }
    },
    cancel(reason) {
      done();
      return reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
  const response = new Response(body, { status, headers });
  selfCounting.add(response);
  return response;
}

// ---- memory ----

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
