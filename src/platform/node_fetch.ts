/**
 * A `fetch` for Node that honours an extra trusted CA, SkipVerify and a proxy: Node's global
 * fetch (undici) takes none of them without its own npm package. It covers what ota asks of
 * fetch: any method with headers and a small body (a string or bytes: managed mode's JSON and
 * its signed auth request), a client certificate, an AbortSignal, redirects followed, and a
 * response body read as fast as the caller reads it. A proxy is used as curl does: absolute-form requests for http URLs, a
 * CONNECT tunnel for https ones.
 */
import { Buffer } from "node:buffer";
import http from "node:http";
import https from "node:https";
import type { Socket } from "node:net";
import tls from "node:tls";

export interface NodeFetchOptions {
  ca?: string;
  insecure?: boolean;
  proxy?: string;
  /** PEM client certificate and key (mutual TLS). */
  cert?: string;
  key?: string;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const NO_BODY = new Set([101, 204, 205, 304]);

function abortError(signal: AbortSignal): Error {
  return signal.reason instanceof Error
    ? signal.reason
    : new DOMException("The operation was aborted.", "AbortError");
}

/** Headers to send for the proxy itself: its credentials, if the URL has them. */
function proxyAuth(proxy: URL): Record<string, string> {
  if (!proxy.username) return {};
  const credentials = `${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`;
  return { "proxy-authorization": `Basic ${Buffer.from(credentials).toString("base64")}` };
}

/** A TLS socket to `target` through the proxy's CONNECT tunnel. */
function tunnel(
  proxy: URL,
  target: URL,
  tlsOptions: tls.ConnectionOptions,
  signal: AbortSignal | undefined,
): Promise<Socket> {
  const port = target.port || "443";
  return new Promise((resolve, reject) => {
    const request = (proxy.protocol === "https:" ? https : http).request({
      host: proxy.hostname.replace(/^\[|\]$/g, ""),
      port: proxy.port || (proxy.protocol === "https:" ? 443 : 80),
      method: "CONNECT",
      signal,
      path: `${target.hostname}:${port}`,
      headers: { host: `${target.hostname}:${port}`, ...proxyAuth(proxy) },
      ...(proxy.protocol === "https:" ? tlsOptions : {}),
    });
    request.once("connect", (response, socket) => {
      if (response.statusCode !== 200) {
        socket.destroy();
        reject(new Error(`the proxy answered ${response.statusCode} to CONNECT`));
        return;
      }
      const secure = tls.connect({
        ...tlsOptions,
        socket,
        host: target.hostname.replace(/^\[|\]$/g, ""), // the name the certificate must carry
        servername: /^[\d.]+$|:/.test(target.hostname) ? undefined : target.hostname,
      });
      secure.once("secureConnect", () => resolve(secure));
      secure.once("error", reject);
    });
    request.once("error", (error) => reject(signal?.aborted ? abortError(signal) : error));
    request.end();
  });
}

/** The response body as a web stream that pauses the socket while nobody reads. */
function bodyStream(res: http.IncomingMessage): ReadableStream<Uint8Array> {
  // node:http may still emit after a cancel or an error; past the first ending nothing counts
  let settled = false;
  return new ReadableStream<Uint8Array>({
    start(controller) {
      const settle = (end: () => void) => {
        if (settled) return;
        settled = true;
        end();
      };
      res.on("data", (chunk: Buffer) => {
        if (settled) return;
        controller.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
        if ((controller.desiredSize ?? 0) <= 0) res.pause();
      });
      res.once("end", () => settle(() => controller.close()));
      res.on("error", (error) => settle(() => controller.error(error)));
      // A connection cut before the end is an error, not a short body.
      res.once(
        "aborted",
        () => settle(() => controller.error(new Error("the connection was closed early"))),
      );
      res.pause();
    },
    pull() {
      res.resume();
    },
    cancel() {
      settled = true;
      res.destroy();
    },
  }, { highWaterMark: 2 });
}

function tlsOptionsFor(options: NodeFetchOptions): tls.ConnectionOptions {
  return {
    rejectUnauthorized: !options.insecure,
    // Node's `ca` replaces its bundled roots: keep them and add the configured one.
    ...(options.ca ? { ca: [...tls.rootCertificates, options.ca] } : {}),
    ...(options.cert ? { cert: options.cert, key: options.key } : {}),
  };
}

/** The request body as bytes: ota sends strings and byte arrays, never streams. */
function bodyBytes(body: RequestInit["body"]): Uint8Array | undefined {
  if (body === undefined || body === null) return undefined;
  if (typeof body === "string") return new TextEncoder().encode(body);
  if (body instanceof Uint8Array) return body;
  if (body instanceof ArrayBuffer) return new Uint8Array(body);
  throw new TypeError("this fetch sends only string or byte bodies");
}

/** Sends `request` with its body and resolves with its response as a Web Response. */
function respond(
  request: http.ClientRequest,
  method: string,
  signal: AbortSignal | undefined,
  body: Uint8Array | undefined,
): Promise<Response> {
  return new Promise<Response>((resolve, reject) => {
    request.once("response", (res) => {
      const headers = new Headers();
      for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) {
        headers.append(res.rawHeaders[i]!, res.rawHeaders[i + 1]!);
      }
      const status = res.statusCode ?? 0;
      const empty = NO_BODY.has(status) || method === "HEAD";
      if (empty) res.resume();
      const body = empty ? null : bodyStream(res);
      resolve(new Response(body, { status, statusText: res.statusMessage, headers }));
    });
    request.once("error", (error) => reject(signal?.aborted ? abortError(signal) : error));
    request.end(body);
  });
}

