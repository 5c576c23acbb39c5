/**
 * Broken artifacts, part three: real ones that `mender-artifact` wrote, edited with Python's
 * tarfile (test/helpers/artifact_edit.py), or written by it with fields it lets through. Each
 * case records what `mender-artifact validate` does with the same bytes: tar entries that
 * are not plain files (sparse, multi-volume, unknown types, in the payload, the header and
 * the outer tar), fields that would break what ota prints, and manifests that name members
 * the artifact does not hold.
 */
import type { BadCase } from "./case.ts";
import { sha256 } from "./craft.ts";
import { editArtifact, type EditOp } from "../helpers/artifact_edit.ts";
import { sh } from "../helpers/mod.ts";
import type { Seeds } from "./seeds.ts";

type Case = Omit<BadCase, "bytes"> & { seed: Uint8Array; ops: EditOp[] };

const data = (member: string) => ({ where: "data" as const, member });
const header = (member: string) => ({ where: "header" as const, member });
const outer = (member: string) => ({ where: "outer" as const, member });
const unsupported = { code: "TAR_TYPE_UNSUPPORTED" };

/** Point: entries ota does not implement as plain files are refused, never read as stored. */
function tarTypes(s: Seeds): Case[] {
  const rootfs = data("rootfs.img");
  const payload = (name: string, ops: EditOp[], mender: BadCase["mender"], seed = s.gzip) => ({
    name: `tar type: ${name}`,
    seed,
    ops,
    ...unsupported,
    phase: "payload" as const,
    mender,
  });
  const open = (name: string, ops: EditOp[], seed = s.gzip) => ({
    name: `tar type: ${name}`,
    seed,
    ops,
    ...unsupported,
    phase: "open" as const,
    mender: "accepts" as const,
  });
  const sparse = (format: "gnu" | "pax-0.0" | "pax-0.1" | "pax-1.0", checksum = "expanded") => ({
    op: "sparse" as const,
    format,
    checksum: checksum as "expanded" | "stored",
  });
  const flag = (typeflag: string) => ({ op: "typeflag" as const, typeflag });
  return [
    // mender-artifact expands sparse files; the manifest holds the content's checksum.
    payload("the payload file as a GNU sparse file", [{ ...sparse("gnu"), ...rootfs }], "accepts"),
    // What ota installed before: the stored bytes, which the manifest vouches for here.
    payload(
      "GNU sparse, the manifest vouching for its stored bytes",
      [{ ...sparse("gnu", "stored"), ...rootfs }],
      "refuses",
    ),
    payload("PAX sparse 0.0", [{ ...sparse("pax-0.0"), ...rootfs }], "accepts"),
    payload("PAX sparse 0.1", [{ ...sparse("pax-0.1"), ...rootfs }], "accepts"),
    payload("PAX sparse 1.0", [{ ...sparse("pax-1.0"), ...rootfs }], "accepts"),
    payload(
      "PAX sparse 1.0, the manifest vouching for its stored bytes",
      [{ ...sparse("pax-1.0", "stored"), ...rootfs }],
      "refuses",
    ),
    payload("GNU sparse in an xz payload", [{ ...sparse("gnu"), ...rootfs }], "accepts", s.xz),
    payload(
      "a module's second file as PAX sparse 0.1",
      [{ ...sparse("pax-0.1"), ...data("f2.bin") }],
      "accepts",
      s.module,
    ),
    // mender-artifact takes the stored bytes of these for the content.
    payload("a multi-volume continuation (M)", [{ ...flag("M"), ...rootfs }], "accepts"),
    payload("a GNU volume label (V)", [{ ...flag("V"), ...rootfs }], "accepts"),
    payload("a contiguous file (7)", [{ ...flag("7"), ...rootfs }], "accepts"),
    payload("a type no tar defines (Z)", [{ ...flag("Z"), ...rootfs }], "accepts"),
    open("type-info of type 7", [{ ...flag("7"), ...header("headers/0000/type-info") }]),
    open("header-info as a GNU sparse file", [{ ...sparse("gnu"), ...header("header-info") }]),
    {
      ...open("a state script of type M (signed again)", [
        { ...flag("M"), ...header("scripts/ArtifactInstall_Enter_00_check") },
        { op: "sign", key: s.keys.rsa.pair.private },
      ], s.gzipSigned),
      verify: [s.keys.rsa],
    },
    open("the version member of type Z", [{ ...flag("Z"), ...outer("version") }]),
    open("the version member as a GNU sparse file", [{ ...sparse("gnu"), ...outer("version") }]),
    open("the header member as PAX sparse 1.0", [{
      ...sparse("pax-1.0"),
      ...outer("header.tar.gz"),
    }]),
    open("the data member of type M", [{ ...flag("M"), ...outer("data/0000.tar.gz") }]),
  ];
}

const headerInfo = "header-info";
const typeInfo = "headers/0000/type-info";
const json = (member: string, path: string[], value: unknown): EditOp => ({
  op: "json",
  member,
  path,
  value,
});

