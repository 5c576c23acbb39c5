/**
 * GET and HEAD of one artifact: 200 or 206 with an exact Content-Length, 304 for a matching
 * If-None-Match, 416 for a range past the end or a multi-range request, and If-Range so a
 * resumed download never splices bytes of two different files. The bytes come from the
 * file only while it is the one verified (file_body.ts); a file that changed is answered 503.
 */
import { Buffer } from "node:buffer";
import type { Served } from "./catalog.ts";
import { etagFor, notModified, rangeStillValid } from "./conditional.ts";
import { openStamped, stampedBody } from "./file_body.ts";
import { parseRange } from "./range.ts";

function text(status: number, body: string, headers: Headers): Response {
  headers.set("content-type", "text/plain; charset=utf-8");
  return new Response(`${body}\n`, { status, headers });
}

/** `attachment; filename=...` that survives any file name (RFC 6266 with RFC 8187). */
function disposition(file: string): string {
  const ascii = file.replace(/[^\x20-\x7e]|["\\]/g, "_");
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(file)}`;
}

export async function artifactResponse(
  request: Request,
  served: Served,
  onChanged: () => void,
): Promise<Response> {
  const headOnly = request.method === "HEAD";
  const headers = new Headers({ "x-content-type-options": "nosniff" });
  const handle = await openStamped(served.path, served.stamp);
  if (!handle) {
    // Never serve bytes that were not the ones verified.
    onChanged();
    headers.set("retry-after", "5");
    return text(503, `${served.file} is changing; it is listed again once verified`, headers);
  }
  const body = (start: number, end: number, status: number) => {
    headers.set("content-length", String(end - start));
    if (headOnly) {
      void handle.close();
      return new Response(null, { status, headers });
    }
    return new Response(stampedBody(handle, served.stamp, start, end, onChanged), {
      status,
      headers,
    });
  };
  const done = <T>(value: T): T => {
    void handle.close();
    return value;
  };
  const size = served.stamp.size;
  const etag = etagFor(served.listed.sha256);
  const lastModified = new Date(served.stamp.mtimeMs).toUTCString();
  headers.set("etag", etag);
  headers.set("last-modified", lastModified);
  headers.set("cache-control", "no-cache");
  if (notModified(request.headers.get("if-none-match"), etag)) {
    return done(new Response(null, { status: 304, headers }));
  }
  headers.set("accept-ranges", "bytes");
  headers.set("content-type", "application/octet-stream");
  headers.set("content-disposition", disposition(served.file));
  headers.set(
    "repr-digest",
    `sha-256=:${Buffer.from(served.listed.sha256, "hex").toString("base64")}:`,
  );
  const ifRange = request.headers.get("if-range");
  const range = rangeStillValid(ifRange, etag, lastModified)
    ? parseRange(request.headers.get("range"), size)
    : { kind: "full" as const };
  switch (range.kind) {
    case "full":
      return body(0, size, 200);
    case "partial":
      headers.set("content-range", `bytes ${range.start}-${range.end - 1}/${size}`);
      return body(range.start, range.end, 206);
    case "unsatisfiable":
      headers.set("content-range", `bytes */${size}`);
      return done(text(416, `the range lies outside the file (${size} bytes)`, headers));
    case "multiple":
      headers.set("content-range", `bytes */${size}`);
      return done(
        text(416, "ask for one byte range per request; multiple ranges are refused", headers),
      );
  }
}