async function fetchOnce(url: URL, init: RequestInit, options: NodeFetchOptions) {
  const signal = init.signal ?? undefined;
  if (signal?.aborted) throw abortError(signal);
  const method = init.method ?? "GET";
  const headers: Record<string, string> = {};
  new Headers(init.headers).forEach((value, name) => headers[name] = value);
  const body = bodyBytes(init.body);
  // a known length, as Mender 4 and 5 send it (node:http would send the body chunked)
  if (body) headers["content-length"] = String(body.byteLength);
  const tlsOptions = tlsOptionsFor(options);
  const proxy = options.proxy ? new URL(options.proxy) : undefined;
  if (proxy && url.protocol === "https:") {
    const socket = await tunnel(proxy, url, tlsOptions, signal);
    const request = https.request(url, {
      method,
      headers,
      signal,
      // no agent: then node:http takes the tunnelled socket from createConnection
      createConnection: () => socket as tls.TLSSocket,
    });
    return respond(request, method, signal, body);
  }
  if (proxy) {
    // an http URL: the absolute-form request line goes to the proxy
    const request = (proxy.protocol === "https:" ? https : http).request({
      ...tlsOptions,
      method,
      signal,
      host: proxy.hostname.replace(/^\[|\]$/g, ""),
      port: proxy.port || (proxy.protocol === "https:" ? 443 : 80),
      path: url.href,
      headers: { host: url.host, ...headers, ...proxyAuth(proxy) },
    });
    return respond(request, method, signal, body);
  }
  const request = (url.protocol === "https:" ? https : http).request(url, {
    ...tlsOptions,
    method,
    headers,
    signal,
    agent: false,
  });
  return respond(request, method, signal, body);
}

export function nodeFetch(options: NodeFetchOptions): typeof fetch {
  return async (input, init = {}) => {
    let url = new URL(input instanceof Request ? input.url : String(input));
    for (let hops = 0;; hops++) {
      const response = await fetchOnce(url, init, options);
      const location = response.headers.get("location");
      if (!REDIRECTS.has(response.status) || !location || init.redirect === "manual") {
        return response;
      }
      await response.body?.cancel();
      if (init.redirect === "error" || hops >= 20) {
        throw new TypeError(`${url.href}: too many redirects or redirects refused`);
      }
      url = new URL(location, url);
      // as fetch does: a 303, or a 301/302 of a POST, goes on as a GET without the body
      const method = (init.method ?? "GET").toUpperCase();
      if (response.status === 303 || (method === "POST" && response.status < 303)) {
        init = { ...init, method: method === "HEAD" ? "HEAD" : "GET", body: undefined };
      }
    }
  };
}
