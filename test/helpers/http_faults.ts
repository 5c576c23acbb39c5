/**
 * A small HTTP/1.1 file server on raw sockets for the download tests: it can drop the
 * connection after a number of body bytes, ignore Range, change its ETag, answer 416, fail
 * every other request, stall, trickle a byte at a time, send the file gzip-encoded, or act
 * as a forward proxy. Raw sockets make "the connection broke at byte N" exact.
 */
import net from "node:net";
import { gzipSync } from "node:zlib";

export interface Faults {
  /** Close the connection after this many body bytes, for the first `dropTimes` responses. */
  dropAfter?: number;
  dropTimes?: number;
  ignoreRange?: boolean;
  /** Serve a different ETag from the n-th request on (1-based). */
  etagChangesAt?: number;
  rangeAnswer416?: boolean;
  /** Requests with an odd number get a 503. */
  failEveryOther?: boolean;
  /** Stop sending (but keep the connection open) after `dropAfter` bytes, once. */
  stall?: boolean;
  noEtag?: boolean;
  /** The ETag to serve (default `"v1"`; `"v2"` once it changes). */
  etag?: string;
  status?: number;
  /** After the headers (and `dropAfter` bytes, when set), one body byte every this many ms. */
  trickleMs?: number;
  /** Send the file gzip-compressed, with `Content-Encoding: gzip` whatever was asked for. */
  gzip?: boolean;
}

export interface FaultServer extends AsyncDisposable {
  url(path?: string): string;
  port: number;
  requests: { line: string; headers: Record<string, string> }[];
}

export async function faultServer(file: Uint8Array, faults: Faults = {}): Promise<FaultServer> {
  const requests: FaultServer["requests"] = [];
  const sockets = new Set<net.Socket>();
  let dropped = 0;
  let stalled = false;
  const timers = new Set<ReturnType<typeof setInterval>>();
  const representation = faults.gzip ? new Uint8Array(gzipSync(file)) : file;
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    let buffer = "";
    socket.on("data", (data) => {
      buffer += data.toString("latin1");
      const end = buffer.indexOf("\r\n\r\n");
      if (end < 0) return;
      const [line = "", ...rest] = buffer.slice(0, end).split("\r\n");
      buffer = buffer.slice(end + 4);
      const headers = Object.fromEntries(
        rest.map((
          h,
        ) => [h.slice(0, h.indexOf(":")).toLowerCase(), h.slice(h.indexOf(":") + 1).trim()]),
      );
      requests.push({ line, headers });
      respond(socket, line, headers, requests.length);
    });
  });

  function respond(socket: net.Socket, line: string, headers: Record<string, string>, n: number) {
    const head = (status: string, extra: Record<string, string | number>) => {
      const lines = [
        `HTTP/1.1 ${status}`,
        "Connection: close",
        ...Object.entries(extra).map(([k, v]) => `${k}: ${v}`),
      ];
      socket.write(lines.join("\r\n") + "\r\n\r\n");
    };
    if (faults.status) {
      head(`${faults.status} Nope`, { "Content-Length": 0 });
      return socket.end();
    }
    if (faults.failEveryOther && n % 2 === 1) {
      head("503 Service Unavailable", { "Content-Length": 0 });
      return socket.end();
    }
    const etag = faults.noEtag
      ? undefined
      : faults.etagChangesAt && n >= faults.etagChangesAt
      ? '"v2"'
      : faults.etag ?? '"v1"';
    const common: Record<string, string | number> = etag ? { ETag: etag } : {};
    if (faults.gzip) common["Content-Encoding"] = "gzip";
    const range = /^bytes=(\d+)-(\d*)$/.exec(headers.range ?? "");
    const whole = representation;
    let start = 0;
    let end = whole.length;
    if (range && !faults.ignoreRange) {
      if (faults.rangeAnswer416) {
        head("416 Range Not Satisfiable", { ...common, "Content-Length": 0 });
        return socket.end();
      }
      const ifRange = headers["if-range"];
      if (!ifRange || ifRange === etag) {
        start = Number(range[1]);
        end = range[2] ? Math.min(whole.length, Number(range[2]) + 1) : whole.length;
      }
    }
    const body = whole.subarray(start, end);
    if (start > 0 || end < whole.length) {
      head("206 Partial Content", {
        ...common,
        "Content-Length": body.length,
        "Content-Range": `bytes ${start}-${end - 1}/${whole.length}`,
      });
    } else {
      head("200 OK", { ...common, "Content-Length": body.length, "Accept-Ranges": "bytes" });
    }
    if (line.startsWith("HEAD")) return socket.end();
    if (faults.trickleMs) {
      let sent = Math.min(faults.dropAfter ?? 0, body.length);
      socket.write(body.subarray(0, sent));
      const timer = setInterval(() => {
        if (sent >= body.length || socket.destroyed) {
          clearInterval(timer);
          timers.delete(timer);
          return socket.end();
        }
        socket.write(body.subarray(sent, ++sent));
      }, faults.trickleMs);
      timers.add(timer);
      socket.on("close", () => {
        clearInterval(timer);
        timers.delete(timer);
      });
      return;
    }
    const cut = faults.dropAfter !== undefined && dropped < (faults.dropTimes ?? Infinity)
      ? faults.dropAfter
      : undefined;
    if (cut !== undefined && cut < body.length) {
      dropped++;
      socket.write(body.subarray(0, cut), () => {
        if (faults.stall && !stalled) {
          stalled = true; // keep the socket open and silent
          return;
        }
        socket.end(); // a clean close before Content-Length bytes: the client knows exactly what it got
      });
      return;
    }
    socket.end(body);
  }

  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    requests,
    url: (path = "/artifact.mender") => `http://127.0.0.1:${port}${path}`,
    async [Symbol.asyncDispose]() {
      for (const timer of timers) clearInterval(timer);
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
