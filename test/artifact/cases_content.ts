/**
 * Broken artifacts, part two: what the members say. Format versions, JSON, sizes over the
 * limits, names that climb out of their directory, links, signatures, manifest and
 * type-info mismatches. Each is well-formed everywhere else (checksums agree), so the
 * reader reaches the part under test.
 */
import { Buffer } from "node:buffer";
import type { BadCase } from "./case.ts";
import {
  bytes,
  craft,
  defaultHeaderInfo as info,
  defaultTypeInfo as typeInfo,
  gnuLongName,
  json,
  members,
  pack,
  paxEntry,
  type Recipe,
  replaceMember,
  sha256,
  tarEntry,
} from "./craft.ts";
import type { Seeds } from "./seeds.ts";
import { at, take } from "../helpers/assert.ts";

const MiB = 1024 * 1024;

async function make(
  name: string,
  code: string,
  phase: BadCase["phase"],
  recipe: Recipe,
  extra: Partial<BadCase> = {},
): Promise<BadCase> {
  return { name, bytes: await craft(recipe), code, phase, ...extra };
}

const headerWith = (...entries: Uint8Array[]): Recipe => ({ headerEntries: entries });
const infoEntry = tarEntry("header-info", json(info));
const typeEntry = tarEntry("headers/0000/type-info", json(typeInfo));

function versions(s: Seeds): Promise<BadCase>[] {
  return [
    make("version: format version 4", "ARTIFACT_VERSION", "open", {
      version: bytes(`{"format":"mender","version":4}`),
    }),
    Promise.resolve({
      name: "version: a real version 2 artifact (mender-artifact -v 2)",
      bytes: s.v2,
      code: "ARTIFACT_VERSION",
      phase: "open",
    }),
    make("version: another format", "ARTIFACT_JSON", "open", {
      version: bytes(`{"format":"debian","version":3}`),
    }),
    make("version: the number as a string", "ARTIFACT_JSON", "open", {
      version: bytes(`{"format":"mender","version":"3"}`),
    }),
    make("version: garbage after the JSON", "ARTIFACT_JSON", "open", {
      version: bytes(`{"format":"mender","version":3}}`),
    }),
    make("limit: a version member over 4 KiB", "LIMIT_EXCEEDED", "open", {
      version: bytes(`{"format":"mender",${" ".repeat(5000)}"version":3}`),
    }),
  ];
}

function jsonCases(): Promise<BadCase>[] {
  const bad = (name: string, recipe: Recipe) => make(name, "ARTIFACT_JSON", "open", recipe);
  return [
    bad(
      "header-info: not JSON",
      headerWith(tarEntry("header-info", bytes(`{"payloads":[`)), typeEntry),
    ),
    bad("header-info: an unknown field", { headerInfo: { ...info, extra: 1 } }),
    bad("header-info: no device_type", { headerInfo: { ...info, artifact_depends: {} } }),
    bad("header-info: an empty payload type", {
      headerInfo: { ...info, payloads: [{ type: "" }] },
    }),
    bad(
      "type-info: not JSON",
      headerWith(infoEntry, tarEntry("headers/0000/type-info", bytes("type: rootfs"))),
    ),
    bad("type-info: a provide that is a number", {
      typeInfo: { ...typeInfo, artifact_provides: { a: 1 } },
    }),
    bad("meta-data: an array, not an object", { metaData: bytes("[1,2]") }),
    bad("meta-data: invalid UTF-8", {
      metaData: new Uint8Array([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]),
    }),
    bad("meta-data: a trailing comma", { metaData: bytes(`{"a":1,}`) }),
  ];
}

