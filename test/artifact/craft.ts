/**
 * Building artifacts byte by byte for the robustness tests: tar headers with every field
 * under control (base-256 and PAX sizes, GNU long names, links, broken checksums), the
 * members of an existing artifact taken apart and put back together, and whole artifacts
 * whose manifest is computed from whatever (broken) parts they are given.
 */
import { createHash, type KeyObject } from "node:crypto";
import { compress, type Compression, compressionSuffix } from "../../src/artifact/compression.ts";
import { signManifest } from "../../src/artifact/signature.ts";
import { concat } from "../../src/streams.ts";
import { at } from "../helpers/assert.ts";

const encoder = new TextEncoder();
export const EOA = new Uint8Array(1024);

export function bytes(text: string): Uint8Array {
  return encoder.encode(text);
}

export function json(value: unknown): Uint8Array {
  return bytes(JSON.stringify(value));
}

export function sha256(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

export interface HeaderSpec {
  name: string;
  size?: number;
  /** Typeflag: "0" file, "1" hard link, "2" symlink, "3" char device, "5" directory, ... */
  type?: string;
  linkname?: string;
  mode?: number;
  /** Write the size in GNU base-256 form even when it would fit in octal. */
  base256?: boolean;
  /** Raw bytes for the 12-byte size field (for malformed numbers). */
  sizeField?: Uint8Array;
  /** Store a wrong header checksum. */
  badChecksum?: boolean;
}

function put(block: Uint8Array, offset: number, length: number, value: string): void {
  block.set(bytes(value).subarray(0, length), offset);
}

function octal(block: Uint8Array, offset: number, length: number, value: number): void {
  put(block, offset, length - 1, value.toString(8).padStart(length - 1, "0"));
}

/** One 512-byte ustar header. */
export function tarHeader(spec: HeaderSpec): Uint8Array {
  if (bytes(spec.name).byteLength > 100) throw new Error(`use a long-name entry for ${spec.name}`);
  const block = new Uint8Array(512);
  const size = spec.size ?? 0;
  put(block, 0, 100, spec.name);
  octal(block, 100, 8, spec.mode ?? 0o644);
  octal(block, 108, 8, 0);
  octal(block, 116, 8, 0);
  if (spec.sizeField) {
    block.set(spec.sizeField.subarray(0, 12), 124);
  } else if (spec.base256 || size > 0o77777777777) {
    block[124] = 0x80;
    let rest = BigInt(size);
    for (let i = 135; i > 124; i--) {
      block[i] = Number(rest & 0xffn);
      rest >>= 8n;
    }
  } else {
    octal(block, 124, 12, size);
  }
  octal(block, 136, 12, 0);
  block.fill(0x20, 148, 156);
  put(block, 156, 1, spec.type ?? "0");
  put(block, 157, 100, spec.linkname ?? "");
  put(block, 257, 6, "ustar");
  put(block, 263, 2, "00");
  let sum = 0;
  for (const byte of block) sum += byte;
  if (spec.badChecksum) sum += 1;
  put(block, 148, 7, sum.toString(8).padStart(6, "0") + "\0");
  return block;
}

export function padding(size: number): Uint8Array {
  return new Uint8Array((512 - (size % 512)) % 512);
}

/** A header, the body and its padding. */
export function tarEntry(spec: HeaderSpec | string, body: Uint8Array = new Uint8Array()) {
  const header = typeof spec === "string" ? { name: spec } : spec;
  return concat([tarHeader({ size: body.byteLength, ...header }), body, padding(body.byteLength)]);
}

/** A PAX extended header (`x`, or `g` for a global one) carrying `records`. */
export function paxEntry(records: Record<string, string>, global = false): Uint8Array {
  const body = Object.entries(records).map(([key, value]) => {
    const rest = ` ${key}=${value}\n`;
    let length = rest.length + 1;
    while (String(length).length + rest.length !== length) length++;
    return `${length}${rest}`;
  }).join("");
  return tarEntry({ name: "PaxHeader", type: global ? "g" : "x" }, bytes(body));
}

/** A GNU long-name entry (`L`) naming the entry that follows. */
export function gnuLongName(name: string): Uint8Array {
  return tarEntry({ name: "././@LongLink", type: "L" }, bytes(`${name}\0`));
}

/** A whole tar: the entries, then the two zero blocks. */
export function tarOf(...entries: Uint8Array[]): Uint8Array {
  return concat([...entries, EOA]);
}

export interface Member {
  name: string;
  body: Uint8Array;
}

/** Takes a plain ustar artifact (as mender-artifact and ota write them) apart. */
export function members(artifact: Uint8Array): Member[] {
  const out: Member[] = [];
  const text = new TextDecoder();
  for (let at = 0; at + 512 <= artifact.byteLength;) {
    const block = artifact.subarray(at, at + 512);
    if (block.every((b) => b === 0)) break;
    const name = text.decode(block.subarray(0, 100)).replace(/\0.*$/s, "");
    const size = parseInt(text.decode(block.subarray(124, 136)).replace(/\0.*$/s, ""), 8);
    out.push({ name, body: artifact.slice(at + 512, at + 512 + size) });
    at += 512 + size + padding(size).byteLength;
  }
  return out;
}

/** Where each member's header and body lie in an artifact (for truncating inside them). */
export function layout(
  artifact: Uint8Array,
): { name: string; header: number; body: number; size: number }[] {
  let at = 0;
  return members(artifact).map(({ name, body }) => {
    const entry = { name, header: at, body: at + 512, size: body.byteLength };
    at += 512 + body.byteLength + padding(body.byteLength).byteLength;
    return entry;
  });
}

/** Puts members back together into an artifact. */
export function pack(list: Member[], end: Uint8Array = EOA): Uint8Array {
  return concat([...list.map((m) => tarEntry(m.name, m.body)), end]);
}

export async function compressed(data: Uint8Array, compression: Compression): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of compress(new Blob([data as BlobPart]).stream(), compression)) {
    chunks.push(chunk);
  }
  return concat(chunks);
}