/** Point: names, device types, provides and depends stay printable one a line. */
function fields(s: Seeds): Case[] {
  const field = (name: string, ops: EditOp[], seed = s.module): Case => ({
    name: `field: ${name}`,
    seed,
    ops,
    code: "ARTIFACT_FIELD_INVALID",
    phase: "open",
    mender: "accepts",
  });
  return [
    field("a NUL in a provides value", [json(typeInfo, ["artifact_provides", "k"], "a\u0000b")]),
    field("an ESC in a provides key", [json(typeInfo, ["artifact_provides", "k\u001b[2J"], "v")]),
    field("a NUL in the artifact name", [
      json(headerInfo, ["artifact_provides", "artifact_name"], "rel\u0000-1"),
    ]),
    field("a C1 control (CSI) in a depends value", [
      json(typeInfo, ["artifact_depends", "k"], "a\u009bb"),
    ]),
    field("a DEL in a depends key", [json(typeInfo, ["artifact_depends", "k\u007f"], "v")]),
    field("a tab in a device type", [
      json(headerInfo, ["artifact_depends", "device_type"], ["dev\ta"]),
    ], s.gzip),
  ];
}

/** The same kind, written by mender-artifact itself: it takes these fields as given. */
async function writtenFields(s: Seeds): Promise<BadCase[]> {
  const cases: [string, string[]][] = [
    ["a newline in a provides value", ["-p", "app.note:one\nforged=1"]],
    ["'=' in a provides key", ["-p", "app=x:1"]],
    ["a newline in the artifact name", ["-n", "app-1\nartifact_name=other"]],
    ["an ESC in a device type", ["-t", "dev-\u001b[31ma"]],
    ["a DEL in the provided group", ["-g", "group\u007f"]],
    ["a newline in an artifact name depended on", ["-N", "rel-1\nrel-2"]],
  ];
  const out: BadCase[] = [];
  for (const [i, [name, args]] of cases.entries()) {
    const path = `${s.dir}/field-${i}.mender`;
    const given = new Set(args.filter((a) => a.startsWith("-")));
    await sh([
      "mender-artifact",
      "write",
      "module-image",
      "-T",
      "app",
      "-f",
      `${s.dir}/f1.txt`,
      "-o",
      path,
      ...(given.has("-n") ? [] : ["-n", "app-1"]),
      ...(given.has("-t") ? [] : ["-t", "dev-a"]),
      ...args,
    ]);
    out.push({
      name: `field (written by mender-artifact): ${name}`,
      bytes: await Deno.readFile(path),
      code: "ARTIFACT_FIELD_INVALID",
      phase: "open",
      mender: "accepts",
    });
  }
  return out;
}

/** Point: validate is as strict as mender-artifact on the manifest and payload structure. */
function structure(s: Seeds): Case[] {
  const listed = (name: string) => ({
    op: "manifest" as const,
    add: [[name, sha256(new Uint8Array())]] as [string, string][],
  });
  const mismatch = (name: string, what: string, code: string, seed = s.gzip): Case => ({
    name: `manifest: ${what}`,
    seed,
    ops: [listed(name)],
    code,
    phase: "open",
    mender: "refuses",
  });
  const f1 = sha256(new TextEncoder().encode("other\n"));
  return [
    mismatch("header-augment.tar.gz", "a header-augment that is not there", "MANIFEST_MISMATCH"),
    mismatch("notes.txt", "a member that is not there", "MANIFEST_MISMATCH"),
    mismatch("data/0001/x.bin", "a file of a payload that is not there", "MANIFEST_MISMATCH"),
    mismatch("manifest.sig", "manifest.sig (unsigned)", "MANIFEST_INVALID"),
    {
      ...mismatch("manifest.sig", "manifest.sig (signed again)", "MANIFEST_INVALID", s.gzipSigned),
      ops: [listed("manifest.sig"), { op: "sign", key: s.keys.rsa.pair.private }],
      verify: [s.keys.rsa],
    },
    mismatch("manifest", "the manifest itself", "MANIFEST_INVALID"),
    {
      name: "manifest-augment: the signed manifest's payload file again, another checksum",
      seed: s.augmented,
      ops: [{ op: "manifest", member: "manifest-augment", add: [["data/0000/f1.txt", f1]] }],
      code: "MANIFEST_INVALID",
      phase: "open",
      mender: "refuses",
    },
    {
      name: "empty payload: its data holds a file the manifest lists",
      seed: s.bootstrap,
      ops: [{ op: "data-add", name: "x.bin", text: "abc", listed: true }],
      code: "ARTIFACT_STRUCTURE",
      phase: "open",
      mender: "refuses",
    },
    {
      name: "empty payload: its data holds a file the manifest does not list",
      seed: s.bootstrap,
      ops: [{ op: "data-add", name: "x.bin", text: "abc" }],
      code: "ARTIFACT_STRUCTURE",
      phase: "payload",
      mender: "refuses",
    },
    {
      name: "rootfs-image: a second file, listed",
      seed: s.gzip,
      ops: [{ op: "data-add", name: "second.img", text: "two", listed: true }],
      code: "ARTIFACT_STRUCTURE",
      phase: "open",
      mender: "refuses",
    },
  ];
}

export async function editedCases(s: Seeds): Promise<BadCase[]> {
  const cases = [...tarTypes(s), ...fields(s), ...structure(s)];
  const edited: BadCase[] = [];
  for (const { seed, ops, ...c } of cases) {
    edited.push({ ...c, bytes: (await editArtifact(s.dir, seed, ops)).bytes });
  }
  return [...edited, ...await writtenFields(s)];
}