function limits(): Promise<BadCase>[] {
  const over = (name: string, recipe: Recipe, phase: BadCase["phase"] = "open") =>
    make(name, "LIMIT_EXCEEDED", phase, recipe);
  const manyScripts = Array.from(
    { length: 1100 },
    (_, i) => tarEntry(`scripts/ArtifactInstall_Enter_00_${i}`, bytes("#!/bin/sh\n")),
  );
  return [
    over("limit: a manifest over 1 MiB", { manifestBytes: new Uint8Array(MiB + 1).fill(0x0a) }),
    over("limit: a manifest.sig over 16 KiB", { signature: new Uint8Array(17 * 1024).fill(0x41) }),
    over("limit: a header member that declares 17 MiB", {
      arrange: (list) => take(list, 2),
      end: concatParts(tarEntry("header.tar.gz", new Uint8Array(17 * MiB)), new Uint8Array(1024)),
    }),
    over("limit: a header that expands beyond 16 MiB", {
      scripts: [{ name: "ArtifactInstall_Enter_00", body: new Uint8Array(17 * MiB) }],
    }),
    over("limit: header-info over 1 MiB", {
      headerInfo: { ...info, artifact_provides: { artifact_name: "x".repeat(MiB) } },
    }),
    over("limit: meta-data over 16 MiB", { metaData: json({ blob: "x".repeat(16 * MiB) }) }),
    over("limit: a state script over 4 MiB", {
      scripts: [{ name: "ArtifactInstall_Enter_00", body: new Uint8Array(5 * MiB) }],
    }),
    over(
      "limit: more than 1024 entries in the header",
      headerWith(infoEntry, ...manyScripts, typeEntry),
    ),
    over("limit: a payload file over --max-payload-size", {
      files: [{ name: "rootfs.img", body: new Uint8Array(4096) }],
    }, "payload").then((c) => ({ ...c, maxPayload: 1024 })),
    make("limit: a 300-character payload file name (PAX)", "UNSAFE_NAME", "payload", {
      dataEntries: [paxEntry({ path: "n".repeat(300) }), tarEntry("short", bytes("x"))],
    }),
    over("limit: meta-data nested 100000 levels deep", {
      metaData: bytes(`{"a":${"[".repeat(100000)}${"]".repeat(100000)}}`),
    }),
    over(
      "limit: a 300-character state script name (GNU long name)",
      headerWith(
        infoEntry,
        gnuLongName(`scripts/ArtifactInstall_Enter_00_${"n".repeat(275)}`),
        tarEntry("x", bytes("#!/bin/sh\n")),
        typeEntry,
      ),
    ),
    make("limit: a 300-character name in the manifest", "MANIFEST_INVALID", "open", {
      manifest: (lines) => lines.set(`data/0000/${"n".repeat(300)}`, sha256(bytes("x"))),
    }),
  ];
}

function concatParts(...parts: Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts));
}

