/**
 * What the adaptive tests share: a pair of images that differ as releases do (blocks that
 * changed, a run of blocks that moved, zeros, a short last block), adaptive artifacts of
 * the newer one written in process, and a loopback HTTP server with Range that counts what
 * it sends and can lie (flip bytes it sends in ranges) or ignore Range.
 */
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import type { AdaptiveIndexJson } from "../../src/artifact/adaptive_index.ts";
import { writeArtifact } from "../../src/artifact/writer.ts";
import type { Compression } from "../../src/artifact/compression.ts";
import type { SigningKey } from "../../src/artifact/signature.ts";
import { parseRange } from "../../src/server/range.ts";
import { readTarHeader } from "../../src/adaptive/tar_header.ts";
import { pseudoRandomBytes } from "../helpers/mod.ts";

export const BLOCK = 4096;

/** The outer members of an artifact by name: offset of the body and its bytes. */
export function members(artifact: Uint8Array): Map<string, { offset: number; bytes: Uint8Array }> {
  const found = new Map<string, { offset: number; bytes: Uint8Array }>();
  for (let at = 0; at + 512 <= artifact.length;) {
    const header = readTarHeader(artifact.subarray(at, at + 512));
    if (!header) break;
    const offset = at + 512;
    found.set(header.name, { offset, bytes: artifact.subarray(offset, offset + header.size) });
    at = offset + Math.ceil(header.size / 512) * 512;
  }
  return found;
}

export interface Images {
  old: Uint8Array;
  new: Uint8Array;
  oldPath: string;
  newPath: string;
}

/**
 * 1024 blocks and 1000 bytes: the new image keeps most of the old one, changes three runs of
 * 8 blocks,
 * moves a run of 40 blocks by 3 blocks (a file that grew in front of it) and has 200 blocks
 * of zeros; its short last block is new.
 */
export async function images(dir: string): Promise<Images> {
  const blocks = 1024;
  const old = pseudoRandomBytes(blocks * BLOCK + 1000, 11);
  const next = old.slice();
  const fresh = pseudoRandomBytes(64 * BLOCK + 1000, 12);
  for (let i = 0; i < 24; i++) {
    const at = (100 + (i % 3) * 150 + Math.floor(i / 3)) * BLOCK; // three runs of 8

    next.set(fresh.subarray(i * BLOCK, (i + 1) * BLOCK), at);
  }
  next.copyWithin(503 * BLOCK, 500 * BLOCK, 540 * BLOCK);
  next.fill(0, 700 * BLOCK, 900 * BLOCK);
  next.set(fresh.subarray(64 * BLOCK), blocks * BLOCK);
  const oldPath = `${dir}/old.img`;
  const newPath = `${dir}/new.img`;
  await Deno.writeFile(oldPath, old);
  await Deno.writeFile(newPath, next);
  return { old, new: next, oldPath, newPath };
}

/** An adaptive rootfs-image artifact of `image`; returns its path. */
export async function adaptiveArtifact(
  dir: string,
  image: string,
  compression: Compression,
  options: { name?: string; key?: SigningKey; pieceSize?: number } = {},
): Promise<string> {
  const out = `${dir}/${options.name ?? "release-2"}-${compression}.mender`;
  await writeArtifact(
    {
      name: options.name ?? "release-2",
      deviceTypes: ["test-device"],
      compression,
      signingKey: options.key,
      payload: {
        type: "rootfs-image",
        typeInfoType: "",
        files: [{ name: "rootfs.img", path: image }],
        typeInfo: { artifact_provides: { "rootfs-image.version": "release-2" } },
        metaData: {},
        checksumProvide: "rootfs-image.checksum",
        adaptive: { blockSize: BLOCK, pieceSize: options.pieceSize ?? 16 * BLOCK },
      },
    },
    out,
    { mtime: 1_700_000_000 },
  );
  return out;
}

/** The index of `image` as version 1 wrote it: every block's whole SHA-256, no bitmap. */
export function version1Of(json: AdaptiveIndexJson, image: Uint8Array): Record<string, unknown> {
  const blocks = Math.ceil(image.length / json.block_size);
  const hashes = Buffer.alloc(blocks * 32);
  for (let i = 0; i < blocks; i++) {
    const block = image.subarray(i * json.block_size, (i + 1) * json.block_size);
    createHash("sha256").update(block).digest().copy(hashes, i * 32);
  }
  const { zeros: _, ...rest } = json;
  return { ...rest, version: 1, hashes: hashes.toString("base64") };
}

export interface Served {
  /** Bytes `[start, end)` asked for, per request (undefined: the whole file). */
  ranges: ({ start: number; end: number } | undefined)[];
  /** Body bytes sent, in all. */
  sent(): number;
}

export interface RangeServer extends AsyncDisposable {
  base: string;
  url: string;
  served: Served;
}

export interface ServeOptions {
  ignoreRange?: boolean;
  /** Flip a byte of every answer to a range that starts at or after this offset. */
  lieFrom?: number;
  /** Answer a range starting at or after this offset with 503, this many times. */
  busyFrom?: { offset: number; times: number };
  etag?: string;
  /** Answer GET /artifacts with this (a peer's listing). */
  listing?: unknown;
  /** Awaited before a range is answered (a test holds the answer there). */
  beforeRange?: (range: { start: number; end: number }) => Promise<void> | void;
}

/** Serves `file` at every path, with Range, If-Range and a strong ETag. */
export function rangeServer(file: Uint8Array, options: ServeOptions = {}): RangeServer {
  const etag = options.etag ?? '"adaptive-test"';
  const ranges: Served["ranges"] = [];
  let sent = 0;
  let busy = options.busyFrom?.times ?? 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) => {
    if (options.listing && new URL(request.url).pathname === "/artifacts") {
      return Response.json(options.listing);
    }
    const honoured = !options.ignoreRange &&
      (request.headers.get("if-range") ?? etag) === etag;
    const range = honoured ? parseRange(request.headers.get("range"), file.length) : undefined;
    const partial = range?.kind === "partial" ? range : undefined;
    ranges.push(partial ? { start: partial.start, end: partial.end } : undefined);
    if (partial) await options.beforeRange?.(partial);
    if (partial && options.busyFrom && partial.start >= options.busyFrom.offset && busy > 0) {
      busy--;
      return new Response("busy", { status: 503, headers: { "retry-after": "0" } });
    }
    let body = partial ? file.slice(partial.start, partial.end) : file;
    if (partial && options.lieFrom !== undefined && partial.start >= options.lieFrom) {
      body = body.slice();
      body[body.length >> 1]! ^= 0xff;
    }
    sent += body.length;
    const headers: Record<string, string> = {
      etag,
      "accept-ranges": "bytes",
      "content-length": String(body.length),
    };
    if (partial) {
      headers["content-range"] = `bytes ${partial.start}-${partial.end - 1}/${file.length}`;
    }
    return new Response(body as BodyInit, { status: partial ? 206 : 200, headers });
  });
  return {
    base: `http://127.0.0.1:${server.addr.port}`,
    url: `http://127.0.0.1:${server.addr.port}/release-2.mender`,
    served: { ranges, sent: () => sent },
    async [Symbol.asyncDispose]() {
      await server.shutdown();
    },
  };
}
