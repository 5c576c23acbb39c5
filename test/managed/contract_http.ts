/** The contract server's HTTP plumbing: a request read and recorded, an artifact served with Range. */
import { Buffer } from "node:buffer";
import { createHash, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import type http from "node:http";
import type { TLSSocket } from "node:tls";
import type { Recorded } from "./contract_server.ts";

export interface ReadContext {
  seq: number;
  t: number;
  /** Which kind of bearer `value` is; `tenant` is the auth body's tenant token. */
  bearerOf(value: string | undefined, tenant: string | undefined): Recorded["bearer"];
  /** The CA that client certificates must be signed by (mutual TLS). */
  ca?: X509Certificate;
}

export function readRequest(
  req: http.IncomingMessage,
  ctx: ReadContext,
): Promise<{ record: Recorded; raw: Buffer }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const raw = Buffer.concat(chunks);
      const parsed = new URL(req.url ?? "/", "http://server");
      const headers = Object.fromEntries(
        Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(", ") : v ?? ""]),
      );
      const text = raw.toString("utf8");
      let json: unknown;
      try {
        json = text ? JSON.parse(text) : undefined;
      } catch {
        json = undefined;
      }
      const bearer = /^Bearer (.*)$/.exec(headers.authorization ?? "")?.[1];
      const tenant = (json as { tenant_token?: unknown } | undefined)?.tenant_token;
      const record: Recorded = {
        seq: ctx.seq,
        t: ctx.t,
        method: req.method ?? "",
        path: parsed.pathname,
        query: parsed.search.slice(1),
        headers,
        text,
        json,
        problems: [],
        bearer: ctx.bearerOf(bearer, typeof tenant === "string" ? tenant : undefined),
        status: 0,
        response: "",
      };
      const socket = req.socket as TLSSocket;
      if (typeof socket.getPeerCertificate === "function") {
        const peer = socket.getPeerCertificate(false);
        if (peer && peer.raw) {
          const cert = new X509Certificate(peer.raw);
          record.clientCert = {
            cn: /CN=([^\n,]+)/.exec(cert.subject)?.[1],
            valid: ctx.ca ? cert.verify(ctx.ca.publicKey) : false,
          };
        }
      }
      resolve({ record, raw });
    });
  });
}

/**
 * Serves `file` (200, or 206 for `Range: bytes=N-`) with Content-Length and an ETag; with
 * `cutAfter`, the connection breaks after that many body bytes. True when it cut.
 */
export function serveArtifact(
  file: string | undefined,
  r: Recorded,
  res: http.ServerResponse,
  cutAfter?: number,
  stallAfter?: number,
): boolean {
  let bytes: Buffer | undefined;
  try {
    bytes = file ? readFileSync(file) : undefined;
  } catch {
    bytes = undefined; // the test is over and its files are gone
  }
  if (!bytes) {
    r.status = 404;
    res.writeHead(404).end();
    return false;
  }
  const size = bytes.byteLength;
  const range = /^bytes=(\d+)-$/.exec(r.headers.range ?? "");
  const start = range ? Number(range[1]) : 0;
  const headers: Record<string, string | number> = {
    "content-type": "application/vnd.mender-artifact",
    "accept-ranges": "bytes",
    "content-length": size - start,
    etag: `"${createHash("md5").update(bytes).digest("hex")}"`,
  };
  if (range) headers["content-range"] = `bytes ${start}-${size - 1}/${size}`;
  r.status = range ? 206 : 200;
  res.writeHead(r.status, headers);
  if (cutAfter !== undefined && size - start > cutAfter) {
    // the bytes reach the client before the connection breaks, as on a network that drops
    res.write(
      bytes.subarray(start, start + cutAfter),
      () => setTimeout(() => res.socket?.destroy(), 300),
    );
    return true;
  }
  if (stallAfter !== undefined && size - start > stallAfter) {
    res.write(bytes.subarray(start, start + stallAfter)); // and nothing more, until the client goes
    return false;
  }
  res.end(bytes.subarray(start));
  return false;
}