function paths(s: Seeds): Promise<BadCase>[] {
  const file = bytes("evil\n");
  const payload = (name: string, ...entries: Uint8Array[]) =>
    make(`payload: ${name}`, "UNSAFE_NAME", "payload", { dataEntries: entries });
  const header = (name: string, code: string, ...entries: Uint8Array[]) =>
    make(`state script: ${name}`, code, "open", headerWith(infoEntry, ...entries, typeEntry));
  const list = members(s.gzip);
  const outer = (name: string, code: string, first: Uint8Array): BadCase => ({
    name: `outer tar: ${name}`,
    bytes: concatParts(first, pack(list.slice(1))),
    code,
    phase: "open",
  });
  return [
    payload("a name with '..'", tarEntry("../evil", file)),
    payload("an absolute name", tarEntry("/etc/passwd", file)),
    payload("a name with a directory", tarEntry("sub/rootfs.img", file)),
    payload("'..' through a PAX path", paxEntry({ path: "../../etc/shadow" }), tarEntry("x", file)),
    payload("'..' through a GNU long name", gnuLongName("../../etc/cron.d/x"), tarEntry("x", file)),
    payload("a symlink", tarEntry({ name: "rootfs.img", type: "2", linkname: "/etc/passwd" })),
    payload("a hard link", tarEntry({ name: "rootfs.img", type: "1", linkname: "/etc/passwd" })),
    payload("a directory", tarEntry({ name: "rootfs.img/", type: "5" })),
    payload("a character device", tarEntry({ name: "rootfs.img", type: "3" })),
    header(
      "a name with '..'",
      "UNSAFE_NAME",
      tarEntry("scripts/../ArtifactInstall_Enter_00", file),
    ),
    header(
      "a name with a path",
      "UNSAFE_NAME",
      tarEntry("scripts/ArtifactInstall_Enter_00/../../../etc/x", file),
    ),
    header(
      "an absolute name",
      "HEADER_INVALID",
      tarEntry("/scripts/ArtifactInstall_Enter_00", file),
    ),
    header(
      "a symlink",
      "UNSAFE_NAME",
      tarEntry({ name: "scripts/ArtifactInstall_Enter_00", type: "2", linkname: "/bin/sh" }),
    ),
    header(
      "a hard link",
      "UNSAFE_NAME",
      tarEntry({ name: "scripts/ArtifactInstall_Enter_00", type: "1", linkname: "/bin/sh" }),
    ),
    header(
      "a state an artifact may not carry (Idle)",
      "UNSAFE_NAME",
      tarEntry("scripts/Idle_Enter_00", file),
    ),
    header(
      "a bucket name with '..'",
      "HEADER_INVALID",
      tarEntry("headers/0000/../../../etc/passwd", file),
    ),
    Promise.resolve(
      outer(
        "a member named '../version'",
        "ARTIFACT_STRUCTURE",
        tarEntry("../version", at(list, 0).body),
      ),
    ),
    Promise.resolve(
      outer(
        "a member named '/version'",
        "ARTIFACT_STRUCTURE",
        tarEntry("/version", at(list, 0).body),
      ),
    ),
    Promise.resolve(
      outer(
        "version as a symlink",
        "UNSAFE_NAME",
        tarEntry({ name: "version", type: "2", linkname: "/etc/os-release" }),
      ),
    ),
    Promise.resolve(
      outer(
        "version as a hard link",
        "UNSAFE_NAME",
        tarEntry({ name: "version", type: "1", linkname: "/etc/os-release" }),
      ),
    ),
    Promise.resolve(outer("a directory", "UNSAFE_NAME", tarEntry({ name: "data/", type: "5" }))),
    Promise.resolve(outer(
      "a 300-character member name (GNU long name)",
      "ARTIFACT_STRUCTURE",
      concatParts(gnuLongName("v".repeat(300)), tarEntry("version", at(list, 0).body)),
    )),
  ];
}

function signatures(s: Seeds): Promise<BadCase>[] {
  const { rsa, ec, other } = s.keys;
  const sig = (name: string, code: string, recipe: Recipe, verify = [rsa]) =>
    make(`signature: ${name}`, code, "open", recipe, { verify });
  const signedList = members(s.gzipSigned);
  const otherHeader = at(members(s.gzip), 2).body;
  const manifest = new TextDecoder().decode(at(signedList, 1).body)
    .replace(/^[0-9a-f]{64}(?= {2}header\.tar\.gz$)/m, sha256(otherHeader));
  return [
    sig("made over other bytes", "SIGNATURE_INVALID", {
      signature: new TextEncoder().encode(
        Buffer.from(new Uint8Array(256).fill(3)).toString("base64"),
      ),
    }),
    sig("absent while a key is configured", "SIGNATURE_MISSING", {}),
    sig("by another RSA key", "SIGNATURE_INVALID", { signWith: other.signing }),
    sig("ECDSA, checked against an RSA key", "SIGNATURE_INVALID", { signWith: ec.signing }),
    sig("RSA, checked against an ECDSA key", "SIGNATURE_INVALID", { signWith: rsa.signing }, [ec]),
    sig("not base64", "SIGNATURE_INVALID", { signature: bytes("!!! not base64 !!!") }, [ec]),
    sig("ECDSA of a wrong length (63 bytes)", "SIGNATURE_INVALID", {
      signature: bytes(Buffer.from(new Uint8Array(63).fill(9)).toString("base64")),
    }, [ec]),
    Promise.resolve({
      name: "signature: a compromised manifest (header swapped, its checksum updated)",
      bytes: pack(
        replaceMember(
          replaceMember(signedList, "manifest", bytes(manifest)),
          "header.tar.gz",
          otherHeader,
        ),
      ),
      code: "SIGNATURE_INVALID",
      phase: "open",
      verify: [rsa],
    }),
    Promise.resolve({
      name: "signature: a real ECDSA-signed artifact checked against an RSA key",
      bytes: s.gzipEc,
      code: "SIGNATURE_INVALID",
      phase: "open",
      verify: [rsa],
    }),
  ];
}

