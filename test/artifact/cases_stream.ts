/**
 * Broken artifacts, part one: the stream. Truncations, flipped bytes in each member, members
 * out of order or twice, broken tar headers and trailers; with cases_compression.ts, huge
 * sizes, broken compressed data and bombs.
 */
import { concat } from "../../src/streams.ts";
import { at, take } from "../helpers/assert.ts";
import type { BadCase } from "./case.ts";
import {
  bytes,
  flip,
  layout,
  type Member,
  members,
  pack,
  paxEntry,
  replaceMember,
  tarEntry,
  tarHeader,
} from "./craft.ts";
import type { Seeds } from "./seeds.ts";
import { compression, hugeSizes } from "./cases_compression.ts";

/** Cuts the signed gzip seed inside and at the edges of every member, and in its trailer. */
function truncations(s: Seeds): BadCase[] {
  const seed = s.gzipSigned;
  const data = layout(seed).find((m) => m.name.startsWith("data/"))!;
  const cuts = new Map<string, number>();
  for (const m of layout(seed)) {
    cuts.set(`at the start of ${m.name}'s tar header`, m.header);
    cuts.set(`inside ${m.name}'s tar header`, m.header + 100);
    cuts.set(`between ${m.name}'s tar header and its body`, m.body);
    cuts.set(`in the middle of ${m.name}`, m.body + Math.floor(m.size / 2));
    cuts.set(`one byte before the end of ${m.name}`, m.body + m.size - 1);
  }
  cuts.set("after the last member (no end-of-archive blocks)", seed.byteLength - 1024);
  cuts.set("between the two end-of-archive blocks", seed.byteLength - 512);
  const cases = [...cuts].map(([where, at]): BadCase => ({
    name: `truncated ${where} (${at} bytes)`,
    bytes: seed.slice(0, at),
    code: "ARTIFACT_TRUNCATED",
    phase: at < data.body ? "open" : "either",
  }));
  for (const [name, seedBytes] of [["xz", s.xz], ["zstd", s.zstd]] as const) {
    const d = layout(seedBytes).find((m) => m.name.startsWith("data/"))!;
    cases.push({
      name: `truncated in the middle of a ${name} payload`,
      bytes: seedBytes.slice(0, d.body + Math.floor(d.size / 2)),
      code: "ARTIFACT_TRUNCATED",
      phase: "either",
    });
  }
  return cases;
}

/** Index of the first hex digit of the manifest line naming `name`. */
function digitOf(manifest: Uint8Array, name: string): number {
  const text = new TextDecoder().decode(manifest);
  const line = text.split("\n").findIndex((l) => l.endsWith(`  ${name}`));
  return text.split("\n").slice(0, line).reduce((n, l) => n + l.length + 1, 0);
}

/** A different, still hexadecimal digit at `at`. */
function otherDigit(data: Uint8Array, at: number): Uint8Array {
  const copy = data.slice();
  copy[at] = copy[at] === 0x30 ? 0x31 : 0x30;
  return copy;
}