export interface Recipe {
  compression?: Compression;
  version?: Uint8Array;
  headerInfo?: unknown;
  typeInfo?: unknown;
  /** Bytes of `headers/0000/meta-data`; none when absent. */
  metaData?: Uint8Array;
  scripts?: Member[];
  /** The header tar's entries, replacing the ones made of the fields above. */
  headerEntries?: Uint8Array[];
  /** The header member's bytes as stored (already compressed), replacing everything above. */
  headerMember?: Uint8Array;
  files?: Member[];
  /** The payload tar's entries, replacing `files` (the manifest still lists `files`). */
  dataEntries?: Uint8Array[];
  /** The data member's bytes as stored, replacing the payload tar. */
  dataMember?: Uint8Array;
  /** Changes the manifest lines (name -> sha256) before they are written. */
  manifest?: (lines: Map<string, string>) => void;
  manifestBytes?: Uint8Array;
  signWith?: KeyObject;
  signature?: Uint8Array;
  /** Last word on the outer members (reorder, duplicate, rename). */
  arrange?: (list: Member[]) => Member[];
  /** What follows the last member (the end-of-archive blocks by default). */
  end?: Uint8Array;
}

export const defaultHeaderInfo = {
  payloads: [{ type: "rootfs-image" }],
  artifact_provides: { artifact_name: "crafted-1" },
  artifact_depends: { device_type: ["dev-a"] },
};
export const defaultTypeInfo = { type: "rootfs-image" };
export const defaultFiles: Member[] = [{ name: "rootfs.img", body: bytes("a small root fs\n") }];

/** An artifact made to order; everything not given is what a well-formed one holds. */
export async function craft(recipe: Recipe = {}): Promise<Uint8Array> {
  const compression = recipe.compression ?? "gzip";
  const suffix = compressionSuffix(compression);
  const version = recipe.version ?? bytes(`{"format":"mender","version":3}`);
  const headerTar = tarOf(
    ...(recipe.headerEntries ?? [
      tarEntry("header-info", json(recipe.headerInfo ?? defaultHeaderInfo)),
      ...(recipe.scripts ?? []).map((s) => tarEntry(`scripts/${s.name}`, s.body)),
      tarEntry("headers/0000/type-info", json(recipe.typeInfo ?? defaultTypeInfo)),
      ...(recipe.metaData ? [tarEntry("headers/0000/meta-data", recipe.metaData)] : []),
    ]),
  );
  const header = recipe.headerMember ?? await compressed(headerTar, compression);
  const files = recipe.files ?? defaultFiles;
  const data = recipe.dataMember ??
    await compressed(
      tarOf(...(recipe.dataEntries ?? files.map((f) => tarEntry(f.name, f.body)))),
      compression,
    );
  const lines = new Map<string, string>([
    ["version", sha256(version)],
    [`header.tar${suffix}`, sha256(header)],
    ...files.map((f): [string, string] => [`data/0000/${f.name}`, sha256(f.body)]),
  ]);
  recipe.manifest?.(lines);
  const manifest = recipe.manifestBytes ??
    bytes([...lines].sort(([a], [b]) => (a < b ? -1 : 1)).map(([n, d]) => `${d}  ${n}\n`).join(""));
  const signature = recipe.signature ??
    (recipe.signWith ? signManifest(manifest, recipe.signWith) : undefined);
  const list: Member[] = [
    { name: "version", body: version },
    { name: "manifest", body: manifest },
    ...(signature ? [{ name: "manifest.sig", body: signature }] : []),
    { name: `header.tar${suffix}`, body: header },
    { name: `data/0000.tar${suffix}`, body: data },
  ];
  return pack(recipe.arrange ? recipe.arrange(list) : list, recipe.end);
}

/** Replaces the body of the named member (for changes to real artifacts). */
export function replaceMember(list: Member[], name: string, body: Uint8Array): Member[] {
  if (!list.some((m) => m.name === name)) throw new Error(`no member ${name}`);
  return list.map((m) => (m.name === name ? { name, body } : m));
}

/** A copy of `data` with the byte at `at` changed (xor `mask`). */
export function flip(data: Uint8Array, index: number, mask = 0x01): Uint8Array {
  const copy = data.slice();
  copy[index] = at(copy, index, "the bytes to flip") ^ mask;
  return copy;
}
