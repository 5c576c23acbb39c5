/**
 * A fetch-style handler served with `node:http` / `node:https`: what `ota serve` runs on in
 * the compiled binary. Bun's own server frames every streamed body as chunked and drops its
 * Content-Length, and sends files with sendfile, out of reach of a check at the end; here a
 * body goes out exactly as the handler's stream gives it, under the Content-Length the
 * handler set, and a stream that errors breaks the connection off, so a client never takes a
 * short or changed body for a whole one.
 */
import type http from "node:http";
import { http as nodeHttp, https as nodeHttps } from "./builtins.ts";
import type { AddressInfo } from "node:net";

export interface NodeServeOptions {
  hostname: string;
  port: number;
  tls?: { cert: string; key: string };
  /** A connection that sends or receives nothing for this long is closed. */
  idleTimeoutSeconds: number;
}

export interface NodeServer {
  hostname: string;
  port: number;
  /** Requests being handled or whose response is still being sent. */
  activeRequests(): number;
  close(): Promise<void>;
}

/** More request headers than this is an attack or a mistake. */
const MAX_HEADERS = 100;

/** Small bodies without a length (JSON, HTML, text) are sent whole, with their length. */
const MAX_BUFFERED = 16 * 1024 * 1024;

function toRequest(req: http.IncomingMessage, scheme: string): Request {
  const headers = new Headers();
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
    headers.append(req.rawHeaders[i]!, req.rawHeaders[i + 1]!);
  }
  const host = /^[\w.:[\]-]{1,255}$/.test(req.headers.host ?? "") ? req.headers.host : "localhost";
  return new Request(`${scheme}://${host}${req.url ?? "/"}`, {
    method: req.method,
    headers,
  });
}

async function send(res: http.ServerResponse, method: string, response: Response): Promise<void> {
  const headers: Record<string, string | string[]> = {};
  response.headers.forEach((value, name) => {
    if (name === "set-cookie") headers[name] = response.headers.getSetCookie();
    else headers[name] = value;
  });
  const body = response.body;
  if (!body || method === "HEAD") {
    await body?.cancel().catch(() => {});
    res.writeHead(response.status, headers);
    res.end();
    return;
  }
  if (!response.headers.has("content-length")) {
    const bytes = new Uint8Array(await response.arrayBuffer());
    if (bytes.byteLength > MAX_BUFFERED) throw new Error("a response body without a length");
    headers["content-length"] = String(bytes.byteLength);
    res.writeHead(response.status, headers);
    res.end(bytes);
    return;
  }
  res.writeHead(response.status, headers);
  const reader = body.getReader();
  const gone = () => reader.cancel().catch(() => {});
  res.once("close", gone);
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (res.destroyed) return;
      if (!res.write(value)) {
        await new Promise<void>((resolve) => {
          const go = () => {
            res.off("drain", go);
            res.off("close", go);
            resolve();
          };
          res.on("drain", go);
          res.on("close", go);
        });
      }
    }
    res.end();
  } catch {
    // The body broke (a file that changed under it): no complete response may go out.
    res.destroy();
  } finally {
    res.off("close", gone);
  }
}

export async function serveNode(
  handler: (request: Request, remoteAddress: string) => Response | Promise<Response>,
  options: NodeServeOptions,
): Promise<NodeServer> {
  let active = 0;
  const scheme = options.tls ? "https" : "http";
  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse) => {
    active++;
    res.once("close", () => active--);
    // node:http keeps the first 2000 headers and drops the rest: such a request is refused
    if (req.rawHeaders.length / 2 > MAX_HEADERS) {
      res.writeHead(431, { connection: "close", "content-length": "0" }).end();
      return;
    }
    if (req.headers["content-length"] || req.headers["transfer-encoding"]) {
      res.shouldKeepAlive = false; // its body is never read
    }
    (async () => {
      let request: Request;
      try {
        request = toRequest(req, scheme);
      } catch {
        res.writeHead(400, { "content-type": "text/plain; charset=utf-8", connection: "close" });
        res.end("bad request\n");
        return;
      }
      await send(res, request.method, await handler(request, req.socket.remoteAddress ?? ""));
    })().catch(() => {
      if (!res.headersSent) {
        res.writeHead(500, { "content-type": "text/plain; charset=utf-8" });
        res.end("internal error\n");
      } else res.destroy();
    });
  };
  // Node looks for clients past headersTimeout only every connectionsCheckingInterval
  // (30 s by default): a client that trickles its headers must go within seconds.
  const checks = { connectionsCheckingInterval: 2000 };
  const server = options.tls
    ? nodeHttps().createServer(
      { ...checks, cert: options.tls.cert, key: options.tls.key },
      onRequest,
    )
    : nodeHttp().createServer(checks, onRequest);
  server.setTimeout(options.idleTimeoutSeconds * 1000);
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.hostname, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  return {
    hostname: address.address,
    port: address.port,
    activeRequests: () => active,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections?.();
      }),
  };
}