function flips(s: Seeds): BadCase[] {
  const list = members(s.gzipSigned);
  const body = (name: string) => list.find((m) => m.name === name)!.body;
  const manifest = body("manifest");
  const changed = (name: string, data: Uint8Array) => pack(replaceMember(list, name, data));
  const none = layout(s.none).find((m) => m.name === "data/0000.tar")!;
  const gz = layout(s.gzip).find((m) => m.name === "data/0000.tar.gz")!;
  const xz = layout(s.xz).find((m) => m.name === "data/0000.tar.xz")!;
  const zst = layout(s.zstd).find((m) => m.name === "data/0000.tar.zst")!;
  const sig = body("manifest.sig");
  return [
    {
      name: "version: a byte flipped (not JSON any more)",
      bytes: changed("version", flip(body("version"), 0)),
      code: "ARTIFACT_JSON",
      phase: "open",
    },
    {
      name: "version: same JSON, other bytes (keys swapped)",
      bytes: changed("version", bytes(`{"version":3,"format":"mender"}`)),
      code: "CHECKSUM_MISMATCH",
      phase: "open",
    },
    {
      name: "manifest: the header's checksum changed",
      bytes: changed("manifest", otherDigit(manifest, digitOf(manifest, "header.tar.gz"))),
      code: "CHECKSUM_MISMATCH",
      phase: "open",
    },
    {
      name: "manifest: the version's checksum changed",
      bytes: changed("manifest", otherDigit(manifest, digitOf(manifest, "version"))),
      code: "CHECKSUM_MISMATCH",
      phase: "open",
    },
    {
      name: "manifest: the payload's checksum changed",
      bytes: changed("manifest", otherDigit(manifest, digitOf(manifest, "data/0000/rootfs.img"))),
      code: "CHECKSUM_MISMATCH",
      phase: "payload",
    },
    {
      name: "manifest: a checksum digit flipped to a non-hex character",
      bytes: changed("manifest", flip(manifest, 3, 0x40)),
      code: "MANIFEST_INVALID",
      phase: "open",
    },
    {
      name: "manifest: changed while the key is configured (the signature no longer matches)",
      bytes: changed("manifest", otherDigit(manifest, digitOf(manifest, "data/0000/rootfs.img"))),
      code: "SIGNATURE_INVALID",
      phase: "open",
      verify: [s.keys.rsa],
    },
    {
      name: "manifest.sig: one base64 character changed",
      bytes: changed("manifest.sig", flip(sig, 10, 0x01)),
      code: "SIGNATURE_INVALID",
      phase: "open",
      verify: [s.keys.rsa],
    },
    {
      name: "header: a byte of the compressed header flipped (signature verified)",
      bytes: changed("header.tar.gz", flip(body("header.tar.gz"), 40)),
      code: "CHECKSUM_MISMATCH",
      phase: "open",
      verify: [s.keys.rsa],
    },
    {
      name: "data (none): a byte of the payload file flipped",
      bytes: flip(s.none, none.body + 512 + 1000),
      code: "CHECKSUM_MISMATCH",
      phase: "payload",
    },
    {
      name: "data (gzip): the compression method byte changed",
      bytes: flip(s.gzip, gz.body + 2),
      code: "GZIP_CORRUPT",
      phase: "payload",
    },
    {
      name: "data (xz): a byte of the stream header flipped",
      bytes: flip(s.xz, xz.body + 7),
      code: "XZ_CORRUPT",
      phase: "payload",
    },
    {
      name: "data (zstd): the frame magic flipped",
      bytes: flip(s.zstd, zst.body + 1),
      code: "ZSTD_CORRUPT",
      phase: "payload",
      binaryOnly: true,
    },
    {
      name: "data (none): the payload tar's header checksum broken",
      bytes: flip(s.none, none.body + 20),
      code: "PAYLOAD_INVALID",
      phase: "payload",
    },
    {
      name: "outer tar: a digit of the data member's size changed (header checksum fails)",
      bytes: flip(s.gzip, gz.header + 130),
      code: "ARTIFACT_CORRUPT",
      phase: "open",
    },
  ];
}

