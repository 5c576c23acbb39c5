/**
 * The hono app behind `ota serve`: a read-only view of one directory of artifacts.
 *
 *   GET /artifacts            the listing: JSON, or HTML for a browser (Accept: text/html)
 *   GET /, /artifacts.html    the listing as HTML
 *   GET|HEAD /artifacts/NAME  the file, with Range, ETag, If-None-Match and If-Range
 *
 * Anything else is refused: other methods (405), request bodies (413), long URLs (414),
 * names that are not listed valid artifacts (404), more downloads than allowed at once (503).
 * A file that is there but not verified yet (new, changed) is answered 503 with Retry-After,
 * never 404: a client waits for it instead of giving up.
 */
import { Hono } from "hono";
import { VERSION } from "../version.ts";
import { formatAccess } from "./access_log.ts";
import { bearerMatches } from "./auth.ts";
import type { Catalog } from "./catalog.ts";
import { artifactResponse } from "./download.ts";
import type { Listing } from "./listing.ts";
import { renderPage } from "./page.ts";

export interface AppOptions {
  catalog: Catalog;
  /** Shown in the listing and the page. */
  name: string;
  /** When set, every request needs `Authorization: Bearer <token>`. */
  token?: string;
  /** Downloads allowed at once; more are answered 503 with Retry-After. */
  maxTransfers?: number;
  /** Requests in flight (from the server), to bound concurrent transfers. */
  activeRequests?: () => number;
  log?: (line: string) => void;
}

/** The server's own environment, handed to `app.fetch` with each request. */
export interface ServeEnv {
  remoteAddress?: string;
}

const MAX_URL = 2048;

function plain(status: number, body: string, extra: Record<string, string> = {}): Response {
  return new Response(`${body}\n`, {
    status,
    headers: { "content-type": "text/plain; charset=utf-8", ...extra },
  });
}

export function createApp(options: AppOptions): Hono<{ Bindings: ServeEnv }> {
  const { catalog } = options;
  const maxTransfers = options.maxTransfers ?? 64;
  const active = options.activeRequests ?? (() => 0);
  const log = options.log ?? (() => {});
  const app = new Hono<{ Bindings: ServeEnv }>();

  app.use(async (c, next) => {
    const started = performance.now();
    const request = c.req.raw;
    const early = refuse(request, options.token);
    if (early) c.res = early;
    else await next();
    const res = c.res;
    log(formatAccess({
      remote: c.env?.remoteAddress ?? "",
      method: request.method,
      path: request.url.slice(request.url.indexOf("/", 8)),
      status: res.status,
      bytes: request.method === "HEAD" ? 0 : Number(res.headers.get("content-length") ?? 0),
      range: res.status === 206
        ? res.headers.get("content-range")?.replace(/^bytes /, "") ?? undefined
        : undefined,
      ms: performance.now() - started,
    }));
  });

  const listing = (): Listing => ({
    server: { name: options.name, version: VERSION },
    pending: catalog.pending(),
    artifacts: catalog.list(),
  });
  const page = () =>
    new Response(renderPage(listing()), {
      headers: {
        "content-type": "text/html; charset=utf-8",
        "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'",
        "x-content-type-options": "nosniff",
        "vary": "Accept",
      },
    });

  app.get("/", page);
  app.get("/artifacts.html", page);
  app.get("/artifacts", (c) => {
    const accept = c.req.header("accept") ?? "";
    if (/text\/html/i.test(accept) && !/application\/json/i.test(accept)) return page();
    return c.json(listing(), 200, { "vary": "Accept", "cache-control": "no-cache" });
  });
  app.get("/artifacts/:name", async (c) => {
    const name = c.req.param("name");
    const served = catalog.lookup(name);
    if (!served && await catalog.awaits(name)) {
      return plain(503, `${name} is being verified; retry shortly`, { "retry-after": "2" });
    }
    if (!served) return plain(404, "no such valid artifact here; GET /artifacts lists them");
    if (active() > maxTransfers) {
      return plain(503, `busy: ${maxTransfers} downloads are running; retry shortly`, {
        "retry-after": "2",
      });
    }
    return await artifactResponse(c.req.raw, served, catalog.poke);
  });
  app.notFound(() => plain(404, "not found; GET /artifacts lists what is offered"));
  app.onError((error) => {
    log(`internal error: ${error instanceof Error ? error.message : String(error)}`);
    return plain(500, "internal error");
  });
  return app;
}

/** Checks that need no route: method, body, URL length, token. */
function refuse(request: Request, token: string | undefined): Response | undefined {
  if (request.method !== "GET" && request.method !== "HEAD") {
    return plain(405, "this server is read-only: GET and HEAD only", { "allow": "GET, HEAD" });
  }
  const length = request.headers.get("content-length");
  if ((length !== null && length !== "0") || request.headers.has("transfer-encoding")) {
    return plain(413, "requests must not carry a body");
  }
  if (request.url.length > MAX_URL) return plain(414, "the URL is too long");
  if (token !== undefined && !bearerMatches(request.headers.get("authorization"), token)) {
    return plain(401, "a token is required: send Authorization: Bearer <token>", {
      "www-authenticate": 'Bearer realm="ota"',
    });
  }
  return undefined;
}