function manifests(): Promise<BadCase>[] {
  const two = [
    { name: "f1.txt", body: bytes("one\n") },
    { name: "f2.txt", body: bytes("two\n") },
  ];
  return [
    make("manifest: a payload file it does not list", "MANIFEST_MISMATCH", "payload", {
      dataEntries: [
        tarEntry("rootfs.img", bytes("a small root fs\n")),
        tarEntry("extra.bin", bytes("x")),
      ],
    }),
    make("manifest: an entry without a payload file", "MANIFEST_MISMATCH", "payload", {
      headerInfo: { ...info, payloads: [{ type: "app" }] },
      typeInfo: { type: "app" },
      files: two,
      dataEntries: [tarEntry("f1.txt", at(two, 0).body)],
    }),
    make("manifest: no line for the header", "MANIFEST_MISMATCH", "open", {
      manifest: (lines) => lines.delete("header.tar.gz"),
    }),
    make("manifest: no line for version", "MANIFEST_MISMATCH", "open", {
      manifest: (lines) => lines.delete("version"),
    }),
    make("manifest: the same name twice", "MANIFEST_INVALID", "open", {
      manifestBytes: bytes(`${sha256(bytes("x"))}  version\n${sha256(bytes("y"))}  version\n`),
    }),
    make("manifest: CRLF line ends", "MANIFEST_INVALID", "open", {
      manifestBytes: bytes(`${sha256(bytes("x"))}  version\r\n`),
    }),
    make("payload: the same file twice", "ARTIFACT_STRUCTURE", "payload", {
      dataEntries: [
        tarEntry("rootfs.img", bytes("a small root fs\n")),
        tarEntry("rootfs.img", bytes("a small root fs\n")),
      ],
    }),
  ];
}

function typeInfos(): Promise<BadCase>[] {
  const bad = (name: string, ...entries: Uint8Array[]) =>
    make(`header: ${name}`, "HEADER_INVALID", "open", headerWith(...entries));
  const meta = tarEntry("headers/0000/meta-data", json({ a: 1 }));
  return [
    bad("no type-info", infoEntry),
    bad(
      "an extra type-info (headers/0001)",
      infoEntry,
      typeEntry,
      tarEntry("headers/0001/type-info", json(typeInfo)),
    ),
    bad("type-info twice", infoEntry, typeEntry, typeEntry),
    bad("meta-data before type-info", infoEntry, meta, typeEntry),
    bad("no header-info", typeEntry),
    bad(
      "header-info after a script",
      tarEntry("scripts/ArtifactInstall_Enter_00", bytes("#!/bin/sh\n")),
      infoEntry,
      typeEntry,
    ),
    bad("an unknown entry", infoEntry, typeEntry, tarEntry("headers/0000/notes", bytes("hi"))),
    bad(
      "its tar's header checksum is wrong",
      tarEntry({ name: "header-info", badChecksum: true }, json(info)),
      typeEntry,
    ),
    bad(
      "two payloads",
      tarEntry("header-info", json({ ...info, payloads: [{ type: "a" }, { type: "b" }] })),
      typeEntry,
      tarEntry("headers/0001/type-info", json(typeInfo)),
    ),
    bad(
      "an empty payload with meta-data",
      tarEntry("header-info", json({ ...info, payloads: [{ type: null }] })),
      tarEntry("headers/0000/type-info", json({ type: null })),
      meta,
    ),
  ];
}

export async function contentCases(s: Seeds): Promise<BadCase[]> {
  return await Promise.all([
    ...versions(s),
    ...jsonCases(),
    ...limits(),
    ...paths(s),
    ...signatures(s),
    ...manifests(),
    ...typeInfos(),
    make("state script: a valid one, after the payload headers", "HEADER_INVALID", "open", {
      headerEntries: [
        infoEntry,
        typeEntry,
        tarEntry("scripts/ArtifactInstall_Enter_00", bytes("#!/bin/sh\n")),
      ],
    }),
  ]);
}