function order(s: Seeds): BadCase[] {
  const list = members(s.gzipSigned);
  const [version, manifest, sig, header, data] = take(list, 5, "the signed artifact");
  const arranged = (name: string, code: string, phase: BadCase["phase"], m: Member[]): BadCase => ({
    name,
    bytes: pack(m),
    code,
    phase,
  });
  const xzHeader = { name: "header.tar.xz", body: at(members(s.xz), 2).body };
  return [
    arranged("order: manifest before version", "ARTIFACT_STRUCTURE", "open", [
      manifest,
      version,
      sig,
      header,
      data,
    ]),
    arranged("order: header before manifest", "ARTIFACT_STRUCTURE", "open", [
      version,
      header,
      manifest,
      sig,
      data,
    ]),
    arranged("order: data before header", "ARTIFACT_STRUCTURE", "open", [
      version,
      manifest,
      sig,
      data,
      header,
    ]),
    arranged("order: manifest.sig before manifest", "ARTIFACT_STRUCTURE", "open", [
      version,
      sig,
      manifest,
      header,
      data,
    ]),
    arranged("order: manifest.sig after the header", "ARTIFACT_STRUCTURE", "payload", [
      version,
      manifest,
      header,
      sig,
      data,
    ]),
    arranged("missing: no manifest", "ARTIFACT_STRUCTURE", "open", [version, header, data]),
    arranged("missing: no header", "ARTIFACT_STRUCTURE", "open", [version, manifest, sig, data]),
    arranged("duplicate: version twice", "ARTIFACT_STRUCTURE", "open", [
      version,
      version,
      manifest,
      sig,
      header,
      data,
    ]),
    arranged("duplicate: manifest twice", "ARTIFACT_STRUCTURE", "open", [
      version,
      manifest,
      manifest,
      sig,
      header,
      data,
    ]),
    arranged("duplicate: manifest.sig twice", "ARTIFACT_STRUCTURE", "open", [
      version,
      manifest,
      sig,
      sig,
      header,
      data,
    ]),
    arranged("duplicate: header twice", "ARTIFACT_STRUCTURE", "payload", [
      version,
      manifest,
      sig,
      header,
      header,
      data,
    ]),
    arranged("duplicate: the header with two compressions", "ARTIFACT_STRUCTURE", "payload", [
      version,
      manifest,
      sig,
      header,
      xzHeader,
      data,
    ]),
    arranged("duplicate: data/0000 twice", "ARTIFACT_STRUCTURE", "payload", [
      version,
      manifest,
      sig,
      header,
      data,
      data,
    ]),
    arranged("extra: a second payload without a header", "ARTIFACT_STRUCTURE", "payload", [
      version,
      manifest,
      sig,
      header,
      data,
      { name: "data/0001.tar.gz", body: data.body },
    ]),
    arranged("extra: an unknown member after the payload", "ARTIFACT_STRUCTURE", "payload", [
      ...list,
      { name: "notes.txt", body: bytes("hi") },
    ]),
    arranged("unknown compression suffix on the header", "ARTIFACT_STRUCTURE", "open", [
      version,
      manifest,
      sig,
      { name: "header.tar.bz2", body: header.body },
      data,
    ]),
  ];
}

function tarLevel(s: Seeds): BadCase[] {
  const list = members(s.gzip);
  const [version, manifest, header, data] = take(list, 4, "the artifact");
  const raw = (
    name: string,
    code: string,
    phase: BadCase["phase"],
    parts: Uint8Array[],
  ): BadCase => ({
    name,
    bytes: concat(parts),
    code,
    phase,
  });
  const entry = (m: Member) => tarEntry(m.name, m.body);
  const nine = new Uint8Array(12);
  nine.set(bytes("00000000919"));
  return [
    raw("tar: the version header's checksum is wrong", "ARTIFACT_CORRUPT", "open", [
      tarHeader({ name: "version", size: version.body.byteLength, badChecksum: true }),
      version.body,
      new Uint8Array(512 - version.body.byteLength),
      pack([manifest, header, data]),
    ]),
    raw("tar: a size field with a non-octal digit", "ARTIFACT_CORRUPT", "open", [
      entry(version),
      tarHeader({ name: "manifest", sizeField: nine }),
      manifest.body,
      pack([header, data]),
    ]),
    raw("tar: a base-256 size beyond 2^53", "ARTIFACT_CORRUPT", "open", [
      entry(version),
      entry(manifest),
      tarHeader({
        name: "header.tar.gz",
        sizeField: new Uint8Array([0x80, 0, 0x40, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
      }),
      header.body,
    ]),
    raw("tar: garbage after the end-of-archive blocks", "ARTIFACT_CORRUPT", "either", [
      pack(list),
      new Uint8Array(512).fill(0x41),
    ]),
    raw("tar: a tail that is not a whole block", "ARTIFACT_CORRUPT", "either", [
      pack(list),
      bytes("xyz"),
    ]),
    raw("tar: a PAX header whose path climbs out (outer)", "ARTIFACT_STRUCTURE", "open", [
      paxEntry({ path: "../version" }),
      pack(list),
    ]),
  ];
}

export async function streamCases(s: Seeds): Promise<BadCase[]> {
  return [
    ...truncations(s),
    ...flips(s),
    ...order(s),
    ...tarLevel(s),
    ...await hugeSizes(),
    ...await compression(),
  ];
}
